"""A port an instance could not bind, found from facts rather than guessed: the instance
exited early, one of its last output lines says the address is in use (EADDRINUSE, in the
words of Node, Python, gunicorn, Go or Ruby), and psutil and the daemon's own listeners say
who holds the port. The result is a plain dict for status rows and outcomes: the port, the
holder, the fix, and the line the instance printed.

Readiness through a held socket says nothing about one process (the daemon's listener
accepts at once), so a server that ignores fd 3 and binds $PORT itself would be `running`
until it dies a moment later. So before a start, scale or restart answers, settle() waits
until each new instance of such a type is idle: every process of it asleep and no CPU used
between two looks 50 ms apart, which a server is once it waits for connections and a
process that is still loading, or failing, is not (within min_uptime at most). A fixed
window would cost every start its length and still be too short on a loaded machine.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from procman.daemon.instance import Instance
from procman.daemon.listeners import HeldSockets, listening_pids, process_name
from procman.daemon.readiness import ready_at_spawn
from procman.model import InstanceState, ProcessType

IN_USE = re.compile(r"address already in use|address in use|connection in use|eaddrinuse", re.I)
WORDS = re.compile(r"address already in use|address in use|connection in use", re.I)
TAIL_LINES = 60  # of the instance's last output, where the bind error must be
# the port in an error line, where the environment gave none: `0.0.0.0:8000`, `('::', 8000)`
PORT_IN_LINE = re.compile(r"(?::|', |port[ =:]\s*)(\d{2,5})\b")

FIX_TAKE_FD3 = (
    "serve the listener procman passes on fd 3 instead of binding $PORT (LISTEN_FDS: "
    "gunicorn and puma read it themselves, uvicorn --fd 3, hypercorn --bind fd://3, "
    "Node listen({fd: 3})), or let the app bind the port itself: `socket: false` in "
    "procman.yaml, no --share for a Procfile type (see docs/servers.md)"
)
FIX_SIBLING = (
    "its instances each bind the same port themselves: let procman hold it and pass it on "
    "fd 3 (`--share {type}` for a Procfile type, `socket: true` in procman.yaml), or bind "
    "with SO_REUSEPORT (gunicorn --reuse-port)"
)
FIX_OTHER = "stop it, or give {type} another port (-p/--port for a Procfile, `port:` in YAML)"

IDLE_POLL = 0.05  # seconds between two looks at an instance that is settling
IDLE_FLOOR = 0.1  # it is not settled before this uptime, however quiet
ASLEEP = frozenset({"sleeping", "idle", "zombie"})

Wait = Callable[..., Awaitable[bool]]  # waiters.Waiters.wait: (instances, done, timeout)


def bind_error(lines: list[str]) -> str | None:
    """The last line that says an address is in use, in words if one does (Node prints
    `Error: listen EADDRINUSE: address already in use 0.0.0.0:8000`, then `code: 'EADDRINUSE'`)."""
    found = [text.strip() for text in lines if IN_USE.search(text)]
    worded = [text for text in found if WORDS.search(text)]
    return (worded or found)[-1] if found else None


def early(inst: Instance) -> bool:
    """An exit worth diagnosing: not one we asked for, and before it was ever ready or
    within min_uptime."""
    if inst.state == InstanceState.STOPPING:
        return False
    return inst.state == InstanceState.STARTING or (inst.uptime() or 0.0) < inst.ptype.min_uptime


def port_of(env_port: str | None, ptype: ProcessType, line: str) -> int | None:
    if env_port and env_port.isdigit():
        return int(env_port)
    if ptype.port is not None:
        return ptype.port
    found = PORT_IN_LINE.findall(line)
    return int(found[-1]) if found else None


def diagnose(
    inst: Instance,
    line: str,
    port: int | None,
    held: HeldSockets,
    owner: Callable[[int], Instance | None],
) -> dict[str, Any]:
    """Who holds `port` now, and what to do about it."""
    found: dict[str, Any] = {"port": port, "line": line, "holder_pid": None}
    ours = sorted(str(i) for i, sock in held.socks.items() if _port(sock) == port)
    pids = listening_pids(port) if port is not None else []
    me = os.getpid()
    siblings: list[tuple[int, Instance]] = []
    strangers: list[int | None] = []
    for pid in pids:
        other = owner(pid) if pid is not None and pid != me else None
        if pid is not None and other is not None and other is not inst:
            siblings.append((pid, other))
        elif pid != me and other is None:
            strangers.append(pid)
    if port is None:
        found.update(holder="an unknown port", kind="unknown", fix=FIX_OTHER)
    elif ours:
        found.update(holder=f"procman's own listener (held for {', '.join(ours)})")
        found.update(kind="procman", holder_pid=me, fix=FIX_TAKE_FD3)
    elif siblings:
        pid, other = siblings[0]
        found.update(holder=f"{other.id} (pid {pid})", kind="sibling", holder_pid=pid)
        found["fix"] = FIX_SIBLING
    elif strangers:
        stranger = strangers[0]
        who = "another user's process"
        if stranger is not None:
            who = f"pid {stranger} ({process_name(stranger)})"
        found.update(holder=who, kind="other", holder_pid=stranger, fix=FIX_OTHER)
    else:
        found.update(holder="nothing now (whatever held it has gone)", kind="gone")
        found["fix"] = "start it again: `procman restart " + inst.ptype.name + "`"
    found["fix"] = found["fix"].replace("{type}", inst.ptype.name)
    return found


def _port(sock: Any) -> int | None:
    try:
        return sock.getsockname()[1]
    except OSError:
        return None


def describe(conflict: dict[str, Any]) -> str:
    """One line for status and outcomes."""
    return f"port {conflict['port']} is held by {conflict['holder']}; fix: {conflict['fix']}"


# -- the settle of start, scale and restart ---------------------------------------------------


def settle_cap(ptype: ProcessType) -> float:
    """How long a verb may wait for a new instance to settle: only where readiness says
    nothing (a held socket with `ready: port` or `none`), and min_uptime at most."""
    if not (ptype.socket and ptype.port and ready_at_spawn(ptype)):
        return 0.0
    return ptype.min_uptime


async def wait_up(
    wait: Wait,
    insts: list[Instance],
    done: Callable[[Instance], bool],
    timeout: float | None = None,
) -> bool:
    """The wait of start, scale and restart: until done(i) or a port conflict for every
    instance (or `timeout` seconds: waiters.bound), then the settle of those whose readiness
    says nothing; True if every one was done or conflicted in time."""
    finished = await wait(insts, lambda i: done(i) or conflicted(i), timeout)
    await settle(insts)
    return bool(finished)


async def settle(insts: list[Instance]) -> None:
    """Return once every young instance of such a type is idle, has hit a port conflict,
    has gone, or has been up its cap."""
    young = [
        i
        for i in insts
        if i.state == InstanceState.RUNNING and (i.uptime() or 0.0) < settle_cap(i.ptype)
    ]
    await asyncio.gather(*(_until_idle(i) for i in young))


async def _until_idle(inst: Instance) -> None:
    pid, cap, last = inst.pid, settle_cap(inst.ptype), None
    while inst.pid == pid and pid is not None and inst.state == InstanceState.RUNNING:
        uptime = inst.uptime() or 0.0
        if conflicted(inst) or uptime >= cap:
            return
        mark = idle_mark(pid)
        if mark is not None and mark == last and uptime >= IDLE_FLOOR:
            return
        last = mark
        await asyncio.sleep(IDLE_POLL)  # /proc has no event for "asleep": a probe polls


def idle_mark(pid: int) -> float | None:
    """CPU seconds used by pid and its descendants if every one of them is asleep, else
    None (running, runnable, in disk wait, or gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for proc in procs:
        try:
            with proc.oneshot():
                if proc.status() not in ASLEEP:
                    return None
                times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue  # a child that just exited
        except psutil.Error:
            return None
        total += times.user + times.system
    return total


def conflicted(inst: Instance) -> bool:
    return inst.port_conflict is not None
