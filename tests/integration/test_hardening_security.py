"""Hardening (issue 6): who may talk to the daemon, what it shows of secrets, and the control
protocol under attack (docs/protocol.md, docs/reliability.md)."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from procman.cli.client import Client
from procman.protocol import MAX_LINE, METHODS
from tests.harness import PROGRAMS, PY, Harness, wait_until

MiB = 1 << 20
NOBODY = 65534
ERROR_CODES = {
    "bad_request",
    "unknown_method",
    "bad_params",
    "config",
    "not_found",
    "port_in_use",
    "spawn",
    "failed",
    "shutting_down",
}  # docs/protocol.md; `internal` means a bug, so it is never an acceptable answer
ATTACK_EXAMPLES = 60
FD_SLACK = 2
RSS_BOUND = 30 * MiB

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root to fork a child that switches to another uid"
)


def sleeper_yaml() -> str:
    return f"processes:\n  sleeper:\n    cmd: {PY} {PROGRAMS / 'printenv.py'}\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- talking to the socket ---------------------------------------------------------------------


@dataclass
class Exchange:
    """What one connection saw: did it connect, the reply lines, and how it ended."""

    connect: str  # "ok" or an errno name
    replies: list[Any]
    end: str  # "eof", "reset", "timeout"; "hangup" when not read; "" when not connected
    raw: bytes = b""


def exchange(path: Path, payload: bytes, read: bool = True, timeout: float = 10.0) -> Exchange:
    """Connect, send payload, then either hang up at once (read=False) or half-close and
    read every reply until the daemon closes."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except OSError as exc:
            return Exchange(errno.errorcode.get(exc.errno or 0, str(exc)), [], "")
        try:
            if payload:
                sock.sendall(payload)
            if not read:
                return Exchange("ok", [], "hangup")
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may close first (a refused peer); what it sent is still there
        received, end = b"", "eof"
        try:
            while True:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            end = "reset"
        except TimeoutError:
            end = "timeout"
        lines = [line for line in received.split(b"\n") if line]
        replies: list[Any] = []
        for line in lines:
            try:
                replies.append(json.loads(line))
            except (ValueError, RecursionError):
                replies.append(("not JSON", line[:200]))
        return Exchange("ok", replies, end, received)
    finally:
        sock.close()


