"""Import discipline: the CLI's hot path and the daemon stay light (run in a fresh
interpreter, since this test process has imported everything already)."""

import subprocess
import sys
from pathlib import Path

from procman.cli.app import COMMANDS

# what no quick command needs: rich when piped, the config loaders, the daemon's libraries
HEAVY = ("rich", "psutil", "yaml", "dotenv", "asyncio", "shlex", "pathlib", "procman.daemon")
HEAVY += ("procman.config", "procman.export", "procman.cli.monit")
HEAVY += ("procman.cli.completion", "click.shell_completion", "watchfiles", "croniter")
HEAVY += ("starlette", "uvicorn", "procman.cli.dashboard")  # the dashboard's server
COMMAND_MODULES = sorted({f"procman.cli.commands.{t.partition(':')[0]}" for t in COMMANDS.values()})

# `procman VERB` with the daemon's answer canned, stdout piped; the last line is the import set
RUN_VERB = """
import sys
from procman.cli import client
client.Client.call = lambda self, method, params=None: {answer!r}
sys.argv = ["procman", *{argv!r}]
from procman.cli.{entry} import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print(" ".join(sorted(sys.modules)))
"""
ROW = {"id": "web.1", "type": "web", "index": 0, "pid": 42, "state": "running", "uptime_s": 3.0}
STATUS = {"instances": [ROW], "types": [{"name": "web", "desired": 1, "autoscale": None}]}


def modules_after(statement: str, heavy: tuple[str, ...]) -> list[str]:
    """Which of `heavy` are loaded after `statement` (a blocked import, None, is not)."""
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {heavy!r} if sys.modules.get(m)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def modules_of_verb(
    argv: list[str], answer: object, env: dict[str, str] | None = None, entry: str = "app"
) -> tuple[str, set[str]]:
    """entry: app (click's path) or fast (the console script's: status/scale without click)."""
    code = RUN_VERB.format(answer=answer, argv=argv, entry=entry)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    printed, _, modules = out.stdout.rstrip("\n").rpartition("\n")
    return printed, set(modules.split())


