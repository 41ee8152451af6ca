"""Import discipline: the CLI's hot path and the daemon stay light (run in a fresh
interpreter, since this test process has imported everything already)."""

import subprocess
import sys


def modules_after(statement: str, heavy: tuple[str, ...]) -> list[str]:
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_cli_imports_no_rich_psutil_yaml_or_asyncio() -> None:
    assert modules_after("import procman.cli.app", ("rich", "psutil", "yaml", "asyncio")) == []


def test_daemon_imports_no_click_or_rich() -> None:
    assert modules_after("import procman.daemon.__main__", ("click", "rich")) == []
