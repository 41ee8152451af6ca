"""`procman schema`: the JSON Schema of procman.yaml."""

from __future__ import annotations

import click


@click.command()
def schema() -> None:
    """Print the JSON Schema of procman.yaml (for editors and CI checks).

    \b
      procman schema > procman.schema.json
      # then, as the first line of procman.yaml:
      # yaml-language-server: $schema=procman.schema.json
    """
    from procman.config.schema import schema_text

    click.echo(schema_text(), nl=False)
