"""A minimal inotify descriptor (Linux, through libc): add a watch, read the events.

Watch mode's doorbell: the loop waits on this descriptor with every other one, so a daemon
whose watched tree does not change spends no CPU on it at all. (watchfiles, which reports
the changes themselves, can only be asked by polling its Rust watcher every few
milliseconds; see watch.py for how the two work together.)
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterator

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x1000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
#: What watchfiles reports as a change (data, metadata, names), and nothing it does not
#: (opens, reads, closes), so a ring always has a change behind it.
CHANGES = IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
CHANGES |= IN_DELETE_SELF | IN_MOVE_SELF
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len


class Inotify:
    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"inotify_init1: {os.strerror(errno)}")
        self.fd = fd

    def add(self, path: str, mask: int = CHANGES) -> int:
        """The watch descriptor of path (the same one again for a path already watched)."""
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno), path)
        return int(wd)

    def read(self) -> Iterator[tuple[int, int, str]]:
        """(wd, mask, name) of every event queued now; nothing when none is."""
        while True:
            try:
                data = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return
            offset = 0
            while offset + _HEADER.size <= len(data):
                wd, mask, _cookie, size = _HEADER.unpack_from(data, offset)
                offset += _HEADER.size
                name = data[offset : offset + size].rstrip(b"\0")
                offset += size
                yield wd, mask, os.fsdecode(name)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
