"""`procman dashboard`: a web page over the daemons' control sockets (procman.cli.dashboard)."""

from __future__ import annotations

import os

import click

from procman.cli.options import Project, project_options
from procman.errors import ProcmanError

DEFAULT_PORT = 9500


@click.command()
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The port to serve on (0: any free one).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to bind; any but 127.0.0.1, ::1 or localhost needs the token.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option("--read-only", is_flag=True, help="Show, but refuse every action.")
@project_options
def dashboard(project: Project, port: int, host: str, open_browser: bool, read_only: bool) -> None:
    """Serve a web page of the formation: types, instances, cpu and memory history, live
    logs, and buttons to scale, restart, reload, stop and start. A picker switches between
    the daemons `procman ls` finds. The daemons are asked over their sockets, as the CLI
    does, and only while a page is open.

    \b
      procman dashboard                         http://127.0.0.1:9500/
      procman dashboard --port 0 --open         any free port, in a browser
      procman dashboard --host 0.0.0.0          from other machines, with a token
      procman dashboard --read-only             look, do not touch
    """
    try:
        from procman.cli.dashboard import guard, server
    except ImportError as exc:
        raise ProcmanError(
            f"procman dashboard needs Starlette and uvicorn ({exc.name} is missing): "
            'pip install "procman[dashboard]"'
        ) from None
    sock = server.bind(host, port)
    settings = server.Settings(
        project=project.dir,
        sock=project.client.sock_path,
        host=host,
        port=sock.getsockname()[1],
        token=guard.new_token() if guard.needs_token(host) else None,
        read_only=read_only,
        no_color=bool(os.environ.get("NO_COLOR")),
    )
    server.serve(settings, sock, open_browser)
