"""The last output of each type in memory, for `logs -n` without reading files: a bounded
deque of chunks per type, and for each type the time up to which it no longer holds every
line (so a `--since` query knows whether memory can answer it alone)."""

from __future__ import annotations

import time
from collections import deque

from procman.daemon.logfiles import Line, LogQuery

TAIL_BYTES = 256 * 1024  # per type, for `logs -n`
TAIL_BLOCK = 32 * 1024  # of a big chunk only its end is kept for the tail

#: (time, id, stream, block of whole lines)
Item = tuple[float, str, str, bytes]


def split_lines(block: bytes) -> list[str]:
    """The lines of a block that ends in a newline, split at newlines only (as in the log
    file; str.splitlines would also split at \\r, form feeds and friends)."""
    return block.decode(errors="replace").split("\n")[:-1]


class Tails:
    def __init__(self) -> None:
        self.blocks: dict[str, deque[Item]] = {}
        self._sizes: dict[str, int] = {}
        # per type: memory holds every line newer than this (older ones were let go, or
        # were written before this daemon started)
        self.started = time.time()
        self._horizons: dict[str, float] = {}

    def remember(self, type_name: str, item: Item) -> None:
        now, label, stream, block = item
        if len(block) > TAIL_BLOCK:
            cut = block.find(b"\n", len(block) - TAIL_BLOCK)
            block = block[cut + 1 :]
            item = (now, label, stream, block)
            self._lost(type_name, now)
        tail = self.blocks.setdefault(type_name, deque())
        tail.append(item)
        size = self._sizes.get(type_name, 0) + len(block)
        while size > TAIL_BYTES and len(tail) > 1:
            old = tail.popleft()
            size -= len(old[3])
            self._lost(type_name, old[0])
        self._sizes[type_name] = size

    def _lost(self, type_name: str, when: float) -> None:
        """Memory no longer holds every line of type_name up to `when`."""
        if when > self._horizons.get(type_name, self.started):
            self._horizons[type_name] = when

    def holds_since(self, names: list[str], since: float) -> bool:
        """Whether memory has every line of these types from `since` on."""
        return all(since > self._horizons.get(name, self.started) for name in names)

    def drop(self, type_name: str) -> None:
        self.blocks.pop(type_name, None)
        self._sizes.pop(type_name, None)

    def lines(self, query: LogQuery) -> list[Line]:
        """The lines `query` asks for that memory holds, merged across types in time order."""
        count, label, stream, since = query.count, query.label, query.stream, query.since
        type_name = query.type_of
        picked: list[tuple[float, int, str, str, str]] = []
        seq = 0
        for name, blocks in self.blocks.items():
            if type_name is not None and name != type_name:
                continue
            found = 0
            for now, lab, std, block in reversed(blocks):
                if since is not None and now < since:
                    break
                if (label is not None and lab != label) or (stream is not None and std != stream):
                    continue
                for text in reversed(split_lines(block)):
                    seq -= 1
                    picked.append((now, seq, lab, text, std))
                    found += 1
                    if found >= count:
                        break
                if found >= count:
                    break
        if not count:
            return []
        picked.sort()
        return [(now, lab, text, std) for now, _, lab, text, std in picked[-count:]]
