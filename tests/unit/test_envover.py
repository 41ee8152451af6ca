"""An instance's environment kept as its changes over the daemon's shared base one: the
same mapping as the whole copy it replaced, for describe, env and the update hand-over."""

from __future__ import annotations

from procman.daemon.launcher import EnvOver
from procman.plain import to_plain

BASE = {"HOME": "/root", "PATH": "/usr/bin", "LANG": "C.UTF-8", "NOTIFY_SOCKET": "/run/x"}


def test_it_reads_as_the_environment_it_was_made_from() -> None:
    env = {**BASE, "PATH": "/opt/bin:/usr/bin", "PORT": "5000", "PS": "web.1"}
    del env["NOTIFY_SOCKET"]
    over = EnvOver(env, BASE)
    assert dict(over) == env and over == env and len(over) == len(env)
    assert over["PORT"] == "5000" and over["PATH"] == "/opt/bin:/usr/bin"
    assert over["HOME"] == "/root" and over.get("NOTIFY_SOCKET") is None
    assert "NOTIFY_SOCKET" not in over and sorted(over) == sorted(env)
    assert to_plain(over) == env  # what an update hands to the new image


def test_it_keeps_only_what_differs() -> None:
    over = EnvOver({**BASE, "PS": "web.1"}, BASE)
    assert over._own == {"PS": "web.1"} and not over._gone
