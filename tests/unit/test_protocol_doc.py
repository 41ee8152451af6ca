"""docs/protocol.md documents exactly the methods the daemon serves."""

import re
from pathlib import Path

from procman.protocol import METHODS

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_every_method_is_documented_and_nothing_else() -> None:
    documented = set(re.findall(r"^### `(\w+)`", DOC.read_text(), flags=re.M))
    assert documented == set(METHODS)


def test_handler_table_matches_methods() -> None:
    from procman.daemon.handlers import Handlers

    handlers = Handlers(supervisor=None, hub=None, on_shutdown=None)  # type: ignore[arg-type]
    assert set(handlers.table) == set(METHODS)
