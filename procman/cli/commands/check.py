"""`procman check`: load and validate the formation here, without a daemon."""

from __future__ import annotations

import click

from procman.cli import render
from procman.cli.options import (
    Project,
    count_param,
    counts_options,
    parse_counts,
    project_options,
    share_option,
    source_params,
)


@click.command()
@click.argument("assignments", nargs=-1, metavar="[TYPE=N ...]")
@click.option("-i", "--instances", metavar="N|max", help="Count for every type.")
@click.option("-p", "--port", type=click.IntRange(1, 65535), help="Procfile base port.")
@click.option("-e", "--env-file", "env_files", metavar="FILES", help="Env files, comma-separated.")
@click.option("--no-env-file", is_flag=True, help="Load no .env file.")
@click.option("--json", "as_json", is_flag=True, help="Print the formation as JSON.")
@counts_options
@share_option
@project_options
def check(
    project: Project,
    assignments: tuple[str, ...],
    instances: str | None,
    port: int | None,
    env_files: str | None,
    no_env_file: bool,
    as_json: bool,
    formation: tuple[str, ...],
    share: tuple[str, ...],
) -> None:
    """Validate the formation and print every setting, the ports and the start order;
    exit 1 on any error."""
    from pathlib import Path

    from procman.config.describe import describe_formation
    from procman.config.load import Source, apply_counts, cpu_count, load_formation
    from procman.counts import CountSpec

    params, _ = source_params(project, None, "web", port, env_files, no_env_file, share)
    source = Source.from_dict(params or {})
    loaded = load_formation(Path(project.dir), source)
    counts, every = parse_counts(assignments + formation)
    count = count_param(instances or every)
    default = CountSpec.parse(count).apply(0, cpu_count()) if count is not None else None
    fixed = {name: CountSpec.parse(n).apply(0, cpu_count()) for name, n in counts.items()}
    described = describe_formation(apply_counts(loaded, default, fixed))
    render.print_json(described) if as_json else render.formation(described)
