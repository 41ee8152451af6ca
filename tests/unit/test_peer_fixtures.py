"""Foreman's and Honcho's own Procfile and .env cases (tests/fixtures, see its README):
procman's loader gives the same types, commands, environment and ports, or differs on
purpose, and each such case says how and why (the same table is in docs/formation.md).

Every case is read as `procman check` reads it: the Procfile through load_formation, the
env files it names; `environ` is empty, so only the files set the base port."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from procman.config.envfiles import instance_env, read_env_files
from procman.config.load import Source, load_formation
from procman.config.procfile import port_base
from procman.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CASES = sorted(p for p in FIXTURES.glob("*/*") if (p / "expected.json").is_file())
UNSET = object()

# Why procman parts ways with a peer, once per reason.
STRICT_PROCFILE = (
    "procman refuses a Procfile line it cannot read (no ':', a bad name, an empty command) "
    "with file:line, where the peer skips it silently: a typo must not drop a process"
)
NO_DUPLICATES = (
    "a duplicate type name is an error naming both lines (as Honcho does); Foreman runs both "
    "entries as web.1"
)
NO_TYPES = "a Procfile with no process types is an error, as in Foreman (Honcho starts nothing)"
DOTENV_INTERPOLATION = (
    "python-dotenv expands ${VAR} (not $VAR) from earlier keys, single quotes included; "
    "neither peer interpolates"
)
DOTENV_STRICT = (
    "a line python-dotenv cannot parse (an unbalanced or half-quoted value) is an error with "
    "file:line; Foreman keeps the raw text, Honcho crashes"
)
DOTENV_MULTILINE = (
    "python-dotenv reads a double-quoted value across lines, as most dotenv libraries do; "
    "both peers split the file into lines first"
)
DOTENV_SYNTAX = (
    "python-dotenv reads `export K=v`, indented lines and `K = v`, and starts a comment at "
    "' #' in an unquoted value; Foreman's regex skips those lines and keeps the '#'"
)
DOTENV_HONCHO_SYNTAX = (
    "python-dotenv sets `K=` to '' and keeps unquoted inner spaces and keys starting with a "
    "digit; Honcho's shlex drops `K=`, joins words without their spaces, and skips such keys"
)
DOTENV_ESCAPES = (
    "in single quotes python-dotenv keeps backslashes as written; Honcho turns \\n and \\t "
    "into newline and tab in every value"
)
DOTENV_BARE_BACKSLASH = (
    'an unquoted value is taken as written by python-dotenv (\\"x\\" keeps its backslashes); '
    "Honcho's shlex eats them"
)
DOTENV_KEYS = (
    "python-dotenv takes any key up to '=' (e.g. -foo, non-ASCII); Honcho's regex skips keys "
    "that do not start with a letter or '_'"
)
NO_PROCFILE_VAR = (
    "PROCFILE in .env does not pick the Procfile (Honcho's feature): procman takes -f, else "
    "procman.yaml, else Procfile, so the formation never depends on a variable"
)


@dataclass
class Deviation:
    reason: str
    refused: str | None = None  # procman stops with this message (file:line), types []
    env: dict[str, Any] = field(default_factory=dict)  # key -> procman's value, or UNSET
    types: list[dict[str, str]] | None = None  # procman's types, when they differ
    loads: bool = False  # the peer refuses, procman loads it


WHITESPACE = Deviation(STRICT_PROCFILE, refused='Procfile:5: process type "nocmd" has an empty')
NAMES = Deviation(STRICT_PROCFILE, refused="Procfile:7: 'web.v2' is not a process type name")
NO_COLON = Deviation(STRICT_PROCFILE, refused="Procfile:2: no ':' in 'this line has no colon'")
INTERPOLATION = Deviation(
    DOTENV_INTERPOLATION, env={"BRACED": "/srv/app/bin", "DQ": "/srv/app/dq", "SQ": "/srv/app/sq"}
)
QUOTES = Deviation(DOTENV_STRICT, refused=""".env:9: cannot parse 'HALF="a"b'""")

DEVIATIONS: dict[str, Deviation] = {
    "foreman/derived_duplicate_names": Deviation(
        NO_DUPLICATES, refused='Procfile:3: duplicate process type "web" (first on line 1)'
    ),
    "foreman/derived_env_interpolation": INTERPOLATION,
    "foreman/derived_env_multiline_value": Deviation(
        DOTENV_MULTILINE, env={"KEY": "line one\nline two"}
    ),
    "foreman/derived_env_quotes_escapes": QUOTES,
    "foreman/derived_env_syntax": Deviation(
        DOTENV_SYNTAX, env={"EXPORTED": "1", "INDENTED": "x", "SPACED": "y", "INLINE": "value"}
    ),
    "foreman/derived_env_unbalanced_quote": Deviation(
        DOTENV_STRICT, refused=""".env:2: cannot parse 'UNBALANCED="abc'"""
    ),
    "foreman/derived_line_without_colon": NO_COLON,
    "foreman/derived_names": NAMES,
    "foreman/derived_whitespace": WHITESPACE,
    "honcho/derived_env_interpolation": INTERPOLATION,
    "honcho/derived_env_multiline_value": Deviation(
        DOTENV_MULTILINE, env={"BEFORE": "1", "KEY": "line one\nline two", "AFTER": "2"}, loads=True
    ),
    "honcho/derived_env_quotes_escapes": QUOTES,
    "honcho/derived_env_syntax": Deviation(
        f"{DOTENV_SYNTAX}; {DOTENV_HONCHO_SYNTAX}",
        env={"1DIGIT": "z", "EMPTY": "", "EXPORTED": "1", "UNQUOTED_SPACES": "a b  c"},
    ),
    "honcho/derived_line_without_colon": NO_COLON,
    "honcho/derived_names": NAMES,
    "honcho/derived_no_matching_lines": Deviation(
        f"{STRICT_PROCFILE}; {NO_TYPES}", refused="Procfile:2: no ':' in 'no colon here'"
    ),
    "honcho/derived_whitespace": WHITESPACE,
    "honcho/environ_parse_escaped_characters_in_value": Deviation(
        DOTENV_ESCAPES, env={"TABS": "foo\\tbar", "NEWLINES": "foo\\nbar"}
    ),
    "honcho/environ_parse_escaped_quotation_mark_surrounded": Deviation(
        DOTENV_BARE_BACKSLASH, env={"MYVAR": '\\"escaped\\"'}
    ),
    "honcho/environ_parse_invalid_characters": Deviation(DOTENV_KEYS, env={"-foo": "command"}),
    "honcho/environ_parse_unicode_key": Deviation(DOTENV_KEYS, env={"ṀẎṾẠṚ": "value"}),
    "honcho/integration_start_env_procfile": Deviation(
        NO_PROCFILE_VAR, types=[{"name": "foo", "cmd": "python test.py"}]
    ),
    "honcho/parse_procfile_comment": Deviation(NO_TYPES, refused="Procfile: declares no process"),
    "honcho/parse_procfile_invalid_characters": Deviation(
        STRICT_PROCFILE, refused="Procfile:2: '+foo' is not a process type name"
    ),
}


def case_id(case: Path) -> str:
    return f"{case.parent.name}/{case.name}"


def expected_of(case: Path) -> dict[str, Any]:
    return json.loads((case / "expected.json").read_text())


def env_files(case: Path) -> list[str]:
    return expected_of(case).get("env_files") or ([".env"] if (case / ".env").is_file() else [])


def procman_reads(case: Path) -> dict[str, Any]:
    """What procman makes of the case: types, env, per-type ports, or the error."""
    files = env_files(case)
    got: dict[str, Any] = {"types": [], "env": {}, "error": None, "formation": None}
    try:
        got["env"] = read_env_files([case / name for name in files], case)
        if (case / "Procfile").exists():
            source = Source(procfile="Procfile", env_files=tuple(files))
            formation = load_formation(case, source, environ={})
            got["formation"] = formation
            got["types"] = [{"name": t.name, "cmd": t.cmd} for t in formation.types]
    except ConfigError as exc:
        got["error"] = str(exc)
    return got


def peer_refuses(expected: dict[str, Any]) -> bool:
    error = expected.get("error")
    return bool(error) and not error.startswith("none")


def test_every_case_is_read() -> None:
    assert len(CASES) == 74
    assert set(DEVIATIONS) <= {case_id(c) for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_peer_case(case: Path) -> None:
    expected, got = expected_of(case), procman_reads(case)
    deviation = DEVIATIONS.get(case_id(case))
    if deviation is not None and deviation.refused is not None:
        assert got["error"] is not None and deviation.refused in got["error"], deviation.reason
        assert got["types"] == []
        return
    assert bool(got["error"]) == (peer_refuses(expected) and not (deviation and deviation.loads))
    if got["error"]:
        return
    types = expected["types"] if deviation is None or deviation.types is None else deviation.types
    assert got["types"] == types
    env = dict(expected["env"])
    for key, value in (deviation.env if deviation else {}).items():
        if value is UNSET:
            env.pop(key, None)
        else:
            env[key] = value
    assert got["env"] == env
    formation = got["formation"]
    if formation is None:
        return
    # Foreman's rule with the default base, or the .env's PORT: base + 100 x position; each
    # instance's environment has the env files, its PORT and PS=<type>.<n>
    base = int(got["env"].get("PORT", 5000))
    for position, ptype in enumerate(formation.types):
        for index in (0, 1):
            env_of = instance_env({}, formation, ptype, index)
            assert env_of["PORT"] == str(base + 100 * position + index)
            assert env_of["PS"] == f"{ptype.name}.{index + 1}"
            assert {k: env_of[k] for k in got["env"] if k != "PORT"} == {
                k: v for k, v in got["env"].items() if k != "PORT"
            }


def test_port_base_from_env_file_as_foreman() -> None:
    """engine_env_port: `.env PORT=9000` is the base when -p is not given; -p beats it.
    Honcho lets the .env win over -p too (expand_processes_ports): procman follows Foreman."""
    env = read_env_files([FIXTURES / "foreman/engine_env_port/.env"])
    assert port_base(None, env, {"PORT": "6000"}) == 9000
    assert port_base(7000, env, {}) == 7000


def test_port_rule_of_the_runit_export_fixture(tmp_path: Path) -> None:
    """write_procfile_alpha_env_bar_baz: with alpha=2 and bravo=1, alpha.2 gets 5001 and
    bravo.1 5100, as Foreman's exported env/PORT files say."""
    case = FIXTURES / "foreman/write_procfile_alpha_env_bar_baz"
    formation = load_formation(case, Source(procfile="Procfile"), environ={})
    alpha, bravo = formation.types[:2]
    assert (alpha.port_of(0), alpha.port_of(1), bravo.port_of(0)) == (5000, 5001, 5100)
