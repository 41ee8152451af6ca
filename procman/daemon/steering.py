"""Steering new connections among the listeners of one port.

The kernel spreads new connections over every socket in a SO_REUSEPORT group. A slot whose
instance is down (crashed, stopping, scaled away) would still get its share: they wait in
its backlog, and when the slot's listener is closed they are reset, unless
net.ipv4.tcp_migrate_req is on. So procman attaches a classic BPF program to the group
(SO_ATTACH_REUSEPORT_CBPF) that picks, at random, one of the listeners whose instance is
running; with every instance running it detaches it and the kernel's own hash decides.

The program returns an index into the group's socket array. The kernel appends a socket at
listen() and, when one leaves, moves the last socket into its place: PortGroup mirrors that
order, which holds as long as every socket in the group is ours (start refuses a port that
another program listens on).
"""

from __future__ import annotations

import ctypes
import logging
import socket
import struct
from collections.abc import Collection

log = logging.getLogger("procman.steering")

SO_ATTACH_REUSEPORT_CBPF = 51
SO_DETACH_REUSEPORT_BPF = 68
TCP_INFO_UNACKED = 24  # offset of tcpi_unacked: the accept queue length of a listener

# classic BPF opcodes (linux/filter.h)
_LD_W_ABS = 0x00 | 0x00 | 0x20
_ALU_MOD_K = 0x04 | 0x90 | 0x00
_ALU_ADD_K = 0x04 | 0x00 | 0x00
_JGE_K = 0x05 | 0x30 | 0x00
_RET_K = 0x06
_RET_A = 0x06 | 0x10
_SKF_AD_RANDOM = (-0x1000 + 56) & 0xFFFFFFFF
MAX_INSNS = 4096  # BPF_MAXINSNS: the kernel refuses a longer program


class _Insn(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    ]


def runs(targets: list[int]) -> list[tuple[int, int]]:
    """targets (ascending socket indices) as (first index, length) runs of neighbours."""
    out: list[tuple[int, int]] = []
    for index in targets:
        if out and out[-1][0] + out[-1][1] == index:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((index, 1))
    return out


def program(targets: list[int]) -> ctypes.Array:
    """A cBPF program returning one of `targets` (ascending socket indices) at random.

    choice = random % len(targets), then one step per run of neighbouring indices: if
    choice falls in the run, return the run's first index + choice's offset in it. Three
    instructions per run, not per target: 1,000 running slots with one stopped are two
    runs, a program of 9 instructions, however many slots there are."""
    insns = [(_LD_W_ABS, 0, 0, _SKF_AD_RANDOM), (_ALU_MOD_K, 0, 0, len(targets))]
    seen = 0
    for first, length in runs(targets):
        insns.append((_JGE_K, 2, 0, seen + length))  # past this run: the next one
        insns.append((_ALU_ADD_K, 0, 0, (first - seen) & 0xFFFFFFFF))
        insns.append((_RET_A, 0, 0, 0))
        seen += length
    insns.append((_RET_K, 0, 0, targets[0]))
    return (_Insn * len(insns))(*(_Insn(*insn) for insn in insns))


def queued(sock: socket.socket) -> int:
    """Connections waiting in a listener's accept queue."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except OSError:
        return 0
    return struct.unpack_from("I", info, TCP_INFO_UNACKED)[0]


class PortGroup:
    """Our listeners of one port, in the kernel's order, and the program attached to them
    (`targets`: the indices it picks from; None while the kernel's own hash decides).

    Two moments would hand a connection to a listener nobody meant it for: a new listener
    joins the group at listen(), and the kernel's hash may pick it before the next steer()
    (admit(), called before listen(), leaves it out); and a closing listener's place goes to
    the last one (remove() re-aims the program around the move before and after the close)."""

    def __init__(self) -> None:
        self.members: list[socket.socket] = []
        self.position: dict[socket.socket, int] = {}
        self.targets: list[int] | None = None
        self.broken = False  # the kernel refused a program: stop trying

    def admit(self) -> None:
        """Call before a new listener's listen(): the kernel's hash may pick a socket the
        moment it joins the group, before the next steer() (a reload's replacement, not
        ready, once answered a request so). With the kernel's hash on, a program over the
        members so far leaves the newcomer out; an attached program already does."""
        if self.broken or not self.members or self.targets is not None:
            return
        self._aim(list(range(len(self.members))), members=len(self.members) + 1)

    @property
    def attached(self) -> bool:
        return self.targets is not None

    @attached.setter
    def attached(self, on: bool) -> None:
        """An updated daemon's new image (handover.py) knows only that a program is on:
        its targets unknown, so the next steer attaches the right one (or detaches)."""
        self.targets = [-1] if on else None

    def add(self, sock: socket.socket) -> None:
        """Call just after listen(): the kernel appends the socket (indices stay put, so an
        attached program stays right; it just leaves the new socket out)."""
        self.position[sock] = len(self.members)
        self.members.append(sock)

    def remove(self, sock: socket.socket) -> None:
        """Take sock out of the group and close it. The kernel moves its last socket into
        the hole, so an attached program is re-aimed here, from its own targets: first
        (if needed) at targets whose index is the same in both orders, then, once sock is
        closed, at the new order. No connection is picked by a stale index meanwhile."""
        index = self.position.pop(sock)
        last = self.members.pop()
        moved = len(self.members)  # the index `last` had
        if index < moved:
            self.members[index] = last
            self.position[last] = index
        old = self.targets
        if old is not None and (index in old or (index < moved and moved in old)):
            steady = [t for t in old if t not in (index, moved)]
            if steady:  # else the old program stays on for the moment of the close
                self._aim(steady, members=moved + 1)
        sock.close()
        if old is not None:
            self._aim(sorted(index if t == moved else t for t in old if t != index))

    def steer(self, serving: Collection[socket.socket]) -> None:
        """Send new connections only to `serving` (all of them when it is empty or full)."""
        position = self.position
        self._aim(sorted(position[s] for s in serving if s in position))

    def _aim(self, targets: list[int], members: int | None = None) -> None:
        """Attach the program for targets; detach when they are none or every member
        (`members`: how many sockets the kernel's group has, if not len(self.members))."""
        if self.broken or not self.members:
            return
        try:
            if not targets or len(targets) == (members or len(self.members)):
                if self.targets is not None:
                    self.members[0].setsockopt(socket.SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0)
                    self.targets = None
                return
            if targets == self.targets:
                return
            code = program(targets)
            if len(code) > MAX_INSNS:
                raise OSError(f"{len(runs(targets))} separate runs of listeners to steer to")
            fprog = struct.pack("@HP", len(code), ctypes.addressof(code))
            self.members[0].setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)
            self.targets = targets
        except OSError as exc:
            log.warning("cannot steer connections (%s); the kernel's hash decides", exc)
            self.broken = True
