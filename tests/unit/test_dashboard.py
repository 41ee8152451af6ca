"""The dashboard's pure parts: who may ask (guard), what a click sends (actions), the CLI's
wording of an outcome (render), and that the page ships in the wheel."""

from __future__ import annotations

import asyncio
import fnmatch
from pathlib import Path
from typing import Any

import pytest

from procman.cli import render
from procman.cli.dashboard import actions, guard
from procman.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "t" * 32


def refusal(
    method: str = "GET",
    token: str | None = None,
    hosts: frozenset[str] | None = None,
    query: dict[str, str] | None = None,
    **headers: str,
) -> tuple[int, str] | None:
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    return guard.refusal(
        token=token, allowed_hosts=hosts, method=method, headers=named, query=query or {}
    )


def test_only_the_local_names_go_without_a_token() -> None:
    assert not guard.needs_token("127.0.0.1")
    assert not guard.needs_token("::1")
    assert not guard.needs_token("localhost")
    for host in ("0.0.0.0", "127.0.0.2", "192.0.2.7", "::", "example.org"):
        assert guard.needs_token(host), host
    assert len(guard.new_token()) >= 32 and guard.new_token() != guard.new_token()


def test_the_token_is_asked_in_a_header_or_the_query() -> None:
    missing = refusal(token=TOKEN)
    assert missing is not None and missing[0] == 401 and "a token is required" in missing[1]
    assert refusal(token=TOKEN, authorization=f"Bearer {TOKEN}") is None
    assert refusal(token=TOKEN, x_procman_token=TOKEN) is None
    assert refusal(token=TOKEN, query={"token": TOKEN}) is None
    wrong = refusal(token=TOKEN, query={"token": TOKEN[:-1] + "u"})
    assert wrong is not None and wrong[0] == 401 and "wrong token" in wrong[1]
    assert refusal(token=TOKEN, authorization="Basic abc")[0] == 401  # type: ignore[index]


def test_on_loopback_the_host_header_must_be_loopback() -> None:
    hosts = guard.local_host_names(9500)
    assert refusal(hosts=hosts, host="127.0.0.1:9500") is None
    assert refusal(hosts=hosts, host="localhost:9500") is None
    assert refusal(hosts=hosts, host="[::1]:9500") is None
    refused = refusal(hosts=hosts, host="attacker.example:9500")
    assert refused is not None and refused[0] == 421


def test_an_action_must_be_json_from_the_page_itself() -> None:
    json_ = "application/json"
    assert refusal("POST", host="h:1", content_type=json_) is None
    assert refusal("POST", host="h:1", content_type=json_, origin="http://h:1") is None
    assert refusal("POST", host="h:1", content_type="text/plain")[0] == 415  # type: ignore[index]
    assert refusal("POST", host="h:1")[0] == 415  # type: ignore[index]
    other = refusal("POST", host="h:1", content_type=json_, origin="http://evil.example")
    assert other is not None and other[0] == 403
    assert refusal("POST", host="h:1", content_type=json_, origin="null")[0] == 403  # type: ignore[index]


def test_a_click_becomes_the_clis_command_and_request() -> None:
    cases: list[tuple[dict[str, Any], str, tuple[str, dict[str, Any]]]] = [
        ({"verb": "scale", "target": "web", "count": "+1"}, "procman scale web=+1",
         ("scale", {"counts": {"web": "+1"}})),
        ({"verb": "scale", "target": "web", "count": 3}, "procman scale web=3",
         ("scale", {"counts": {"web": "3"}})),
        ({"verb": "scale", "target": "web", "count": " MAX "}, "procman scale web=max",
         ("scale", {"counts": {"web": "max"}})),
        ({"verb": "restart", "target": "web.2"}, "procman restart web.2",
         ("restart", {"target": "web.2"})),
        ({"verb": "stop", "target": None}, "procman stop", ("stop", {"target": None})),
        ({"verb": "reload", "target": "all"}, "procman reload", ("reload", {"target": None})),
        ({"verb": "start"}, "procman start", ("start", {})),
        ({"verb": "start", "target": "web"}, "procman start web", ("start", {"types": ["web"]})),
    ]  # fmt: skip
    for body, command, request in cases:
        action = actions.parse(body)
        assert action.command() == command
        assert actions.request(action) == request


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "a JSON object"),
        ({"verb": "kill"}, "unknown action 'kill'"),
        ({"verb": "stop", "target": "../etc"}, "is not a type or an instance id"),
        ({"verb": "stop", "target": 3}, "is not a type or an instance id"),
        ({"verb": "scale", "target": "web.2", "count": "1"}, "scale needs a type name"),
        ({"verb": "scale", "target": "web"}, "scale needs a count"),
        ({"verb": "scale", "target": "web", "count": True}, "scale needs a count"),
        ({"verb": "scale", "target": "web", "count": "lots"}, "is not a count"),
        ({"verb": "reload", "target": "web.1"}, "reload takes a type or all"),
    ],
)
def test_a_bad_click_is_refused_with_a_reason(body: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(".", r"\.")):
        actions.parse(body)


