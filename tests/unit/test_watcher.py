"""watch.Watcher on a real loop and real inotify in tmp_path (no processes): what reaches
`act`, what never does, and directories made after the watch began."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from procman.daemon.watch import Watcher
from procman.model import ProcessType


async def until(cond: Callable[[], object], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def run(tmp_path: Path, body: Callable[[Watcher, list[tuple[str, str]]], object]) -> None:
    async def main() -> None:
        acted: list[tuple[str, str]] = []
        said: list[str] = []
        loop = asyncio.get_running_loop()
        watcher = Watcher(
            loop, lambda name, why: acted.append((name, why)), said.append,
            root=str(tmp_path), skip=[str(tmp_path / "home")], quiet=0.01, longest=0.5,
        )  # fmt: skip
        try:
            await body(watcher, acted)  # type: ignore[misc]
        finally:
            watcher.close()
        assert said and said[0].endswith(" watched)")

    asyncio.run(main())


def tree(root: Path) -> None:
    for folder in ("src", "home/logs", "node_modules/x", "env/lib"):
        (root / folder).mkdir(parents=True)
    (root / "env" / "pyvenv.cfg").write_text("home = /usr\n")


def test_changes_that_count_and_changes_that_never_do(tmp_path: Path) -> None:
    tree(tmp_path)

    async def body(watcher: Watcher, acted: list[tuple[str, str]]) -> None:
        watcher.update([ProcessType("web", "x", watch=(str(tmp_path),))])
        assert watcher.watching and str(tmp_path / "node_modules") not in watcher.dirs.values()
        (tmp_path / "src" / "app.py").write_text("1\n")
        await until(lambda: acted)
        assert acted == [("web", "watch: src/app.py changed")]
        for path in ("home/state.json", "home/logs/web.log", "node_modules/x/i.js", "env/lib/a"):
            (tmp_path / path).write_text("1\n")
        (tmp_path / "sentinel.py").write_text("1\n")
        await until(lambda: len(acted) == 2)
        assert acted[1] == ("web", "watch: sentinel.py changed")
        watcher.update([ProcessType("web", "y", watch=(str(tmp_path),))])  # same rule
        assert watcher.watching

    run(tmp_path, body)


def test_directories_made_later_are_watched(tmp_path: Path) -> None:
    tree(tmp_path)

    async def body(watcher: Watcher, acted: list[tuple[str, str]]) -> None:
        watcher.update([ProcessType("web", "x", watch=(str(tmp_path / "src"),))])
        (tmp_path / "src" / "pkg" / "sub").mkdir(parents=True)
        await until(lambda: acted)
        await until(lambda: str(tmp_path / "src" / "pkg" / "sub") in watcher.dirs.values())
        (tmp_path / "src" / "pkg" / "sub" / "mod.py").write_text("1\n")
        await until(lambda: any("mod.py" in why for _name, why in acted))
        assert acted[-1] == ("web", "watch: src/pkg/sub/mod.py changed")
        watcher.update([])
        assert not watcher.watching

    run(tmp_path, body)
