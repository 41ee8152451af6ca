"""`procman signal`: to each instance's main process, or with --group to its process group."""

from __future__ import annotations

import json

import psutil
import pytest

from tests.harness import PROGRAMS, PY, Harness, wait_until

pytest.importorskip("gunicorn", reason="gunicorn is a test extra: pip install -e '.[test]'")


def workers(pid: int) -> list[int]:
    return [c.pid for c in psutil.Process(pid).children() if c.status() != psutil.STATUS_ZOMBIE]


def test_ttin_grows_a_gunicorn_by_one_worker_and_ttou_shrinks_it(pm: Harness, port: int) -> None:
    pm.yaml(f"""processes:
  web:
    cmd: {PY} -m gunicorn -w 1 --no-control-socket --chdir {PROGRAMS} wsgi_app:app
    port: {port}
""")
    pm.run("start")
    master = pm.status()[0]["pid"]
    wait_until(lambda: len(workers(master)) == 1, 20, "gunicorn's first worker")
    first = workers(master)
    out = pm.run("signal", "web", "TTIN").stdout
    assert f"sent SIGTTIN to web.1 (pid {master})" in out
    wait_until(lambda: len(workers(master)) == 2, 20, "a second worker after TTIN")
    assert set(first) < set(workers(master))  # grown by one, the first worker untouched
    result = json.loads(pm.run("signal", "web.1", "SIGTTOU", "--json").stdout)
    assert result["sent"] == [{"id": "web.1", "pid": master}] and result["signal"] == "SIGTTOU"
    wait_until(lambda: len(workers(master)) == 1, 20, "one worker again after TTOU")
    assert pm.status()[0]["pid"] == master and pm.status()[0]["state"] == "running"


def test_group_reaches_every_process_of_the_instance(pm: Harness) -> None:
    pm.yaml(f"""processes:
  forker:
    cmd: {PY} {PROGRAMS / "forker.py"}
""")
    pm.run("start")
    grandchild = int(pm.wait_log("grandchild", target="forker").split()[1])
    parent = pm.status()[0]["pid"]

    def stopped(pid: int) -> bool:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED

    pm.run("signal", "forker", "STOP")  # the main process only
    wait_until(lambda: stopped(parent), 10, "the main process stopped")
    assert not stopped(grandchild)
    pm.run("signal", "forker", "19", "--group")  # SIGSTOP by number, to the whole group
    wait_until(lambda: stopped(grandchild), 10, "the grandchild stopped")
    pm.run("signal", "forker.1", "cont", "--group")
    wait_until(lambda: not stopped(parent) and not stopped(grandchild), 10, "both running")


def test_bad_signal_bad_target_and_nothing_to_signal(pm: Harness) -> None:
    pm.yaml(f"""processes:
  worker:
    cmd: {PY} {PROGRAMS / "printenv.py"}
""")
    pm.run("start")
    res = pm.run("signal", "worker", "SIGWOOF", expect=2)
    assert "'SIGWOOF' is not a signal; valid: HUP INT QUIT" in res.stderr
    assert "TTIN TTOU" in res.stderr and "USR2" in res.stderr
    assert "is not a signal" in pm.run("signal", "worker", "0", expect=2).stderr
    assert "no process type or instance 'wrkr'" in pm.run("signal", "wrkr", "HUP", expect=2).stderr
    pm.run("stop", "worker")
    res = pm.run("signal", "worker", "HUP", expect=1)
    assert "worker.1 has no process to signal (stopped)" in res.stderr
