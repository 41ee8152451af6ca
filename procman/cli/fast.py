"""The CLI's fast path: `procman status|ps [TARGET] [--json] [-d DIR] [-f FILE]` and
`procman scale TYPE=N ... [-d DIR] [-f FILE]`, parsed and run without importing click.

Why: importing click (8.x pulls in inspect, typing, enum, uuid, platform, datetime,
gettext) costs about 4× a bare interpreter's whole start on this box, so no amount of
trimming procman's own imports brings `procman status` within 3× of `python -c pass`
while click is on its path. These two verbs are the ones scripts and people run in loops.

The rule: take the fast path only when argv is plainly one of those forms (each option at
most once, in one of the spellings below, values not starting with "-"); anything else
(help, a typo, an unknown option, `-dDIR`, a repeated option, a bad count, a global option
before the verb) goes to click, unchanged, so click's parsing, messages and exit codes stay
the one definition. tests/unit/test_fast_cli.py holds both paths to the same parse and the
same output for the same argv. Everything past the parse (the client, render, the error
edge) is the code the click commands call.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # annotations only (mypy reads it): typing costs ~2 ms
if TYPE_CHECKING:
    from typing import Any

VERBS = ("status", "ps", "scale")
VALUE_OPTIONS = {
    "-d": "directory",
    "--dir": "directory",
    "-f": "procfile",
    "--procfile": "procfile",
}


COMPLETE_VAR = "_PROCMAN_COMPLETE"  # set: click's shell completion is asking, not a user


def parse(argv: list[str]) -> dict[str, Any] | None:
    """argv (after the program name) as the click command's params, or None for click.

    status/ps -> {"verb", "target", "as_json", "procfile", "directory"};
    scale -> {"verb", "counts" (as the click command sends them), "procfile", "directory"}."""
    if not argv or argv[0] not in VERBS or COMPLETE_VAR in os.environ:
        return None
    verb = argv[0]
    params: dict[str, Any] = {"procfile": None, "directory": None}
    positional: list[str] = []
    as_json = False
    words = iter(argv[1:])
    for word in words:
        name, eq, value = word.partition("=") if word.startswith("--") else (word, "", "")
        if name in VALUE_OPTIONS and (eq or word == name):
            key = VALUE_OPTIONS[name]
            if not eq:
                value = next(words, "")
            if params[key] is not None or not value or value.startswith("-"):
                return None
            params[key] = value
        elif word == "--json" and verb != "scale" and not as_json:
            as_json = True
        elif word.startswith("-"):
            return None  # --help, --, an option of another verb: click says what it means
        else:
            positional.append(word)
    if not _paths_ok(params["procfile"], params["directory"]):
        return None
    if verb == "scale":
        counts = [_assignment(w) for w in positional]
        if not counts or None in counts:
            return None
        return {"verb": verb, "counts": dict(c for c in counts if c), **params}
    if len(positional) > 1:
        return None
    target = positional[0] if positional else None
    return {"verb": verb, "target": target, "as_json": as_json, **params}


def _paths_ok(procfile: str | None, directory: str | None) -> bool:
    """What click.Path(dir_okay=False) / (file_okay=False) would accept without a word."""
    return not (procfile and os.path.isdir(procfile)) and not (
        directory and os.path.exists(directory) and not os.path.isdir(directory)
    )


NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
DIGITS = frozenset("0123456789")


def _assignment(word: str) -> tuple[str, str] | None:
    """TYPE=N, TYPE=max, TYPE=+N, TYPE=-N as (type, the count as counts.CountSpec writes
    it), without counts.py (re, dataclasses and so inspect); None for anything else (click
    and counts.parse_assignment say what is wrong with it)."""
    name, eq, count = word.partition("=")
    if not eq or not name or not NAME_CHARS.issuperset(name):
        return None
    if count == "max":
        return name, count
    sign, digits = (count[0], count[1:]) if count[:1] in ("+", "-") else ("", count)
    if not digits or not DIGITS.issuperset(digits):
        return None
    return name, f"{int(sign + digits):+d}" if sign else str(int(digits))


def run(params: dict[str, Any]) -> None:
    """Do what the click command does with these params (options.project_options' edge,
    then commands/status.py or commands/scale.py); exits like click's standalone mode."""
    from procman.cli import render
    from procman.cli.client import Client
    from procman.errors import USAGE_CODES, DaemonUnavailable, ProcmanError, RemoteError

    procfile, directory = params["procfile"], params["directory"]
    if procfile is not None:
        procfile = os.path.realpath(procfile)
    if directory is None:
        directory = os.path.dirname(procfile) if procfile is not None else os.getcwd()
    client = Client(os.path.realpath(directory))
    try:
        if params["verb"] == "scale":
            with render.waiting("scaling…"):
                result = client.call("scale", {"counts": params["counts"]})
            if not render.outcome(result, "scale"):
                sys.exit(1)
            return
        try:
            result = client.call("status", {"target": params["target"]})
        except DaemonUnavailable as exc:
            from procman.cli.daemons import others_hint

            raise DaemonUnavailable(exc.message + others_hint(client.sock_path)) from None
        render.version_notice(result.get("version"))
        if params["as_json"]:
            render.print_json(result["instances"])
        else:
            render.status_table(
                result["instances"], result.get("types"), result.get("changed_files")
            )
    except RemoteError as exc:
        render.error(exc.message)
        sys.exit(2 if exc.code in USAGE_CODES else 1)
    except ProcmanError as exc:
        render.error(exc.message)
        sys.exit(1)


def main() -> None:
    """The `procman` console script: the fast path when argv is plainly status or scale,
    else click (procman.cli.app)."""
    params = parse(sys.argv[1:])
    if params is None:
        from procman.cli.app import main as click_main

        click_main()
        return
    try:
        run(params)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: the same words as app.main's
        from procman.cli import render

        render.error(f"internal error: {exc!r}; run with --debug for the traceback")
        sys.exit(1)
    sys.exit(0)
