"""psutil sampling: CPU % and RSS of each instance's whole process tree.

Descendants are found through /proc/<pid>/task/<tid>/children, a read per process of the
tree, instead of psutil's scan of every process on the machine: `status` stays cheap on a
busy box.
"""

from __future__ import annotations

import os

import psutil


def children(pid: int) -> list[int]:
    """Direct children of pid (every thread's), [] if it is gone."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return _children_psutil(pid)
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                found.extend(int(word) for word in fh.read().split())
        except FileNotFoundError:
            if tid == str(pid):  # kernel without CONFIG_PROC_CHILDREN
                return _children_psutil(pid)
        except OSError:
            continue
    return found


def _children_psutil(pid: int) -> list[int]:
    try:
        return [p.pid for p in psutil.Process(pid).children()]
    except psutil.Error:
        return []


class Sampler:
    """Keeps psutil.Process objects between calls, so cpu_percent measures the interval."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def sample(self, roots: list[int]) -> dict[int, tuple[float | None, int | None]]:
        """{root pid: (cpu %, rss bytes)} counting each root's descendants."""
        seen: dict[int, psutil.Process] = {}
        out: dict[int, tuple[float | None, int | None]] = {}
        for root in roots:
            cpu = 0.0
            rss = 0
            ok = False
            stack = [root]
            while stack:
                pid = stack.pop()
                proc = self._procs.get(pid)
                try:
                    if proc is None:
                        proc = psutil.Process(pid)
                    with proc.oneshot():
                        cpu += proc.cpu_percent(None)
                        rss += proc.memory_info().rss
                except psutil.Error:
                    continue
                seen[pid] = proc
                ok = True
                stack.extend(children(pid))
            out[root] = (round(cpu, 1), rss) if ok else (None, None)
        self._procs = seen
        return out