def as_uid(uid: int, cwd: Path, action: Callable[[], Exchange]) -> Exchange:
    """Run action in a forked child that has moved to cwd and dropped to uid/gid; its
    Exchange comes back as JSON on a pipe. The child never returns into pytest.

    The child connects by a path relative to cwd, so that only the socket's own directory
    decides, whatever the modes of its ancestors (/tmp is not always 1777)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        outcome: dict[str, Any]
        try:
            os.close(read_end)
            os.chdir(cwd)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            seen = action()
            outcome = {"connect": seen.connect, "replies": seen.replies, "end": seen.end}
        except BaseException as exc:  # report, never raise into the forked pytest
            outcome = {"connect": f"child failed: {exc!r}", "replies": [], "end": ""}
        finally:
            try:
                os.write(write_end, json.dumps(outcome, default=repr).encode())
            finally:
                os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    got = json.loads(data)
    return Exchange(got["connect"], got["replies"], got["end"])


def use_socket(pm: Harness, path: Path) -> None:
    """Point the harness (CLI env, client, leftover finder) at another socket path."""
    pm.sock = path
    pm.env["PROCMAN_SOCKET"] = str(path)
    pm.client = Client(pm.root, path)


# -- permissions -------------------------------------------------------------------------------


def test_socket_dir_is_0700_and_socket_0600(pm: Harness) -> None:
    pm.yaml(sleeper_yaml())
    pm.run("start")
    assert mode(pm.sock.parent) == 0o700
    assert mode(pm.sock) == 0o600
    assert pm.sock.parent.stat().st_uid == os.getuid() == pm.sock.stat().st_uid
    notify = pm.sock.with_suffix(".notify")
    assert mode(notify) == 0o600


@needs_root
def test_a_peer_with_another_uid_is_refused(pm: Harness) -> None:
    pm.yaml(sleeper_yaml())
    pm.run("start")
    before = pm.status()
    shutdown = b'{"id": 1, "method": "shutdown"}\n'

    # 1. as the daemon leaves it: the 0700 directory stops another uid before the socket
    here, name = pm.sock.parent, Path(pm.sock.name)
    seen = as_uid(NOBODY, here, lambda: exchange(name, shutdown))
    assert seen.connect == "EACCES", seen

    # 2. with the directory and socket opened up, the daemon's SO_PEERCRED check must refuse
    os.chmod(pm.sock.parent, 0o711)
    os.chmod(pm.sock, 0o666)
    try:
        seen = as_uid(NOBODY, here, lambda: exchange(name, shutdown))
    finally:
        os.chmod(pm.sock, 0o600)
        os.chmod(pm.sock.parent, 0o700)
    assert seen.connect == "ok", seen
    assert seen.end in ("eof", "reset"), seen  # the daemon closed the connection
    assert seen.replies == [
        {"id": None, "error": {"code": "bad_request", "message": "permission denied"}}
    ], seen
    # the refused peer's shutdown was never read: same daemon, same instances
    assert [(r["id"], r["pid"]) for r in pm.status()] == [(r["id"], r["pid"]) for r in before]
    assert pm.client.call("ping")["pid"] == pm.daemon_pid()


def test_an_existing_shared_socket_dir_keeps_its_mode(pm: Harness) -> None:
    shared = pm.sock.parent / "shared"  # stands in for /tmp or /run
    shared.mkdir()
    os.chmod(shared, 0o1777)
    use_socket(pm, shared / "d.sock")
    pm.yaml(sleeper_yaml())
    started = pm.run("start", expect=None)
    # refusing a shared directory is fine too; changing its mode is not
    assert mode(shared) == 0o1777
    if started.returncode == 0:
        assert mode(pm.sock) == 0o600


# -- secrets -----------------------------------------------------------------------------------

SECRETS = {
    "API_KEY": "sk-type-env-3f9a1c",  # a type's env
    "DB_PASSWORD": "hunter2-dotenv-77e1",  # the .env file
    "AWS_SECRET_ACCESS_KEY": "aws-daemon-env-51b0",  # the shell that ran `procman start`
}
CHECK_SECRETS = """import os, signal
want = {want!r}
print("secrets delivered", all(os.environ.get(k) == v for k, v in want.items()), flush=True)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
signal.pause()
"""


def test_status_check_logs_and_files_never_show_secret_values(pm: Harness) -> None:
    pm.env["AWS_SECRET_ACCESS_KEY"] = SECRETS["AWS_SECRET_ACCESS_KEY"]
    pm.write(".env", f"DB_PASSWORD={SECRETS['DB_PASSWORD']}\nPLAIN_DOTENV=plain-dotenv\n")
    pm.write("check_secrets.py", CHECK_SECRETS.format(want=SECRETS))
    pm.yaml(f"""processes:
  app:
    cmd: {PY} check_secrets.py
    env:
      API_KEY: {SECRETS["API_KEY"]}
      LOG_LEVEL: debug-visible
