"""Real servers under procman: a Heroku-style Procfile on gunicorn, the servers that take the
held listener on fd 3 as they are (docs/servers.md is measured here), the ones that bind
their own SO_REUSEPORT socket, and a port that cannot be bound: diagnosed, exit 1, and a
client refused once the type has given up."""

from __future__ import annotations

import json
import os
import shutil
import socket
import urllib.request

import pytest

from tests.harness import PROGRAMS, PY, Harness, free_base, wait_until

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(
    NODE is None, reason="node is not installed (apt-get install nodejs)"
)


def get(port: int, timeout: float = 5) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as reply:
        return json.loads(reply.read())


def answering_pids(port: int, want: int, tries: int = 300) -> set[int]:
    """Pids that answered on port, asking until `want` different ones did (or `tries`
    requests: new connections spread over the listeners by the kernel's hash)."""
    pids: set[int] = set()
    for _ in range(tries):
        pids.add(get(port)["pid"])
        if len(pids) >= want:
            break
    return pids


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def tree_pids(pm: Harness) -> set[int]:
    import psutil

    found = set()
    for row in pm.status():
        proc = psutil.Process(row["pid"])
        found |= {proc.pid, *(c.pid for c in proc.children(recursive=True))}
    return found


GUNICORN = f"{PY} -m gunicorn --no-control-socket --chdir {PROGRAMS} wsgi_app:app"


# -- a Procfile as Heroku and Foreman run it -----------------------------------------------


def test_heroku_procfile_on_gunicorn_gets_foremans_ports(pm: Harness) -> None:
    base = free_base()
    pm.procfile(f"web: {GUNICORN} --bind 0.0.0.0:$PORT\nworker: {PY} {PROGRAMS / 'printenv.py'}\n")
    pm.run("start", "-i", "2", "-p", str(base), timeout=40)
    first, second = get(base), get(base + 1)
    assert (first["port"], first["ps"]) == (str(base), "web.1")
    assert (second["port"], second["ps"]) == (str(base + 1), "web.2")
    assert pm.env_of("worker.2")["PORT"] == str(base + 101)


def test_the_same_procfile_with_share_web_serves_one_port(pm: Harness) -> None:
    base = free_base()
    pm.procfile(f"web: {GUNICORN} --bind 0.0.0.0:$PORT\nworker: {PY} {PROGRAMS / 'printenv.py'}\n")
    pm.run("start", "-i", "2", "-p", str(base), "--share", "web", timeout=40)
    # gunicorn reads LISTEN_FDS and serves fd 3: its --bind 0.0.0.0:$PORT is left unused
    pids = answering_pids(base, 2)
    assert len(pids) == 2 and pids <= tree_pids(pm)
    assert {r["port"] for r in pm.status("web")} == {base}
    assert refused(base + 1)


@needs_node
def test_a_node_app_on_process_env_port_under_i_2(pm: Harness) -> None:
    base = free_base()
    pm.procfile(f"web: node {PROGRAMS / 'node_server.js'}\n")
    pm.run("start", "-i", "2", "-p", str(base))
    # its command does not mention $PORT, so it gets `ready: none`: wait for it to listen
    wait_until(lambda: not refused(base) and not refused(base + 1), 20, "both node instances")
    assert get(base)["ps"] == "web.1" and get(base + 1)["ps"] == "web.2"
    assert get(base + 1)["port"] == str(base + 1)


# -- servers that take the held listener on fd 3 as they are ---------------------------------

FD3_SERVERS = {  # name: (command, what it needs, more of the type's settings)
    "gunicorn": (GUNICORN, None, ""),  # reads LISTEN_FDS itself: no flag
    "gunicorn-notify": (GUNICORN, None, "    ready: notify\n"),  # and sends READY=1
    "gunicorn-bind": (f"{GUNICORN} --bind 0.0.0.0:$PORT", None, ""),  # --bind is ignored then
    "uvicorn": (f"{PY} -m uvicorn --fd 3 --app-dir {PROGRAMS} asgi_app:app", None, ""),
    "hypercorn": (f"{PY} -m hypercorn --bind fd://3 asgi_app:app", "hypercorn", ""),
    "node": (f"node {PROGRAMS / 'node_server.js'} fd", "node", ""),
    "puma": (f"puma --bind-to-activated-sockets only {PROGRAMS / 'config.ru'}", "puma", ""),
}