def loaded(modules: set[str], names: tuple[str, ...] | list[str]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


def test_cli_package_imports_nothing() -> None:
    assert modules_after("import procman.cli", ("click", "procman.cli.client")) == []


def test_cli_imports_no_rich_psutil_yaml_or_asyncio() -> None:
    assert modules_after("import procman.cli.app", ("rich", "psutil", "yaml", "asyncio")) == []


def test_status_imports_only_what_status_needs() -> None:
    printed, modules = modules_of_verb(["status"], STATUS)
    assert printed.splitlines()[1].split()[:3] == ["web.1", "42", "running"]
    others = [m for m in COMMAND_MODULES if m != "procman.cli.commands.status"]
    assert loaded(modules, HEAVY + ("procman.counts",)) == []
    assert loaded(modules, others) == []


def test_scale_imports_only_what_scale_needs() -> None:
    printed, modules = modules_of_verb(["scale", "web=+1"], {"status": [ROW], "ok": True})
    assert "web.1" in printed
    others = [m for m in COMMAND_MODULES if m != "procman.cli.commands.scale"]
    assert loaded(modules, HEAVY) == []
    assert loaded(modules, others) == []


def test_the_console_scripts_status_and_scale_import_no_click() -> None:
    """procman/cli/fast.py: what `procman status` and `procman scale` load, as installed."""
    for argv, answer in ((["status"], STATUS), (["scale", "web=2"], {"status": [ROW]})):
        printed, modules = modules_of_verb(argv, answer, entry="fast")
        assert "web.1" in printed
        assert loaded(modules, HEAVY + ("click", "procman.counts", "procman.cli.commands")) == []
        assert loaded(modules, ("dataclasses", "inspect", "uuid", "platform", "datetime")) == []
    _, modules = modules_of_verb(["status", "--help"], STATUS, entry="fast")
    assert "click" in modules  # anything else: click


def test_daemon_imports_no_click_or_rich() -> None:
    assert modules_after("import procman.daemon.__main__", ("click", "rich")) == []


def test_the_daemon_parsing_its_arguments_and_a_yaml_file_loads_no_argparse_or_libyaml() -> None:
    """argparse's help formatter imports shutil, and shutil bz2 and lzma (~1 MiB together);
    libyaml's extension is 0.4 MiB. The daemon is long-lived: it parses with getopt and the
    pure-Python YAML composer."""
    statement = (
        "import procman.daemon.__main__ as entry, pathlib; "
        "entry.parse(['-d', '/tmp', '-q', 'web', '--metrics-port', '9100', '--detach']); "
        "from procman.config.yamlfile import parse_yaml; "
        "parse_yaml('processes:\\n  web: {cmd: x}\\n', 'procman.yaml', pathlib.Path('/tmp'))"
    )
    assert (
        modules_after(statement, ("argparse", "shutil", "bz2", "lzma", "yaml._yaml", "ssl")) == []
    )
    assert modules_after(statement, ("yaml", "getopt")) == ["yaml", "getopt"]


def test_daemon_imports_watchfiles_and_croniter_only_when_a_formation_uses_them() -> None:
    assert modules_after("import procman.daemon.__main__", ("watchfiles", "croniter")) == []


DESCRIBED = {
    "type": {"name": "web", "defined_in": None, "cmd": "x", "cwd": "/p", "desired": 1,
             "port": None, "socket": False, "ready": "none", "ready_timeout": 30.0,
             "restart": "always", "kill_timeout": 5.0, "min_uptime": 5.0, "max_restarts": 10,
             "max_memory": None, "autoscale": None, "env_files": [], "logs": {}},
    "instances": [{**ROW, "pgid": 42, "last_exit": None, "command": ["x"], "cwd": "/p",
                   "readiness": {"check": "none", "timeout_s": 30.0, "state": "ready"},
                   "listener": None, "env": {"A": "1"}}],
}  # fmt: skip


def test_new_verbs_import_only_what_they_need(tmp_path: object) -> None:
    import os

    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}  # ls: an empty socket directory
    env.pop("PROCMAN_SOCKET", None)
    for argv, answer in (
        (["ls", "--json"], {}),
        (["describe", "web.1"], DESCRIBED),
        (["env", "web.1"], {"id": "web.1", "env": {"A": "1"}, "masked": True}),
        (["delete", "bg"], {"deleted": "bg", "stopped": ["bg.1"]}),
        (["restart", "--no-update"], {"status": [ROW], "ok": True}),
    ):
        printed, modules = modules_of_verb(argv, answer, env)
        assert printed, argv
        module = f"procman.cli.commands.{argv[0]}"
        others = [m for m in COMMAND_MODULES if m != module]
        assert loaded(modules, HEAVY) == [], argv
        assert loaded(modules, others) == [], argv


def test_dashboard_loads_its_server_only_when_it_serves() -> None:
    """`procman dashboard --help` (and `procman --help`, which loads every verb) stays light;
    Starlette and uvicorn come in only when the command runs."""
    for argv in (["dashboard", "--help"], ["--help"]):
        code = RUN_VERB.format(answer={}, argv=argv, entry="app")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        modules = set(out.stdout.rstrip("\n").rpartition("\n")[2].split())
        assert "procman.cli.commands.dashboard" in modules, argv
        assert loaded(modules, HEAVY) == [], argv


def test_without_the_extra_the_dashboard_says_what_to_install(tmp_path: Path) -> None:
    code = (
        "import sys\nsys.modules['uvicorn'] = None  # as if the extra were not installed\n"
        "sys.argv = ['procman', 'dashboard', '--port', '0']\n"
        "from procman.cli.app import main\nmain()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=30
    )
    assert out.returncode == 1, out
    assert out.stderr == (
        "error: procman dashboard needs Starlette and uvicorn (uvicorn is missing): "
        'pip install "procman[dashboard]"\n'
    )


def test_the_daemon_imports_no_psutil_on_linux() -> None:
    """The sampler reads /proc itself; psutil (~1.2 MiB) is for the diagnoses that need it."""
    statement = (
        "import procman.daemon.__main__, procman.config.yamlfile, procman.daemon.sampler; "
        "procman.daemon.sampler.Sampler().sample([1])"
    )
    assert modules_after(statement, ("psutil",)) == []