""")
    pm.run("start")
    # the instance does get them (else this test proves nothing)
    assert pm.wait_log("secrets delivered") == "secrets delivered True"

    outputs = {
        "status": pm.run("status").stdout,
        "status --json": pm.run("status", "--json").stdout,
        "check": pm.run("check").stdout,
        "check --json": pm.run("check", "--json").stdout,
        "logs": pm.run("logs", "-n", "1000").stdout,
        "formation": json.dumps(pm.client.call("formation")),
    }
    home = pm.root / ".procman"
    for path in [home / "state.json", home / "daemon.log", *(home / "logs").glob("*")]:
        if path.is_file():
            outputs[str(path.relative_to(pm.root))] = path.read_text(errors="replace")
    for where, text in outputs.items():
        for name, value in SECRETS.items():
            assert value not in text, f"{name}'s value shows in {where}"

    # `check` shows the type's env with secret-looking names masked, the rest as is
    assert "env API_KEY=****" in outputs["check"]
    assert "env LOG_LEVEL=debug-visible" in outputs["check"]
    described = json.loads(outputs["check --json"])
    assert described["types"][0]["env"] == {"API_KEY": "****", "LOG_LEVEL": "debug-visible"}
    # status rows carry no environment at all
    rows = json.loads(outputs["status --json"])
    assert rows and not any("env" in row for row in rows)


# -- the protocol under attack -----------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
# names that can never be the formation's type or instance, `all` or "" (everything)
NOT_OURS = st.text(max_size=12).map(lambda s: "zz" + s)
SAFE_VALID: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "ping": st.just({}),
    "status": st.fixed_dictionaries({}, optional={"target": st.none() | NOT_OURS}),
    "formation": st.just({}),
    "events": st.just({}),
    "logs": st.fixed_dictionaries(
        {},
        optional={
            "target": st.none() | NOT_OURS | st.just("sleeper"),
            "lines": st.integers(-5, 200_000),
            "follow": st.booleans(),
            "stream": st.none() | st.sampled_from(["out", "err"]) | st.text(max_size=4),
            "since": st.none() | st.floats(allow_nan=True) | st.integers(),
        },
    ),
    "flush": st.fixed_dictionaries({"target": NOT_OURS}),
    "reopen": st.just({}),
    "scale": st.fixed_dictionaries(
        {"counts": st.dictionaries(NOT_OURS, st.integers(-3, 3) | st.text(max_size=4))}
    ),
    "stop": st.fixed_dictionaries({"target": NOT_OURS}),
    "restart": st.fixed_dictionaries({"target": NOT_OURS}),
    "reload": st.fixed_dictionaries(
        {"target": NOT_OURS}, optional={"parallel": st.integers(-2, 4)}
    ),
    "metrics": st.just({}),
    "autoscale": st.fixed_dictionaries({"type": NOT_OURS, "on": st.booleans()}),
}
# only what this version of the protocol has (never `start` or `shutdown`: they would
# change what the attack runs against)
SAFE_VALID = {method: params for method, params in SAFE_VALID.items() if method in METHODS}


def line(obj: Any) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def accepts(types: tuple[type, ...], value: Any) -> bool:
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


@st.composite
def wrong_type(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(sorted(m for m, shape in METHODS.items() if shape)))
    param = draw(st.sampled_from(sorted(METHODS[method])))
    types, _ = METHODS[method][param]
    value = draw(JSON_VALUES.filter(lambda v: not accepts(types, v)))
    return line({"id": draw(JSON_VALUES), "method": method, "params": {param: value}})


@st.composite
def valid_random(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(sorted(SAFE_VALID)))
    return line({"id": draw(JSON_VALUES), "method": method, "params": draw(SAFE_VALID[method])})


@st.composite
def huge(draw: st.DrawFn) -> bytes:
    size = draw(st.integers(MAX_LINE + 1, MAX_LINE + 256 * 1024))
    filler = draw(st.sampled_from([b"x", b"[", b'{"a":', b"\xff"]))
    body = (filler * (size // len(filler) + 1))[:size]
    return body + (b"\n" if draw(st.booleans()) else b"")


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(10, 150_000))
    opening, closing = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    nest = opening * depth + b"1" + closing * depth
    where = draw(st.sampled_from(["top", "id", "param"]))
    if where == "top":
        return nest + b"\n"
    if where == "id":
        return b'{"id":' + nest + b',"method":"ping"}\n'
    return b'{"id":1,"method":"status","params":{"target":' + nest + b"}}\n"


@st.composite
def partial(draw: st.DrawFn) -> bytes:
    whole = draw(valid_random())
    return whole[: draw(st.integers(0, len(whole) - 1))]  # no newline: then a hang-up


@dataclass
class Move:
    payload: bytes
    read: bool

    def __repr__(self) -> str:  # hypothesis prints failing examples: keep them short
        return f"Move({self.payload[:80]!r}... {len(self.payload)} bytes, read={self.read})"


MOVES = st.one_of(
    st.builds(Move, st.binary(max_size=4096), st.booleans()),
    st.builds(Move, st.binary(max_size=512).map(lambda b: b + b"\n"), st.just(True)),
    st.builds(Move, partial(), st.booleans()),
    st.builds(Move, huge(), st.booleans()),
    st.builds(Move, deep(), st.booleans()),
    st.builds(Move, wrong_type(), st.just(True)),
    st.builds(
        Move,
        st.builds(
            lambda m, i: line({"id": i, "method": m}),
            st.text(max_size=20).filter(lambda m: m not in METHODS),
            JSON_VALUES,
        ),
        st.just(True),
    ),
    st.builds(Move, valid_random(), st.booleans()),
    # several requests on one connection, answered in order
    st.builds(
        Move,
        st.lists(valid_random() | wrong_type(), min_size=2, max_size=5).map(b"".join),
        st.just(True),
    ),
)


def check_replies(move: Move, seen: Exchange) -> None:
    assert seen.connect == "ok", seen
    if not move.read:
        return
    assert seen.end == "eof", (move, seen)
    for reply in seen.replies:
        assert isinstance(reply, dict), (move, reply)
        assert ("result" in reply) != ("error" in reply), (move, reply)
        if "error" in reply:
            assert reply["error"]["code"] in ERROR_CODES, (move, reply)
    if move.payload.endswith(b"\n") and move.payload.strip():
        assert seen.replies, (move, seen)  # a complete line is always answered


def test_protocol_under_attack_never_crashes_or_leaks(pm: Harness) -> None:
    pm.yaml(sleeper_yaml())
    pm.run("start")
    pid = pm.daemon_pid()
    assert pid
    daemon = psutil.Process(pid)
    # warm up what is opened lazily (log files, a follower's first tail) before the baseline
    exchange(pm.sock, line({"id": 0, "method": "logs", "params": {"follow": True}}))
    pm.wait_log("ENV ")
    baseline_fds = daemon.num_fds()
    baseline_rss = daemon.memory_info().rss
    examples = 0

    @settings(
        max_examples=ATTACK_EXAMPLES,
        deadline=None,
        derandomize=True,  # the same 60 examples on every run: CI stays reproducible
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(MOVES, min_size=1, max_size=3))
    def attack(moves: list[Move]) -> None:
        nonlocal examples
        examples += 1
        for move in moves:
            check_replies(move, exchange(pm.sock, move.payload, read=move.read))
        # after each example: the same daemon answers status on a fresh connection
        assert pm.client.call("ping")["pid"] == pid
        assert [r["state"] for r in pm.status()] == ["running"]

    attack()
    assert examples >= ATTACK_EXAMPLES
    wait_until(
        lambda: daemon.num_fds() <= baseline_fds + FD_SLACK,
        5,
        f"daemon fds back to {baseline_fds} (+{FD_SLACK})",
    )
    grown = daemon.memory_info().rss - baseline_rss
    assert grown < RSS_BOUND, f"daemon RSS grew {grown / MiB:.1f} MiB"
    log = (pm.root / ".procman" / "daemon.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    print(
        f"attack: {examples} examples, fds {baseline_fds} -> {daemon.num_fds()}, "
        f"RSS +{grown / MiB:.1f} MiB"
    )


def test_every_request_with_a_nested_id_gets_a_reply(pm: Harness) -> None:
    pm.yaml(sleeper_yaml())
    pm.run("start")
    unanswered = []
    for depth in range(900, 1100):
        payload = b'{"id":' + b"[" * depth + b"]" * depth + b',"method":"ping"}\n'
        seen = exchange(pm.sock, payload)
        # the raw reply: this process's json.loads has the same recursion limit
        replies = seen.raw.splitlines()
        answered = len(replies) == 1 and (b'"result":' in replies[0] or b'"error":' in replies[0])
        if not answered:
            unanswered.append(depth)
    assert unanswered == []
    log = (pm.root / ".procman" / "daemon.log").read_text()
    assert "Traceback" not in log, log[-2000:]


def test_a_default_socket_dir_made_by_someone_else_is_refused(pm: Harness, tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    (runtime / "procman").mkdir(parents=True)
    (runtime / "procman").chmod(0o755)  # open to others: someone could swap the socket
    pm.env.pop("PROCMAN_SOCKET")
    pm.env["XDG_RUNTIME_DIR"] = str(runtime)
    pm.yaml("processes:\n  web:\n    cmd: sleep 1000\n")
    res = pm.run("start", expect=1)
    assert "mode 755" in res.stderr and "needs it owned by uid" in res.stderr
    assert list((runtime / "procman").iterdir()) == []
