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
_JEQ_K = 0x05 | 0x10 | 0x00
_RET_K = 0x06
_SKF_AD_RANDOM = (-0x1000 + 56) & 0xFFFFFFFF


class _Insn(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    ]


def program(targets: list[int]) -> ctypes.Array:
    """A cBPF program returning one of `targets` (socket indices) at random."""
    insns = [(_LD_W_ABS, 0, 0, _SKF_AD_RANDOM), (_ALU_MOD_K, 0, 0, len(targets))]
    for choice, index in enumerate(targets):
        insns.append((_JEQ_K, 0, 1, choice))
        insns.append((_RET_K, 0, 0, index))
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
    """Our listeners of one port, in the kernel's order, and what the attached program sends
    connections to (`chosen`; None while no program is attached: the kernel's hash over all).

    Two moments would hand a connection to a listener nobody meant it for: a new listener
    joins the group at listen() and the kernel's hash may pick it before the next steer()
    (admit() is called before listen() to leave it out); and a closing listener's place goes
    to the last one (remove(), called before close, keeps the program to places that hold an
    allowed listener both before and after; where no place does, the microseconds until the
    next steer() are left to the old program)."""

    def __init__(self) -> None:
        self.members: list[socket.socket] = []
        self.attached = False
        self.broken = False  # the kernel refused a program: stop trying
        self.chosen: set[socket.socket] | None = None

    def admit(self) -> None:
        """Call before a new listener's listen(): until the next steer(), it gets nothing."""
        if self.broken or not self.members:
            return
        chosen = self.chosen if self.chosen is not None else set(self.members)
        self._attach([i for i, sock in enumerate(self.members) if sock in chosen])

    def add(self, sock: socket.socket) -> None:
        """Call after listen(): the kernel appended it."""
        self.members.append(sock)

    def remove(self, sock: socket.socket) -> None:
        """Call just before closing sock."""
        before = list(self.members)
        index = self.members.index(sock)
        last = self.members.pop()
        if index < len(self.members):
            self.members[index] = last
        if self.attached and not self.broken and self.members:
            allowed = (self.chosen if self.chosen is not None else set(before)) - {sock}
            safe = [
                i
                for i in range(len(self.members))
                if before[i] in allowed and self.members[i] in allowed
            ]
            if safe:
                self._attach(safe, via=before[0])

    def steer(self, serving: Collection[socket.socket]) -> None:
        """Send new connections only to `serving` (all of them when it is empty or full)."""
        if self.broken or not self.members:
            return
        targets = [i for i, sock in enumerate(self.members) if sock in serving]
        if not targets or len(targets) == len(self.members):
            if self.attached:
                try:
                    self.members[0].setsockopt(socket.SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0)
                except OSError as exc:
                    self._broke(exc)
                    return
                self.attached = False
            self.chosen = None
            return
        self._attach(targets)

    def _attach(self, targets: list[int], via: socket.socket | None = None) -> None:
        if not targets:
            return
        code = program(targets)
        fprog = struct.pack("@HP", len(code), ctypes.addressof(code))
        try:
            (via or self.members[0]).setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)
        except OSError as exc:
            self._broke(exc)
            return
        self.attached = True
        self.chosen = {self.members[i] for i in targets if i < len(self.members)}

    def _broke(self, exc: OSError) -> None:
        log.warning("cannot steer connections (%s); the kernel's hash decides", exc)
        self.broken = True