ROWS = [
    {"id": "web.1", "type": "web", "index": 0, "pid": 11, "state": "running", "uptime_s": 5.0,
     "restarts": 0},
    {"id": "web.2", "type": "web", "index": 1, "pid": None, "state": "stopped",
     "uptime_s": None, "restarts": 0},
]  # fmt: skip


def test_start_on_an_instance_restarts_it_only_if_it_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[tuple[str, Any]] = []

    async def call(sock: str, method: str, params: Any = None) -> Any:
        sent.append((method, params))
        if method == "status":
            return {"instances": [r for r in ROWS if r["id"] == params["target"]]}
        return {"ok": True, "failed": [], "status": ROWS}

    monkeypatch.setattr(actions.aclient, "call", call)
    answer = asyncio.run(actions.perform("s", actions.parse({"verb": "start", "target": "web.2"})))
    assert sent == [("status", {"target": "web.2"}), ("restart", {"target": "web.2"})]
    assert answer["ok"] and answer["command"] == "procman restart web.2"
    sent.clear()
    answer = asyncio.run(actions.perform("s", actions.parse({"verb": "start", "target": "web.1"})))
    assert sent == [("status", {"target": "web.1"})]
    assert answer["lines"] == ["nothing to start: web.1 is running"]


def test_outcome_lines_are_what_the_cli_prints_when_piped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = {
        "ok": False,
        "notes": ["replaced api (was: sleep 1)"],
        "status": ROWS,
        "failed": [{"id": "web.2", "state": "errored", "reason": "exited with code 3"}],
    }
    assert render.outcome(result, "scale") is False
    printed = capsys.readouterr()
    lines = render.outcome_lines(result)
    assert printed.out.splitlines() + printed.err.splitlines() == lines
    assert lines[-1] == "error: web.2 did not come up (errored): exited with code 3"
    assert lines[1].split() == list(render.COLUMNS)
    assert render.outcome_lines({"status": []}) == ["no instances"]


def test_the_page_ships_in_the_wheel() -> None:
    tomllib = pytest.importorskip("tomllib")  # 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["procman.cli.dashboard"]
    static = ROOT / "procman" / "cli" / "dashboard" / "static"
    files = sorted(p.relative_to(static.parent).as_posix() for p in static.iterdir())
    assert files == ["static/dashboard.css", "static/dashboard.js", "static/index.html"]
    for name in files:
        assert any(fnmatch.fnmatch(name, g) for g in globs), name
    page = (static / "index.html").read_text()
    # nothing from the network: every src/href is the package's own or inline data
    for attr in ("src=", "href="):
        for chunk in page.split(attr)[1:]:
            target = chunk.split('"')[1]
            assert target.startswith(("static/", "#", "data:")), target
    assert "__CONFIG__" in page and "__QUERY__" in page


def test_the_asyncio_client_speaks_the_protocol_and_says_what_went_wrong() -> None:
    import json
    import shutil
    import tempfile

    from procman.cli.dashboard import aclient
    from procman.errors import DaemonUnavailable, RemoteError

    where = tempfile.mkdtemp(prefix="pm-ac-", dir="/tmp")
    sock = f"{where}/d.sock"

    async def daemon(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        req = json.loads(await reader.readline())
        if req["method"] == "ping":
            writer.write(b'{"id": %d, "result": {"pid": 1}}\n' % req["id"])
        elif req["method"] == "events":
            for n in range(3):
                writer.write(b'{"id": %d, "result": {"n": %d}}\n' % (req["id"], n))
        elif req["method"] == "status":
            writer.write(b'{"id": 1, "error": {"code": "not_found", "message": "no web.9"}}\n')
        writer.close()  # "shutdown": closes without a word

    async def scenario() -> None:
        server = await asyncio.start_unix_server(daemon, sock)
        async with server:
            assert await aclient.call(sock, "ping") == {"pid": 1}
            got = [item async for item in aclient.stream(sock, "events")]
            assert got == [{"n": 0}, {"n": 1}, {"n": 2}]
            with pytest.raises(RemoteError, match="no web.9"):
                await aclient.call(sock, "status", {"target": "web.9"})
            with pytest.raises(DaemonUnavailable, match="without answering"):
                await aclient.call(sock, "shutdown")
        with pytest.raises(DaemonUnavailable, match='run "procman start"'):
            await aclient.call(f"{where}/gone.sock", "ping")

    try:
        asyncio.run(scenario())
    finally:
        shutil.rmtree(where, ignore_errors=True)
