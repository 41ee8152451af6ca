"""The `procman` command: parse, call the daemon, hand the answer to render.

Thin on purpose: no domain decisions here. Imports stay light (no rich, yaml, psutil or
asyncio unless a command needs them), so `procman status` starts fast.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import sys
from collections.abc import Callable
from typing import Any

import click

from procman import __version__
from procman.cli import render
from procman.cli.client import Client, ensure_daemon
from procman.errors import ErrorCode, ProcmanError, RemoteError, UsageError

ASSIGNMENT = re.compile(r"^[A-Za-z0-9_-]+=\S+$")
USAGE_CODES = {ErrorCode.BAD_PARAMS, ErrorCode.NOT_FOUND, ErrorCode.BAD_REQUEST}
INTERPRETERS = {".py": sys.executable, ".js": "node", ".sh": "sh", ".rb": "ruby"}


class Project:
    def __init__(self, directory: str, procfile: str | None) -> None:
        self.dir, self.procfile = directory, procfile
        self.client = Client(directory)


def project_options(func: Callable[..., Any] | None = None, *, short_f: bool = True) -> Any:
    """-f/--procfile and -d/--dir on every command; the function gets `project`.
    `logs` keeps -f for --follow (tail's and PM2's meaning) and spells --procfile in full."""
    if func is None:
        return functools.partial(project_options, short_f=short_f)
    flags = ("-f", "--procfile") if short_f else ("--procfile",)

    @click.option(
        *flags,
        "procfile",
        type=click.Path(dir_okay=False),
        help="The Procfile or procman.yaml (default: the one in the project dir).",
    )
    @click.option(
        "-d",
        "--dir",
        "directory",
        type=click.Path(file_okay=False),
        help="The project directory (default: the Procfile's, else the current one).",
    )
    @functools.wraps(func)
    def wrapper(procfile: str | None, directory: str | None, **kwargs: Any) -> Any:
        if procfile is not None:
            procfile = os.path.realpath(procfile)
        if directory is None:
            directory = os.path.dirname(procfile) if procfile is not None else os.getcwd()
        project = Project(os.path.realpath(directory), procfile)
        try:
            return func(project=project, **kwargs)
        except RemoteError as exc:
            render.error(exc.message)
            sys.exit(2 if exc.code in USAGE_CODES else 1)
        except UsageError as exc:
            raise click.UsageError(exc.message) from None
        except ProcmanError as exc:
            render.error(exc.message)
            sys.exit(1)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="procman")
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Run a Procfile or procman.yaml formation: N copies of each process type, restarted
    when they crash, web types sharing one port through SO_REUSEPORT.

    \b
      procman start -i max        every type gets one instance per CPU
      procman scale web=8         also web=max, web=+2, web=-1
      procman status              what runs (--json for scripts)
      procman logs -f             merged logs, live
      procman shutdown            stop everything and the daemon
    """
    ctx.obj = {"debug": debug}


def _source(
    project: Project,
    target: str | None,
    name: str,
    port: int | None,
    env_files: str | None,
    no_env_file: bool,
) -> dict[str, Any] | None:
    """What the daemon should load: None means "whatever it had, or the project's file"."""
    from pathlib import Path

    from procman.config.load import Source

    procfile = project.procfile
    command = None
    if target:
        path = Path(target)
        if path.is_file() and (
            path.suffix in (".yaml", ".yml") or path.name.startswith("Procfile")
        ):
            procfile = str(path.resolve())
        elif path.is_file():
            runner = INTERPRETERS.get(path.suffix)
            quoted = shlex.quote(str(path.resolve()))
            command = f"{shlex.quote(runner)} {quoted}" if runner else quoted
        else:
            command = target
    files = tuple(f.strip() for f in env_files.split(",") if f.strip()) if env_files else None
    if not (procfile or command or files or no_env_file or port):
        return None
    return Source(
        procfile=procfile,
        command=command,
        name=name,
        port=port if command else None,
        env_files=files,
        no_env_file=no_env_file,
        port_base=port if port and not command else 5000,
    ).to_dict()


