"""`procman monit`: a live table of every instance, refreshed each second (Ctrl-C quits)."""

from __future__ import annotations

import time

from procman import render
from procman.client import Client

REFRESH = 1.0


def run_monit(client: Client) -> None:
    from rich.live import Live
    from rich.table import Table

    def table() -> Table:
        rows = client.call("status")["instances"]
        view = Table(title=f"procman monit — {client.project}", box=None, header_style="bold")
        for name in render.COLUMNS:
            view.add_column(name)
        for row in rows:
            view.add_row(*render._cells(row))
        return view

    try:
        with Live(table(), refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(REFRESH)  # the refresh period of a dashboard, not a wait for a fact
                live.update(table())
    except KeyboardInterrupt:
        pass
