"""A Foreman user's Procfile and habits, with real daemons: Foreman's PORT for every
instance, --share, `start TYPE`, Heroku's release phase, `after:` order and stop_signal."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

from tests.harness import PROGRAMS, PY, Harness, free_base, wait_until

WEB = f"{PY} {PROGRAMS / 'portweb.py'} $PORT"
WORKER = f"{PY} {PROGRAMS / 'printenv.py'}"
RELEASE = f"{PY} {PROGRAMS / 'release.py'} marker"


def get(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
        return json.loads(reply.read())


def heroku_procfile(pm: Harness) -> None:
    pm.procfile(f"release: {RELEASE}\nweb: {WEB}\nworker: {WORKER}\n")
    pm.write(".env", f"MARKER={pm.root / 'marker'}\n")


def marker_runs(pm: Harness) -> int:
    path = pm.root / "marker"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_heroku_procfile_release_first_then_foreman_ports(pm: Harness) -> None:
    heroku_procfile(pm)
    base = free_base()
    pm.run("start", "-i", "2", "-p", str(base))
    rows = pm.by_id()
    # release ran once (not twice for -i 2), to completion, and was not restarted
    assert marker_runs(pm) == 1
    assert rows["release.1"]["state"] == "exited" and rows["release.1"]["restarts"] == 0
    assert "release.2" not in rows
    # Foreman's rule: base + 100 x position (release is 0) + instance index
    assert {i: rows[i]["port"] for i in ("web.1", "web.2", "worker.1", "worker.2")} == {
        "web.1": base + 100,
        "web.2": base + 101,
        "worker.1": base + 200,
        "worker.2": base + 201,
    }
    for ident, port in (("web.1", base + 100), ("web.2", base + 101)):
        pm.wait_state(ident, "running")
        reply = wait_until(lambda p=port: _try_get(p), 10, f"{ident} answering on {port}")
        assert (reply["id"], reply["ps"], reply["port"]) == (ident, ident, str(port))
        assert reply["listen"] == "bound"
        assert reply["marker_lines"] == 1  # started after the release phase had run
    for ident, port in (("worker.1", base + 200), ("worker.2", base + 201)):
        env = pm.env_of(ident)
        assert (env["PORT"], env["PS"], env["marker_lines"]) == (str(port), ident, 1)
        assert env["fd3"] is False


def _try_get(port: int) -> dict | None:
    try:
        return get(port)
    except OSError:
        return None


def test_share_web_serves_both_instances_on_one_port(pm: Harness) -> None:
    heroku_procfile(pm)
    base = free_base()
    pm.run("start", "-i", "2", "-p", str(base), "--share", "web")
    rows = pm.by_id()
    assert rows["web.1"]["port"] == rows["web.2"]["port"] == base + 100
    assert (rows["worker.1"]["port"], rows["worker.2"]["port"]) == (base + 200, base + 201)
    seen: set[str] = set()

    def both() -> bool:
        reply = _try_get(base + 100)
        if reply:
            assert reply["listen"] == "fd3" and reply["port"] == str(base + 100)
            seen.add(reply["id"])
        return seen == {"web.1", "web.2"}

    wait_until(both, 20, "web.1 and web.2 both answering on the shared port")
    info = pm.run("check", "--json", "--share", "web", "-p", str(base), "-i", "2")
    web = [t for t in json.loads(info.stdout)["types"] if t["name"] == "web"][0]
    assert (web["socket"], web["ports"]) == (True, [base + 100, base + 100])


def test_start_type_leaves_the_others_and_the_formation(pm: Harness) -> None:
    pm.procfile(f"web: {WORKER}\nworker: {WORKER}\nclock: {WORKER}\n")
    pm.run("start", "-p", str(free_base()), "worker=2")
    before = {i: r["pid"] for i, r in pm.by_id().items()}
    pm.run("stop", "worker")
    state_path = pm.root / ".procman" / "state.json"
    saved = json.loads(state_path.read_text())
    pm.run("start", "worker")
    rows = pm.by_id()
    assert all(rows[i]["state"] == "running" for i in ("worker.1", "worker.2"))
    assert rows["worker.1"]["pid"] != before["worker.1"]
    # the others were left as they were, and so was the saved formation
    assert (rows["web.1"]["pid"], rows["clock.1"]["pid"]) == (before["web.1"], before["clock.1"])
    again = json.loads(state_path.read_text())
    assert (again["types"], again["counts"], again["source"]) == (
        saved["types"],
        saved["counts"],
        saved["source"],
    )
    # a word that is no type of the formation is refused when several are given
    res = pm.run("start", "worker", "nosuch", expect=2)
    assert 'no process type "nosuch"' in res.stderr


def test_start_one_type_on_a_fresh_daemon(pm: Harness) -> None:
    heroku_procfile(pm)
    pm.run("start", "-p", str(free_base()), "worker", "-m", "worker=2")
    rows = pm.by_id()
    assert sorted(rows) == ["worker.1", "worker.2"]
    assert marker_runs(pm) == 0  # the release phase runs with `start`, not `start worker`
    types = {t["name"]: t["desired"] for t in pm.client.call("status")["types"]}
    assert types == {"release": 1, "web": 1, "worker": 2}


def test_failed_release_fails_the_start_and_starts_nothing(pm: Harness) -> None:
    heroku_procfile(pm)
    (pm.root / "marker.exit").write_text("3\n")
    res = pm.run("start", "-p", str(free_base()), expect=1)
    out = res.stdout + res.stderr
    assert "release.1" in out and "exited with code 3" in out
    assert "migration failed: boom 3" in out  # its last output lines
    assert "web did not come up (not started): waits for release" in out
    rows = pm.by_id()
    assert sorted(rows) == ["release.1"] and rows["release.1"]["restarts"] == 0
    assert marker_runs(pm) == 1


def test_reload_all_runs_release_first_and_a_failure_replaces_nothing(pm: Harness) -> None:
    heroku_procfile(pm)
    pm.run("start", "-p", str(free_base()))
    web = pm.by_id()["web.1"]["pid"]
    pm.run("reload")
    assert marker_runs(pm) == 2
    assert pm.by_id()["web.1"]["pid"] != web
    web = pm.by_id()["web.1"]["pid"]
    (pm.root / "marker.exit").write_text("4\n")
    res = pm.run("reload", expect=1)
    assert "boom 4" in res.stdout + res.stderr
    assert marker_runs(pm) == 3
    assert pm.by_id()["web.1"]["pid"] == web  # nothing was replaced
    pm.run("restart")  # never restarts the release phase
    assert marker_runs(pm) == 3


def test_after_orders_start_and_stop_reverses_it(pm: Harness) -> None:
    pm.yaml(
        "processes:\n"
        f"  web:\n    cmd: {WORKER}\n    after: [seed]\n"
        f"  seed:\n    cmd: {PY} {PROGRAMS / 'release.py'} marker\n"
        "    restart: never\n    after: [db]\n"
        f"  db:\n    cmd: {WORKER}\n"
        "    env: {MARKER: marker}\n"
        f"  idle:\n    cmd: {WORKER}\n    restart: never\n"  # a server nobody waits for
    )
    info = json.loads(pm.run("check", "--json").stdout)
    assert info["start_order"] == [["db", "idle"], ["seed"], ["web"]]
    pm.run("start")
    assert pm.by_id()["idle.1"]["state"] == "running"  # start did not wait for it to exit
    lines = _system_lines(pm)
    order = [_first(lines, f"{i} started") for i in ("db.1", "seed.1", "web.1")]
    assert order == sorted(order) and _first(lines, "seed.1 exited") < order[2]
    pm.run("stop")
    lines = _system_lines(pm)
    assert _first(lines, "web.1 stopped") < _first(lines, "db.1 stopped")


def _system_lines(pm: Harness) -> list[str]:
    return [text for _, _, text, *_ in pm.client.call("logs", {"lines": 500})["lines"]]


def _first(lines: list[str], needle: str) -> int:
    for number, text in enumerate(lines):
        if needle in text:
            return number
    raise AssertionError(f"no line with {needle!r} in {lines}")


def test_a_cycle_in_after_is_a_config_error(pm: Harness) -> None:
    pm.yaml("processes:\n  a:\n    cmd: x\n    after: [b]\n  b:\n    cmd: y\n    after: [a]\n")
    res = pm.run("check", expect=1)
    assert "procman.yaml:4: processes.a.after: start order has a cycle: a -> b -> a" in res.stderr


def test_stop_signal_is_what_a_stop_sends(pm: Harness) -> None:
    pm.yaml(f"processes:\n  web:\n    cmd: {PY} {PROGRAMS / 'stopsig.py'}\n    stop_signal: INT\n")
    pm.run("start")
    pm.wait_log("stopsig", target="web")
    pm.run("stop")
    pm.wait_log("got SIGINT", target="web")
    assert pm.by_id()["web.1"]["state"] == "stopped"


def test_export_uses_the_running_counts(pm: Harness, tmp_path: Path) -> None:
    pm.procfile(f"web: {WORKER}\nworker: {WORKER}\n")
    pm.run("export", "procfile", str(tmp_path / "file"), "web=3")
    assert "web=3,worker=1" in (tmp_path / "file" / ".foreman").read_text()
    pm.run("start", "-p", str(free_base()), "worker=2")
    pm.run("export", "procfile", str(tmp_path / "running"))
    assert "web=1,worker=2" in (tmp_path / "running" / ".foreman").read_text()
    pm.run("export", "procfile", str(tmp_path / "m"), "-m", "web=4")
    assert "web=4,worker=2" in (tmp_path / "m" / ".foreman").read_text()


def test_check_json_on_a_peer_fixture(pm: Harness) -> None:
    """`procman check --json` on Foreman's spec/resources Procfile: its types, commands,
    env and Foreman's ports (tests/unit/test_peer_fixtures.py reads all 74 cases)."""
    case = Path(__file__).resolve().parents[1] / "fixtures" / "foreman" / "spec_resources_procfile"
    expected = json.loads((case / "expected.json").read_text())
    info = json.loads(pm.run("check", "--json", "-d", str(case)).stdout)
    assert [{"name": t["name"], "cmd": t["cmd"]} for t in info["types"]] == expected["types"]
    assert [t["ports"] for t in info["types"]] == [[5000], [5100], [5200], [5300], [5400]]
    assert info["env"] == expected["env"]


def test_scale_refuses_a_foreman_port_another_program_holds(pm: Harness) -> None:
    pm.procfile(f"web: {WEB}\n")
    base = free_base()
    pm.run("start", "-p", str(base))
    with socket.socket() as other:
        other.bind(("127.0.0.1", base + 1))
        other.listen(1)
        res = pm.run("scale", "web=2", expect=1)
        assert f"port {base + 1} is in use" in res.stderr
    assert sorted(pm.by_id()) == ["web.1"]
    pm.run("scale", "web=2")  # freed: web.2 gets base + 1
    assert pm.by_id()["web.2"]["port"] == base + 1
