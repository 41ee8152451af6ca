"""The procman.yaml JSON Schema: built from the loader's key table, shipped up to date, and
every example and docs snippet validates against it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from procman.config import keys, schema
from procman.config.yamlfile import _Parser

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "procman" / "config" / "procman.schema.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]


def validator() -> jsonschema.Draft7Validator:
    spec = schema.schema()
    jsonschema.Draft7Validator.check_schema(spec)
    return jsonschema.Draft7Validator(spec)


def test_every_kind_has_a_parser_and_a_schema_fragment() -> None:
    kinds = {
        k.kind for table in (keys.TOP_KEYS, keys.TYPE_KEYS, keys.AUTOSCALE_KEYS) for k in table
    }
    assert kinds <= set(schema.FRAGMENTS)
    assert all(callable(getattr(_Parser, kind, None)) for kind in kinds), kinds


def test_the_shipped_schema_is_the_generated_one() -> None:
    # regenerate with: python -c "from procman.config.schema import schema_text; \
    #   open('procman/config/procman.schema.json', 'w').write(schema_text())"
    assert SHIPPED.read_text() == schema.schema_text()


def test_schema_keys_are_the_parser_keys() -> None:
    spec = schema.schema()
    assert list(spec["properties"]) == list(keys.names(keys.TOP_KEYS))
    per_type = spec["properties"]["processes"]["additionalProperties"]["properties"]
    assert list(per_type) == list(keys.names(keys.TYPE_KEYS))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_and_point_editors_at_the_schema(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    target = text.splitlines()[0].split("$schema=", 1)[1].strip()
    assert (path.parent / target).resolve() == SHIPPED
    validator().validate(yaml.safe_load(text))


def snippets() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for number, block in enumerate(re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)):
            if "processes:" in block:
                found.append((f"{doc.name}#{number}", block))
    return found


@pytest.mark.parametrize(("where", "block"), snippets(), ids=[w for w, _ in snippets()])
def test_docs_snippets_validate(where: str, block: str) -> None:
    validator().validate(yaml.safe_load(block))


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"processes": {"web": {"cmd": "x", "port": 70000}}}, ["processes", "web", "port"]),
        ({"processes": {"web": {"cmd": "x", "instancs": 2}}}, ["processes", "web"]),
        ({"processes": {"web": {"cmd": "x", "restart": "sometimes"}}}, ["processes", "web"]),
        ({"processes": {"web": {"port": 80}}}, ["processes", "web"]),
        ({"processes": {"web": {"cmd": "x", "max_memory": "lots"}}}, ["processes", "web"]),
        ({"processes": {}}, ["processes"]),
        ({"procs": {}}, []),
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(doc: dict, path: list) -> None:
    errors = list(validator().iter_errors(doc))
    assert errors
    assert any(list(e.absolute_path)[: len(path)] == path for e in errors)


def test_procman_schema_prints_it() -> None:
    from click.testing import CliRunner

    from procman.cli.app import cli

    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == schema.schema()
