"""-f/-d, env-file options, aliases, and output that scripts can rely on."""

from __future__ import annotations

import json

from tests.harness import PROGRAMS, PY, Harness


def printenv_yaml() -> str:
    return f"""processes:
  web:
    cmd: {PY} {PROGRAMS / "printenv.py"}
"""


def test_procfile_and_dir_options(pm: Harness) -> None:
    other = pm.root / "elsewhere"
    other.mkdir()
    (other / "jobs.yaml").write_text(printenv_yaml())
    # -f alone: the project is the file's directory
    res = pm.run("check", "-f", str(other / "jobs.yaml"), cwd=pm.root.parent)
    assert "web:" in res.stdout and str(other) in res.stdout
    # -d picks the project; the socket is per project unless PROCMAN_SOCKET says otherwise
    (other / "procman.yaml").write_text(printenv_yaml())
    pm.run("start", "-d", str(other), cwd=pm.root.parent)
    rows = json.loads(pm.run("ps", "--json", "-d", str(other)).stdout)
    assert [r["id"] for r in rows] == ["web.1"]
    assert (other / ".procman").exists() is False  # PROCMAN_HOME wins over .procman/
    pm.run("kill", "-d", str(other))


def test_env_file_options(pm: Harness) -> None:
    pm.write(".env", "FROM_ENV_FILE=default\n")
    pm.write("a.env", "FROM_ENV_FILE=a\nLAYERED=a\n")
    pm.write("b.env", "LAYERED=b\n")
    pm.yaml(printenv_yaml())
    pm.run("start")
    assert pm.env_of("web.1")["FROM_ENV_FILE"] == "default"
    pm.run("shutdown")
    pm.run("start", "-e", "a.env,b.env")
    env = pm.env_of("web.1")
    assert env["FROM_ENV_FILE"] == "a" and env["LAYERED"] == "b"
    pm.run("shutdown")
    pm.run("start", "--no-env-file")
    assert pm.env_of("web.1")["FROM_ENV_FILE"] is None
    res = pm.run("check", "-e", "missing.env", expect=1)
    assert "missing.env" in res.stderr


def test_status_of_one_type_and_empty_json(pm: Harness) -> None:
    pm.yaml(printenv_yaml() + f"  other:\n    cmd: {PY} {PROGRAMS / 'printenv.py'}\n")
    pm.run("start", "other=0")
    assert json.loads(pm.run("status", "other", "--json").stdout) == []
    rows = json.loads(pm.run("status", "web", "--json").stdout)
    assert [r["id"] for r in rows] == ["web.1"]
    plain = pm.run("status").stdout.splitlines()
    assert plain[0].split() == ["id", "pid", "state", "uptime", "restarts", "cpu", "memory", "port"]
    assert "\x1b[" not in pm.run("status").stdout  # piped: no colour codes


def test_help_teaches(pm: Harness) -> None:
    out = pm.run("--help").stdout
    for verb in ("start", "scale", "status", "logs", "restart", "reload", "stop", "shutdown"):
        assert verb in out
    assert "web=+2" in pm.run("scale", "--help").stdout


def test_check_reports_tcp_migrate_req(pm: Harness, port: int) -> None:
    pm.yaml(f"processes:\n  web:\n    cmd: x\n    port: {port}\n")
    data = json.loads(pm.run("check", "--json").stdout)
    assert data["tcp_migrate_req"] in (True, False, None)
    assert "tcp_migrate_req" in pm.run("check").stdout