def _count(text: str | None) -> str | None:
    if text is None:
        return None
    from procman.counts import CountSpec

    spec = CountSpec.parse(text)
    if spec.kind == "rel":
        raise UsageError(f"-i takes a number or max, not {text!r}")
    return str(spec)


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, metavar="[TARGET] [TYPE=N ...]")
@click.option("-i", "--instances", metavar="N|max", help="Count for every type without TYPE=N.")
@click.option("--name", default="web", show_default=True, help="Type name for an ad-hoc command.")
@click.option(
    "-p",
    "--port",
    type=click.IntRange(1, 65535),
    help="Port of an ad-hoc command, or the Procfile base port (default 5000).",
)
@click.option("-e", "--env-file", "env_files", metavar="FILES", help="Env files, comma-separated.")
@click.option("--no-env-file", is_flag=True, help="Load no .env file.")
@click.option("--foreground", is_flag=True, help="Stay attached, Foreman style; Ctrl-C stops all.")
@project_options
def start(
    project: Project,
    args: tuple[str, ...],
    instances: str | None,
    name: str,
    port: int | None,
    env_files: str | None,
    no_env_file: bool,
    foreground: bool,
) -> None:
    """Start the daemon if needed and bring the formation up.

    TARGET is a Procfile/YAML path, a script (app.py) or a command ("python app.py"),
    PM2 style. Returns once every instance is ready or has failed (exit 1).

    \b
      procman start                     the project's procman.yaml or Procfile
      procman start -i max              one instance of every type per CPU
      procman start web=4 worker=2      set counts per type
      procman start app.py -i 4         a script, PM2 style (type "web")
      procman start "node srv.js" --name api --port 8000 -i max
      procman start --foreground        attached, Foreman style; Ctrl-C stops all
    """
    from procman.counts import parse_assignment

    counts = dict(parse_assignment(a) for a in args if ASSIGNMENT.match(a))
    targets = [a for a in args if not ASSIGNMENT.match(a)]
    if len(targets) > 1:
        raise UsageError(f"one TARGET at most, got {len(targets)}: {' '.join(targets)}")
    params = {
        "source": _source(
            project, targets[0] if targets else None, name, port, env_files, no_env_file
        ),
        "counts": {k: str(v) for k, v in counts.items()},
        "instances": _count(instances),
    }
    if foreground:
        sys.exit(_foreground(project, params))
    started = ensure_daemon(project.dir, project.client)
    try:
        with render.waiting("starting the formation…"):
            result = project.client.call("start", params)
    except RemoteError:
        if started:  # a daemon we started for a formation that cannot load: take it back
            project.client.call("shutdown")
        raise
    if not render.outcome(result, "start"):
        sys.exit(1)


def _foreground(project: Project, params: dict[str, Any]) -> int:
    from pathlib import Path

    from procman.daemon import main as daemon

    if project.client.alive():
        raise ProcmanError(f'a daemon already runs for {project.dir}; use "procman logs -f"')
    return daemon.run(
        Path(project.dir),
        autostart=params,
        sink=render.foreground_sink(),
        on_error=render.error,
        log_level=40,
    )


@cli.command()
@click.argument("assignments", nargs=-1, required=True, metavar="TYPE=N [TYPE=N ...]")
@project_options
def scale(project: Project, assignments: tuple[str, ...]) -> None:
    """Set counts; returns when the new instances are ready and the surplus has stopped.

    \b
      procman scale web=8               exactly 8
      procman scale web=max             one per CPU
      procman scale web=+2 worker=-1    relative to what runs now
    """
    from procman.counts import parse_assignment

    counts = {name: str(spec) for name, spec in map(parse_assignment, assignments)}
    with render.waiting("scaling…"):
        result = project.client.call("scale", {"counts": counts})
    if not render.outcome(result, "scale"):
        sys.exit(1)


@cli.command()
@click.argument("target", required=False, metavar="[TYPE|ID]")
@click.option("--json", "as_json", is_flag=True, help="A JSON list, one object per instance.")
@project_options
def status(project: Project, target: str | None, as_json: bool) -> None:
    """Show every instance: id, pid, state, uptime, restarts, cpu, memory, port."""
    result = project.client.call("status", {"target": target})
    if as_json:
        render.print_json(result["instances"])
    else:
        render.status_table(result["instances"], result.get("types"))


