"""`procman export FORMAT DIR`."""

from __future__ import annotations

import os

import click

from procman.cli import render
from procman.cli.options import Project, project_options, source_params


@click.command()
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

    params, _ = source_params(project, None, "web", None, env_files, no_env_file)
    source = Source.from_dict(params or {})
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
