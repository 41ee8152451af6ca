"""psutil sampling: CPU % and RSS of each instance's whole process tree."""

from __future__ import annotations

import psutil


class Sampler:
    """Keeps psutil.Process objects between calls, so cpu_percent measures the interval."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def sample(self, roots: list[int]) -> dict[int, tuple[float | None, int | None]]:
        """{root pid: (cpu %, rss bytes)} counting each root's descendants."""
        wanted = set(roots)
        if not wanted:
            self._procs.clear()
            return {}
        children: dict[int, list[int]] = {}
        try:
            for proc in psutil.process_iter(["ppid"]):
                ppid = proc.info["ppid"]
                if ppid:
                    children.setdefault(ppid, []).append(proc.pid)
        except psutil.Error:
            pass
        seen: dict[int, psutil.Process] = {}
        out: dict[int, tuple[float | None, int | None]] = {}
        for root in roots:
            cpu = 0.0
            rss = 0
            ok = False
            stack = [root]
            while stack:
                pid = stack.pop()
                stack.extend(children.get(pid, ()))
                proc = self._procs.get(pid)
                try:
                    if proc is None:
                        proc = psutil.Process(pid)
                    with proc.oneshot():
                        cpu += proc.cpu_percent(None)
                        rss += proc.memory_info().rss
                    seen[pid] = proc
                    ok = True
                except psutil.Error:
                    continue
            out[root] = (round(cpu, 1), rss) if ok else (None, None)
        self._procs = seen
        return out
