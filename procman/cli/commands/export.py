"""`procman export FORMAT DIR`."""

from __future__ import annotations

import os

import click

from procman.cli import render
from procman.cli.options import (
    Project,
    counts_options,
    parse_counts,
    project_options,
    share_option,
    source_params,
)


@click.command()
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["kubernetes", "systemd", "procfile"]))
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.argument("assignments", nargs=-1, metavar="[TYPE=N ...]")
@click.option("--image", help="kubernetes: the container image to run (required).")
@click.option("--namespace", help="kubernetes: the namespace of every object.")
@click.option("--app", "app_name", help="Application name (default: the project dir's name).")
@click.option("--single-file", is_flag=True, help="kubernetes: one multi-document YAML file.")
@click.option("--user", help="systemd: the User= the units run as.")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@click.option("-n", "--dry-run", is_flag=True, help="Print what would be written; write nothing.")
@click.option("-e", "--env-file", "env_files", metavar="FILES", help="Env files, comma-separated.")
@click.option("--no-env-file", is_flag=True, help="Load no .env file.")
@counts_options
@share_option
@project_options
def export(
    project: Project,
    fmt: str,
    out_dir: str,
    assignments: tuple[str, ...],
    image: str | None,
    namespace: str | None,
    app_name: str | None,
    single_file: bool,
    user: str | None,
    force: bool,
    dry_run: bool,
    env_files: str | None,
    no_env_file: bool,
    formation: tuple[str, ...],
    share: tuple[str, ...],
) -> None:
    """Write the formation for another engine: Kubernetes manifests, systemd units, or a
    Procfile with its counts in .foreman (`formation: web=4,worker=2`). The counts are the
    running daemon's (else the file's), then TYPE=N / -m.

    \b
      procman export kubernetes k8s/ --image registry.example/app:1.4
      procman export systemd units/ --app shop
      procman export procfile . --force
      procman export systemd units/ -m web=4,worker=2
    """
    from pathlib import Path

    from procman.config.load import Source, apply_counts, cpu_count, load_formation
    from procman.counts import CountSpec, resolve_counts
    from procman.export import ExportOptions, export_warnings, render_export, summary, write_export

    params, _ = source_params(project, None, "web", None, env_files, no_env_file, share)
    source = Source.from_dict(params or {})
    loaded = load_formation(Path(project.dir), source)
    counts, every = parse_counts(assignments + formation)
    running = _running_counts(project)
    default = CountSpec.parse(every).apply(0, cpu_count()) if every else None
    current = {t.name: running.get(t.name, t.instances) for t in loaded.types}
    fixed = {n: c for n, c in running.items() if n in current and default is None}
    fixed.update(resolve_counts(counts, current, loaded.names))
    loaded = apply_counts(loaded, default, fixed)
    options = ExportOptions(
        app=app_name or os.path.basename(project.dir),
        image=image,
        namespace=namespace,
        single_file=single_file,
        user=user,
    )
    files = render_export(loaded, fmt, options)
    written = write_export(files, Path(out_dir), force=force, dry_run=dry_run)
    for note in export_warnings(loaded, fmt):
        render.warn(note)
    if dry_run:
        for name, text in written:
            render.info(f"--- {name}\n{text}")
        return
    for name, _ in written:
        render.info(f"wrote {name}")
    render.info(summary(fmt, options, Path(out_dir)))


def _running_counts(project: Project) -> dict[str, int]:
    """The running daemon's counts per type; {} when none runs for the project."""
    from procman.errors import DaemonUnavailable, RemoteError

    try:
        info = project.client.call("formation")
    except (DaemonUnavailable, RemoteError):
        return {}
    return {t["name"]: t["desired"] for t in info.get("types", []) if "desired" in t}
