"""Watch mode's pure policy: which types a path concerns, and debouncing on a fake clock."""

from __future__ import annotations

from procman.daemon.watchpolicy import WatchPolicy, WatchRule, rules_of
from procman.model import ProcessType

WEB = WatchRule("web", ("/app/src", "/app/app.py"), ("*.tmp", "build/*", "cache"))
WORKER = WatchRule("worker", ("/app",))


def policy(**kwargs: float) -> WatchPolicy:
    return WatchPolicy([WEB, WORKER], **kwargs)


def test_a_path_concerns_the_types_that_watch_it() -> None:
    p = policy()
    assert p.concerns("/app/src/views.py") == ["web", "worker"]
    assert p.concerns("/app/app.py") == ["web", "worker"]  # a watched file
    assert p.concerns("/app/app.pyc") == []
    assert p.concerns("/app/jobs/run.py") == ["worker"]
    assert p.concerns("/app/application.py") == ["worker"]  # not under /app/app.py
    assert p.concerns("/elsewhere/x.py") == []
    assert p.roots == ["/app", "/app/app.py", "/app/src"]


def test_defaults_ignore_vcs_dependencies_caches_logs_and_editors() -> None:
    p = policy()
    for path in (
        "/app/.git/index",
        "/app/node_modules/x/index.js",
        "/app/src/__pycache__/views.cpython-311.pyc",
        "/app/.venv/lib/site.py",
        "/app/venv/bin/python",
        "/app/.procman/logs/web.log",
        "/app/server.log",
        "/app/server.log.1",
        "/app/src/.views.py.swp",
        "/app/src/views.py~",
        "/app/src/4913",
    ):
        assert p.concerns(path) == [], path


def test_virtualenvs_by_their_pyvenv_cfg() -> None:
    p = policy()
    assert p.concerns("/app/env3/lib/x.py") == ["worker"]
    p.skipped.add("/app/env3")
    assert p.concerns("/app/env3/lib/x.py") == []
    assert p.prunes("/app/env3")


def test_ignore_globs() -> None:
    p = policy()
    assert p.concerns("/app/src/draft.tmp") == ["worker"]  # web ignores it, worker does not
    assert p.concerns("/app/src/build/out.js") == ["worker"]  # build/* is relative to src
    assert p.concerns("/app/src/deep/build/out.js") == ["web", "worker"]
    assert p.concerns("/app/src/cache/a/b") == ["worker"]  # no slash: any part of the path
    assert p.prunes("/app/node_modules") and not p.prunes("/app/src/cache")


def test_a_burst_acts_once_after_a_quiet_spell() -> None:
    p = policy(quiet=0.1, longest=1.0)
    assert p.deadline() is None and p.due(0.0) == []
    assert p.changed(["/app/src/a.py"], 10.0) == ["web", "worker"]
    assert p.changed(["/app/src/b.py", "/app/src/a.py"], 10.05) == []  # same burst
    assert p.deadline() == 10.15
    assert p.due(10.14) == []
    web, worker = p.due(10.15)
    assert (web.type, web.count, web.paths) == ("web", 2, ("/app/src/a.py", "/app/src/b.py"))
    assert web.what("/app") == "src/a.py, src/b.py changed"
    assert worker.type == "worker"
    assert p.deadline() is None and p.due(20.0) == []


def test_a_burst_that_never_pauses_still_acts_after_longest() -> None:
    p = policy(quiet=0.1, longest=1.0)
    now = 0.0
    decided = []
    while now < 2.5:
        p.changed(["/app/jobs/out.txt"], now)
        decided += [(now, d.type) for d in p.due(now)]
        now = round(now + 0.05, 2)
    assert decided == [(1.0, "worker"), (2.05, "worker")]


def test_types_settle_on_their_own() -> None:
    p = policy(quiet=0.1, longest=1.0)
    p.changed(["/app/src/a.py"], 0.0)  # web and worker
    p.changed(["/app/jobs/b.py"], 0.08)  # worker only: its burst goes on
    assert [d.type for d in p.due(0.1)] == ["web"]
    assert p.deadline() == 0.18
    (worker,) = p.due(0.18)
    assert worker.what() == "/app/src/a.py, /app/jobs/b.py changed"


def test_many_paths_are_summed_up() -> None:
    p = policy()
    p.changed([f"/app/jobs/{i}.py" for i in range(10)], 0.0)
    (worker,) = p.due(5.0)
    assert worker.what("/app") == "jobs/0.py, jobs/1.py, jobs/2.py and 7 more changed"


def test_rules_of_process_types() -> None:
    types = [
        ProcessType("web", "x", watch=("/app/src/",), ignore=("*.tmp",)),
        ProcessType("worker", "y"),
    ]
    assert rules_of(types) == [WatchRule("web", ("/app/src",), ("*.tmp",))]
