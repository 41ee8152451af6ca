"""Formation -> a Procfile and the `.foreman` file that holds its counts, for Foreman and the
Heroku-style platforms that read a Procfile. Pure: no files.

A Procfile has no place for counts. Foreman reads options from `.foreman` in the directory
it runs in, and its `formation` option takes exactly the `web=4,worker=2` form that
`foreman start -m` and `heroku ps:scale` (with spaces) take, so that is where the counts go.
"""

from __future__ import annotations

import shlex

from procman.config.envfiles import mask_env
from procman.errors import ProcmanError
from procman.export.common import generated_by, relative_cwd
from procman.model import Formation, ProcessType

PROCFILE = "Procfile"
COUNTS_FILE = ".foreman"


def formation_line(formation: Formation) -> str:
    """`web=4,worker=2`, in formation order."""
    return ",".join(f"{ptype.name}={ptype.instances}" for ptype in formation.types)


def parse_formation_line(text: str) -> dict[str, int]:
    """The counts of a `.foreman` file's `formation:` line (the inverse of formation_line)."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "formation":
            counts = {}
            for item in value.strip().strip("'\"").split(","):
                name, _, count = item.strip().partition("=")
                if not count.strip().isdigit():
                    raise ValueError(f"{item.strip()!r} is not TYPE=N")
                counts[name.strip()] = int(count)
            return counts
    raise ValueError("no `formation:` line")


def render(formation: Formation) -> dict[str, str]:
    header = f"# {generated_by('procfile', formation)}\n"
    lines = [f"# The counts are in {COUNTS_FILE}: formation: {formation_line(formation)}"]
    for ptype in formation.types:
        lines += _lost(ptype)
        lines.append(f"{ptype.name}: {_command(formation, ptype)}")
    counts = [
        f"# foreman start and foreman export run these counts; on Heroku: "
        f"heroku ps:scale {formation_line(formation).replace(',', ' ')}",
        f"formation: {formation_line(formation)}",
    ]
    return {
        PROCFILE: header + "\n".join(lines) + "\n",
        COUNTS_FILE: header + "\n".join(counts) + "\n",
    }


def _command(formation: Formation, ptype: ProcessType) -> str:
    cmd = ptype.cmd.strip()
    if "\n" in cmd or "\r" in cmd:
        raise ProcmanError(
            f"{ptype.name}: a command of several lines cannot be a Procfile line; "
            "move it into a script and run that"
        )
    cwd = relative_cwd(formation, ptype)
    # Foreman and Heroku run every command from the Procfile's directory.
    return f"cd {shlex.quote(cwd)} && {cmd}" if cwd else cmd


def _lost(ptype: ProcessType) -> list[str]:
    """Comment lines for what a Procfile cannot say about this type."""
    lost = []
    if ptype.port is not None:
        lost.append(f"port {ptype.port} (the platform sets $PORT)")
    if ptype.env:
        # One comment line: a value of several lines would end the comment early.
        shown = ", ".join(
            f"{key}={value}" if value.isprintable() else f"{key}=(not shown)"
            for key, value in mask_env(ptype.env).items()
        )
        lost.append(f"env {shown} (set it where the app runs)")
    return [f"# {ptype.name}: not carried over: {'; '.join(lost)}"] if lost else []