@cli.command()
@click.argument("target", required=False, metavar="[TYPE|ID]")
@click.option(
    "-n",
    "--lines",
    default=50,
    show_default=True,
    type=click.IntRange(0, 100_000),
    help="How many recent lines.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@project_options(short_f=False)
def logs(project: Project, target: str | None, lines: int, follow: bool) -> None:
    """Recent output of every instance, merged in time order: `HH:MM:SS web.3 | line`.

    \b
      procman logs                      the last 50 lines of everything
      procman logs web -n 200           one type
      procman logs web.2 -f             one instance, then follow
    """
    fmt = render.log_formatter()
    params = {"target": target, "lines": lines, "follow": follow}
    try:
        for chunk in project.client.stream("logs", params):
            render.log_lines(chunk["lines"], fmt)
            if not follow:
                break
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _simple_verb(method: str, doc: str, waiting: str) -> click.Command:
    @click.argument("target", required=False, metavar="[TYPE|ID|all]")
    @project_options
    def command(project: Project, target: str | None) -> None:
        with render.waiting(waiting):
            result = project.client.call(method, {"target": target})
        if not render.outcome(result, method):
            sys.exit(1)

    command.__doc__ = doc
    return click.command(method)(command)


cli.add_command(_simple_verb("restart", "Stop then start instances (default: all).", "restarting…"))


@cli.command()
@click.argument("target", required=False, metavar="[TYPE|all]")
@click.option(
    "--parallel",
    default=1,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Slots replaced at a time.",
)
@project_options
def reload(project: Project, target: str | None, parallel: int) -> None:
    """Zero-downtime rolling reload: re-read the formation and env files, then for each
    instance start its replacement on the same listener, wait until it is ready, and only
    then stop the old one. A replacement that fails stops the rollout (exit 1) and leaves
    the old instances serving.

    \b
      procman reload web                one slot at a time
      procman reload all --parallel 4   four slots at a time
    """
    with render.waiting("reloading…"):
        result = project.client.call("reload", {"target": target, "parallel": parallel})
    if not render.outcome(result, "reload"):
        sys.exit(1)


cli.add_command(
    _simple_verb(
        "stop", "Stop instances (default: all); the daemon and the counts stay.", "stopping…"
    )
)


@cli.command()
@click.argument("type_name", metavar="TYPE")
@click.argument("switch", type=click.Choice(["on", "off"]))
@project_options
def autoscale(project: Project, type_name: str, switch: str) -> None:
    """Hand TYPE's count back to its autoscale rule (on), or hold the current count (off).
    `procman scale` on an autoscaled type turns it off until `procman autoscale TYPE on`."""
    result = project.client.call("autoscale", {"type": type_name, "on": switch == "on"})
    for summary in result["types"]:
        if summary["name"] == type_name and summary["autoscale"]:
            rule = summary["autoscale"]
            state = "manual count" if rule["manual"] else f"target {rule['target']}"
            render.info(
                f"{type_name}: autoscale {switch} ({rule['min']}-{rule['max']} "
                f"@{rule['cpu']:g}% cpu, {state})"
            )


@cli.command()
@project_options
def shutdown(project: Project) -> None:
    """Stop every instance, then the daemon exits."""
    with render.waiting("shutting down…"):
        result = project.client.call("shutdown")
    render.info(f"stopped {result['stopped']} instance(s); the daemon has exited")


@cli.command()
@click.option("-i", "--instances", metavar="N|max", help="Count for every type.")
@click.option("-p", "--port", type=click.IntRange(1, 65535), help="Procfile base port.")
@click.option("-e", "--env-file", "env_files", metavar="FILES", help="Env files, comma-separated.")
@click.option("--no-env-file", is_flag=True, help="Load no .env file.")
@click.option("--json", "as_json", is_flag=True, help="Print the formation as JSON.")
@project_options
def check(
    project: Project,
    instances: str | None,
    port: int | None,
    env_files: str | None,
    no_env_file: bool,
    as_json: bool,
) -> None:
    """Validate the formation and print it; exit 1 on any error."""
    from pathlib import Path

    from procman.config.describe import describe_formation
    from procman.config.load import Source, apply_counts, cpu_count, load_formation
    from procman.counts import CountSpec

    source = Source.from_dict(_source(project, None, "web", port, env_files, no_env_file) or {})
    formation = load_formation(Path(project.dir), source)
    count = _count(instances)
    if count is not None:
        formation = apply_counts(formation, CountSpec.parse(count).apply(0, cpu_count()))
    described = describe_formation(formation)
    render.print_json(described) if as_json else render.formation(described)


@cli.command()
@click.option("--detach", is_flag=True, help="Fork into the background (what `start` uses).")
@click.option("-i", "--instances", metavar="N|max", help="Count for every type.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve Prometheus /metrics on this port ($PROCMAN_METRICS_HOST, 127.0.0.1).",
)
@project_options
def daemon(project: Project, detach: bool, instances: str | None, metrics_port: int | None) -> None:
    """Run the supervisor in the foreground (containers, systemd, PID 1) and start the
    formation; SIGTERM or SIGINT stops everything gracefully. Logs go to stdout."""
    argv = [sys.executable, "-m", "procman.daemon", "-d", str(project.dir)]
    if project.procfile:
        argv += ["-f", str(project.procfile)]
    if instances:
        argv += ["-i", _count(instances) or ""]
    if metrics_port:
        argv += ["--metrics-port", str(metrics_port)]
    if detach:
        argv.append("--detach")
    sys.stdout.flush()
    # exec, not call: same pid (PID 1, systemd), and the long-lived process sheds click/rich
    os.execv(sys.executable, argv)


@cli.command()
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["kubernetes", "systemd", "procfile"]))
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--image", help="kubernetes: the container image to run (required).")
@click.option("--namespace", help="kubernetes: the namespace of every object.")
@click.option("--app", "app_name", help="Application name (default: the project dir's name).")
@click.option("--single-file", is_flag=True, help="kubernetes: one multi-document YAML file.")
@click.option("--user", help="systemd: the User= the units run as.")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@click.option("-n", "--dry-run", is_flag=True, help="Print what would be written; write nothing.")
@click.option("-e", "--env-file", "env_files", metavar="FILES", help="Env files, comma-separated.")
@click.option("--no-env-file", is_flag=True, help="Load no .env file.")
@project_options
def export(
    project: Project,
    fmt: str,
    out_dir: str,
    image: str | None,
    namespace: str | None,
    app_name: str | None,
    single_file: bool,
    user: str | None,
    force: bool,
    dry_run: bool,
    env_files: str | None,
    no_env_file: bool,
) -> None:
    """Write the formation for another engine: Kubernetes manifests, systemd units, or a
    Procfile with its counts in .foreman (`formation: web=4,worker=2`).

    \b
      procman export kubernetes k8s/ --image registry.example/app:1.4
      procman export systemd units/ --app shop
      procman export procfile . --force
    """
    from pathlib import Path

    from procman.config.load import Source, load_formation
    from procman.export import ExportOptions, render_export, summary, write_export

    source = Source.from_dict(_source(project, None, "web", None, env_files, no_env_file) or {})
    formation = load_formation(Path(project.dir), source)
    options = ExportOptions(
        app=app_name or os.path.basename(project.dir),
        image=image,
        namespace=namespace,
        single_file=single_file,
        user=user,
    )
    files = render_export(formation, fmt, options)
    written = write_export(files, Path(out_dir), force=force, dry_run=dry_run)
    if dry_run:
        for name, text in written:
            render.info(f"--- {name}\n{text}")
        return
    for name, _ in written:
        render.info(f"wrote {name}")
    render.info(summary(fmt, options, Path(out_dir)))


@cli.command()
@project_options
def monit(project: Project) -> None:
    """A live dashboard: state, cpu, memory, restarts and cpu history per type and instance
    (q quits, tab/n/p pick a type, a shows all)."""
    from procman.cli.monit import run_monit

    run_monit(project.client)


cli.add_command(status, "ps")
cli.add_command(shutdown, "kill")


def main() -> None:
    try:
        cli(prog_name="procman", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: say so briefly, the traceback is one flag away
        if "--debug" in sys.argv:
            raise
        render.error(f"internal error: {exc!r}; run with --debug for the traceback")
        sys.exit(1)
