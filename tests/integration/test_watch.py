"""Watch mode with a real daemon: a change reloads the web type under HTTP load without a
failed request, restarts a plain type, and a change in an ignored place does nothing."""

from __future__ import annotations

from pathlib import Path

from tests.harness import EXAMPLES, PROGRAMS, PY, Harness, wait_until
from tests.load import Load

APP = f"{PY} {EXAMPLES / 'app.py'}"
PRINTENV = f"{PY} {PROGRAMS / 'printenv.py'}"


def pids(pm: Harness, kind: str) -> dict[str, int]:
    return {r["id"]: r["pid"] for r in pm.status() if r["type"] == kind and r["pid"]}


def all_replaced(pm: Harness, kind: str, before: dict[str, int]) -> bool:
    rows = [r for r in pm.status() if r["type"] == kind]
    return len(rows) == len(before) and all(
        r["state"] == "running" and r["pid"] not in before.values() for r in rows
    )


def system_lines(pm: Harness, needle: str) -> list[str]:
    lines = pm.client.call("logs", {"lines": 5000, "target": None})["lines"]
    return [text for _, label, text, *_ in lines if label == "procman" and needle in text]


def make_tree(root: Path) -> None:
    (root / "src").mkdir()
    (root / "src" / "views.py").write_text("VERSION = 1\n")
    (root / "jobs").mkdir()
    for folder in (".git", "node_modules/pkg", "env3/lib", "src/__pycache__", "src/tmp"):
        (root / folder).mkdir(parents=True)
    (root / "env3" / "pyvenv.cfg").write_text("home = /usr/bin\n")  # a virtualenv by any name


def test_a_change_reloads_web_under_load_and_ignored_paths_do_nothing(
    pm: Harness, port: int
) -> None:
    make_tree(pm.root)
    pm.yaml(f"""processes:
  web:
    cmd: {APP}
    instances: 2
    port: {port}
    min_uptime: 0.3
    env: {{APP_ACCESS_LOG: "0"}}
    watch: true
    ignore: [tmp, "*.tmp", jobs]
  worker:
    cmd: {PRINTENV}
    watch: [jobs]
""")
    pm.run("start")
    types = {t["name"]: t for t in pm.client.call("status")["types"]}
    assert types["web"]["watch"] == [str(pm.root)]
    assert types["worker"]["watch"] == [str(pm.root / "jobs")]
    assert "watched" in pm.run("status").stdout
    web, worker = pids(pm, "web"), pids(pm, "worker")
    with Load(port) as load:
        wait_until(lambda: load.count() > 50, 20, "load flowing")
        (pm.root / "src" / "views.py").write_text("VERSION = 2\n")
        wait_until(lambda: all_replaced(pm, "web", web), 20, "web reloaded by the change")
        served = load.count()
        wait_until(lambda: load.count() > served + 50, 20, "load after the reload")
    assert load.failures() == [], load.failures()[:5]
    assert system_lines(pm, "watch: src/views.py changed; reloading web")
    assert pids(pm, "worker") == worker  # it watches jobs/ only

    web = pids(pm, "web")
    for path in (
        ".git/index",
        "node_modules/pkg/index.js",
        "env3/lib/site.py",
        "src/__pycache__/views.cpython-311.pyc",
        "src/tmp/scratch.py",
        "src/draft.tmp",
        "server.log",
    ):
        (pm.root / path).write_text("changed\n")
    # the worker's file comes last: once the worker has restarted, the watcher has read
    # (and dropped) every change above
    (pm.root / "jobs" / "task.py").write_text("RUN = 1\n")
    wait_until(lambda: all_replaced(pm, "worker", worker), 20, "worker restarted by jobs/")
    assert system_lines(pm, "watch: jobs/task.py changed; restarting worker")
    assert pids(pm, "web") == web
    assert len(system_lines(pm, "reloading web")) == 1


def test_start_watch_watches_every_type_and_sees_new_directories(pm: Harness) -> None:
    pm.procfile(f"worker: {PRINTENV}\n")
    pm.run("start", "--watch")
    (types,) = pm.client.call("status")["types"]
    assert types["watch"] == [str(pm.root)]
    first = pids(pm, "worker")
    (pm.root / "lib" / "deep").mkdir(parents=True)  # made after the watch began
    wait_until(lambda: all_replaced(pm, "worker", first), 20, "worker restarted by mkdir")
    second = pids(pm, "worker")
    wait_until(lambda: system_lines(pm, "lib"), 10, "the log line of the new directory")
    (pm.root / "lib" / "deep" / "mod.py").write_text("x = 1\n")
    wait_until(lambda: all_replaced(pm, "worker", second), 20, "worker restarted by lib/deep/")
    assert system_lines(pm, "watch: lib/deep/mod.py changed; restarting worker")


def test_a_fix_saved_while_a_type_is_errored_brings_it_back(pm: Harness) -> None:
    (pm.root / "jobs").mkdir()
    task = pm.root / "jobs" / "task.py"
    task.write_text("raise SystemExit(3)  # a bug\n")
    pm.yaml(f"""processes:
  worker:
    cmd: {PY} jobs/task.py
    max_restarts: 1
    watch: [jobs]
""")
    pm.run("start", expect=None)  # up for a moment, then it crashes
    pm.wait_state("worker.1", "errored")
    task.write_text(f"exec(open({str(PROGRAMS / 'printenv.py')!r}).read())\n")  # the fix
    pm.wait_state("worker.1", "running", timeout=20)
    assert pm.env_of("worker.1")["PROCMAN_ID"] == "worker.1"
    pm.run("stop", "worker")
    task.write_text("raise SystemExit(4)\n")  # stopped on purpose: a change leaves it so
    pm.wait_log("worker is stopped, so it stays as it is")
    assert pm.by_id()["worker.1"]["state"] == "stopped"


def test_start_watch_holds_for_ad_hoc_apps_added_later(pm: Harness) -> None:
    pm.run("start", PRINTENV, "--name", "bg", "--watch")
    pm.run("start", PRINTENV, "--name", "bg2")  # no --watch: the daemon's still holds
    watched = {t["name"]: t["watch"] for t in pm.client.call("status")["types"]}
    assert watched == {"bg": [str(pm.root)], "bg2": [str(pm.root)]}
    bg, bg2 = pids(pm, "bg"), pids(pm, "bg2")
    (pm.root / "x.py").write_text("x = 1\n")
    wait_until(
        lambda: all_replaced(pm, "bg", bg) and all_replaced(pm, "bg2", bg2),
        20,
        "both apps restarted",
    )
