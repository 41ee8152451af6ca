"""`procman run`: a one-off command in the foreground with the formation's environment."""

from __future__ import annotations

import os
import sys

import click

from procman.cli import render
from procman.cli.options import Project, project_options, source_params


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="COMMAND [ARGS...]")
@click.option("-t", "--type", "type_name", metavar="TYPE", help="Also TYPE's env and PORT.")
@click.option("-p", "--port", type=click.IntRange(1, 65535), help="Procfile base port.")
@click.option("-e", "--env-file", "env_files", metavar="FILES", help="Env files, comma-separated.")
@click.option("--no-env-file", is_flag=True, help="Load no .env file.")
@project_options
def run(
    project: Project,
    command: tuple[str, ...],
    type_name: str | None,
    port: int | None,
    env_files: str | None,
    no_env_file: bool,
) -> None:
    """Run COMMAND in the foreground with the formation's env files (no daemon needed):
    the terminal, stdin/stdout/stderr and the exit code are the command's own.

    \b
      procman run python manage.py migrate
      procman run -t web 'echo $PORT'       TYPE's env and PORT too
      procman run web                       a type's own command (Foreman's run PROCESS)
    """
    import signal
    from pathlib import Path

    from procman.config.load import Source
    from procman.oneoff import prepare

    params, _ = source_params(project, None, "web", port, env_files, no_env_file)
    source = Source.from_dict(params or {})
    job = prepare(Path(project.dir), source, command, type_name, os.environ)
    if job.cwd is not None:
        os.chdir(job.cwd)
    sys.stdout.flush()
    sys.stderr.flush()
    # Python ignores SIGPIPE (and SIGXFSZ); an exec'd program must get the defaults back
    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        os.execvpe(job.argv[0], job.argv, job.env)
    except FileNotFoundError:
        render.error(f"command not found: {job.argv[0]}")
        sys.exit(127)
    except PermissionError:
        render.error(f"not executable: {job.argv[0]}")
        sys.exit(126)
    except OSError as exc:
        render.error(f"cannot run {job.argv[0]}: {exc.strerror or exc}")
        sys.exit(126)
