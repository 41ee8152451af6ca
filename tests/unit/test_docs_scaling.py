"""The procman.yaml snippets of docs/scaling.md are formations procman accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from procman.config.yamlfile import parse_yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"
SNIPPETS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_page_has_snippets() -> None:
    assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("text", SNIPPETS)
def test_snippet_parses(text: str, tmp_path: Path) -> None:
    types, _env_file, _settings = parse_yaml(text, "docs/scaling.md", tmp_path)
    assert types
