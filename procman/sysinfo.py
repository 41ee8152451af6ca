"""Kernel facts that decide what a stop or scale-down can lose (stdlib only)."""

from __future__ import annotations

MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req"


def tcp_migrate_req() -> bool | None:
    """net.ipv4.tcp_migrate_req (Linux 5.14+): a closing listener hands its queued
    connections to another socket of its SO_REUSEPORT group. None when unknown."""
    try:
        with open(MIGRATE_REQ) as fh:
            return fh.read().strip() == "1"
    except OSError:
        return None
