"""watchfiles' own async API (awatch, default step) over a tree, idle until stdin closes:
what watch mode would cost a daemon if it ran awatch all the time. Prints "ready"."""

import asyncio
import sys

from watchfiles import awatch


async def main(root: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), stop.set)

    async def watch() -> None:
        async for _changes in awatch(root, stop_event=stop):
            pass

    task = asyncio.create_task(watch())
    await asyncio.sleep(0.5)  # the watcher has walked the tree
    print("ready", flush=True)
    await stop.wait()
    await task


asyncio.run(main(sys.argv[1]))
