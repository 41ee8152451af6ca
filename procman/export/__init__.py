"""`procman export FORMAT DIR`: the formation for engines that run fleets.

render_export() turns a Formation into file texts (pure; one module per format),
write_export() puts them on disk without clobbering, summary() says what to run next.
See docs/export.md for what each format carries over and what it cannot.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from procman.errors import ProcmanError, UsageError
from procman.model import Formation

FORMATS = ("kubernetes", "systemd", "procfile")


@dataclass(frozen=True, slots=True)
class ExportOptions:
    app: str  # application name; each format makes it a valid name for its engine
    image: str | None = None  # kubernetes: required
    namespace: str | None = None  # kubernetes
    single_file: bool = False  # kubernetes: one multi-document YAML file
    user: str | None = None  # systemd: User= of every service (default: root)


def render_export(formation: Formation, fmt: str, options: ExportOptions) -> dict[str, str]:
    """Relative file name -> file text, in a stable order (the same input gives the same
    bytes, so a re-export diffs cleanly)."""
    if fmt == "kubernetes":
        from procman.export import kubernetes

        return kubernetes.render(
            formation, options.app, options.image, options.namespace, options.single_file
        )
    if fmt == "systemd":
        from procman.export import systemd

        return systemd.render(formation, options.app, options.user)
    if fmt == "procfile":
        from procman.export import procfile

        return procfile.render(formation)
    raise UsageError(f"{fmt!r} is not an export format ({', '.join(FORMATS)})")


def export_warnings(formation: Formation, fmt: str) -> list[str]:
    """What an export cannot carry over by itself and the user must hear about at once (the
    same notes are written as comments in the files)."""
    if fmt == "kubernetes":
        from procman.export import kubernetes

        return kubernetes.warnings(formation)
    return []


def write_export(
    files: dict[str, str], out_dir: Path, force: bool, dry_run: bool
) -> list[tuple[str, str]]:
    """Write `files` under `out_dir` (created if needed); [(path as shown, text)] in order.

    Without `force`, nothing is written when any of the files exists: half an export next to
    half of an older one is worse than none. A dry run writes nothing and never fails on
    existing files.
    """
    planned = [(out_dir / name, text) for name, text in files.items()]
    shown = [(str(path), text) for path, text in planned]
    if dry_run:
        return shown
    if out_dir.exists() and not out_dir.is_dir():
        raise ProcmanError(f"{out_dir} exists and is not a directory")
    if not force:
        existing = [str(path) for path, _ in planned if path.exists() or path.is_symlink()]
        if existing:
            listed = ", ".join(existing[:5])
            if len(existing) > 5:
                listed += f" and {len(existing) - 5} more"
            verb = "exists" if len(existing) == 1 else "exist"
            raise ProcmanError(f"{listed} already {verb}; use --force to overwrite")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for path, text in planned:
            _write(path, text)
    except OSError as exc:
        raise ProcmanError(f"cannot write {exc.filename or out_dir}: {exc.strerror}") from None
    return shown


def _write(path: Path, text: str) -> None:
    """Through a temporary file and rename, so a reader never sees half a file. A file that
    holds a Kubernetes Secret is readable by its owner only."""
    private = "\nkind: Secret\n" in f"\n{text}"
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


def summary(fmt: str, options: ExportOptions, out_dir: Path) -> str:
    """What to run next, for the user to copy."""
    where = shlex.quote(str(out_dir))
    if fmt == "kubernetes":
        lines = ["apply it with:", f"  kubectl apply -f {where}"]
        if options.namespace:
            lines.insert(
                0, f"create the namespace first: kubectl create namespace {options.namespace}"
            )
        return "\n".join(lines)
    if fmt == "systemd":
        from procman.export.systemd import unit_prefix

        prefix = unit_prefix(options.app)
        units = f"{where}/{prefix}.target {where}/{prefix}-*"
        return "\n".join(
            [
                "install and start it with:",
                f"  sudo cp {units} /etc/systemd/system/",
                f"  sudo systemctl enable --now {prefix}.target",
            ]
        )
    return (
        f"{where}/Procfile and {where}/.foreman hold the formation: `foreman start` runs it "
        "with these counts, and Heroku-style platforms run the Procfile"
    )