@pytest.mark.parametrize("server", list(FD3_SERVERS))
def test_servers_that_serve_the_held_listener_on_fd_3(pm: Harness, port: int, server: str) -> None:
    cmd, needs, more = FD3_SERVERS[server]
    if needs in ("node", "puma") and shutil.which(needs) is None:
        pytest.skip(f"{needs} is not installed (docs/servers.md says what was verified)")
    if needs == "hypercorn":
        pytest.importorskip("hypercorn")
    pm.yaml(f"""processes:
  web:
    cmd: {cmd}
    cwd: {PROGRAMS}
    port: {port}
    instances: 2
{more}""")
    pm.run("start", timeout=40)
    pids = answering_pids(port, 2)
    assert len(pids) == 2 and pids <= tree_pids(pm), (pids, pm.status())
    assert all(r["state"] == "running" and r["restarts"] == 0 for r in pm.status())


def test_gunicorn_binding_its_own_reuseport_socket_with_socket_false(
    pm: Harness, port: int
) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: {GUNICORN} --reuse-port --bind 0.0.0.0:$PORT
    port: {port}
    socket: false
    instances: 2
""")
    pm.run("start", timeout=40)
    pids = answering_pids(port, 2)
    assert len(pids) == 2 and pids <= tree_pids(pm)


# -- a port that cannot be bound ----------------------------------------------------------


@needs_node
def test_an_app_binding_port_itself_under_a_held_socket(pm: Harness, port: int) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: node {PROGRAMS / "node_server.js"}
    port: {port}
    max_restarts: 2
""")
    res = pm.run("start", expect=1)
    assert f"port {port} is held by procman's own listener (held for web.1)" in res.stderr
    assert "address already in use" in res.stderr and "fd 3" in res.stderr
    row = pm.wait_state("web.1", "errored", timeout=20)
    conflict = row["port_conflict"]
    assert conflict["port"] == port and conflict["kind"] == "procman"
    assert "EADDRINUSE" in conflict["line"] and "socket: false" in conflict["fix"]
    out = pm.run("status").stdout
    assert f"web.1: port {port} is held by procman's own listener" in out and "fix: " in out
    # every instance gave up: the listener is closed, a client is refused at once
    assert refused(port)
    # restart and scale bind the listeners again, and say the same
    res = pm.run("restart", "web", expect=1)
    assert f"port {port} is held by procman's own listener (held for web.1)" in res.stderr
    res = pm.run("scale", "web=2", expect=1)
    assert "web.2 did not come up" in res.stderr and "held for web.1, web.2" in res.stderr
    pm.wait_state("web.1", "errored", timeout=20)
    pm.wait_state("web.2", "errored", timeout=20)
    assert refused(port)
    # the listener comes back with the next start: here of the app fixed to serve fd 3
    pm.yaml(pm.root.joinpath("procman.yaml").read_text().replace(".js", ".js fd"))
    pm.run("start")  # at the count scale left: 2
    assert answering_pids(port, 2) == {r["pid"] for r in pm.status()}
    assert [r["port_conflict"] for r in pm.status()] == [None, None]


@needs_node
def test_instances_binding_one_port_themselves_name_their_sibling(pm: Harness, port: int) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: node {PROGRAMS / "node_server.js"}
    port: {port}
    socket: false
    instances: 2
    max_restarts: 2
""")
    res = pm.run("start", expect=1, timeout=40)
    # whichever bound the port first serves; the other names it
    rows = wait_until(lambda: conflicted_and_holder(pm), 20, "one instance errored")
    loser, winner = rows
    assert winner["state"] == "running" and winner["port_conflict"] is None
    assert f"port {port} is held by {winner['id']} (pid {winner['pid']})" in res.stderr
    conflict = loser["port_conflict"]
    assert conflict["kind"] == "sibling" and conflict["holder_pid"] == winner["pid"]
    assert "--share web" in conflict["fix"] and "SO_REUSEPORT" in conflict["fix"]
    assert get(port)["ps"] == winner["id"]


def conflicted_and_holder(pm: Harness) -> tuple[dict, dict] | None:
    rows = pm.status()
    errored = [r for r in rows if r["state"] == "errored"]
    running = [r for r in rows if r["state"] == "running"]
    return (errored[0], running[0]) if len(errored) == 1 and len(running) == 1 else None


@needs_node
def test_a_port_held_by_another_program(pm: Harness, port: int) -> None:
    with socket.socket() as other:
        other.bind(("0.0.0.0", port))
        other.listen()
        # no port: in the file, so nothing checks it before the start; the app binds it
        pm.yaml(f"""processes:
  api:
    cmd: PORT={port} node {PROGRAMS / "node_server.js"}
    max_restarts: 1
""")
        pm.run("start", expect=None)  # `ready: none`: start cannot know; status does

        def conflict() -> dict | None:
            return pm.status()[0]["port_conflict"]

        found = wait_until(conflict, 20, "the port conflict in status")
        assert found["kind"] == "other" and found["holder_pid"] == os.getpid()
        assert found["port"] == port and "another port" in found["fix"]
        out = pm.run("status").stdout
        assert f"api.1: port {port} is held by pid {os.getpid()} (" in out
