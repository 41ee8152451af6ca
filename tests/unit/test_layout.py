"""The layout's arrows, held by reading the imports (no module is run)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "procman"
LEAVES = {
    "errors", "names", "model", "paths", "protocol", "counts", "shell", "order", "signames",
    "timespec",
}  # fmt: skip
MAX_LINES = 400
SUPERVISOR_MAX = 400  # the verbs only; past this, move a job out


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def test_the_daemon_never_imports_the_cli() -> None:
    for name, path in modules().items():
        if name.startswith("procman.daemon"):
            assert not {i for i in imports(path) if i.startswith("procman.cli")}, name


def test_only_the_composition_root_and_the_handlers_import_the_supervisor() -> None:
    importers = {
        name
        for name, path in modules().items()
        if any(i.startswith("procman.daemon.supervisor") for i in imports(path))
    }
    assert importers <= {"procman.daemon.main", "procman.daemon.handlers"}


def test_leaves_use_only_the_standard_library_and_other_leaves() -> None:
    allowed = {f"procman.{leaf}" for leaf in LEAVES} | {"procman"}
    for leaf in LEAVES:
        for name in imports(PACKAGE / f"{leaf}.py"):
            top = name.split(".")[0]
            if top == "procman":
                assert name in allowed or name.rsplit(".", 1)[0] in allowed, (leaf, name)
            else:
                assert top in sys.stdlib_module_names or top == "__future__", (leaf, name)


def test_modules_stay_small() -> None:
    for name, path in modules().items():
        lines = len(path.read_text().splitlines())
        limit = SUPERVISOR_MAX if name == "procman.daemon.supervisor" else MAX_LINES
        assert lines <= limit, f"{name} has {lines} lines (split it by job; limit {limit})"
