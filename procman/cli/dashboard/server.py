"""The dashboard's web server: Starlette routes on uvicorn. Imported only by
`procman dashboard` (procman.cli.commands.dashboard), never by another verb.

Routes (every one behind guard.refusal):
  GET  /                          the page (static/index.html with its settings filled in)
  GET  /static/<file>             the page's CSS and JS, from the package
  GET  /api/projects              the daemons `procman ls` finds, plus this project's own
  GET  /api/p/<id>/live           server-sent events: hello (ping + status), daemon (each
                                  object of the `events` stream), logs (each chunk of
                                  `logs --follow`), ended (why the stream stopped)
  POST /api/p/<id>/action         {verb, target, count} -> {ok, command, lines, types, ...}

The daemon is asked only while a page is open: a live stream holds one `events` and one
`logs` connection for as long as its page does, and closes both when the page goes.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from procman import paths
from procman.cli import daemons
from procman.cli.dashboard import aclient, actions, guard
from procman.errors import ProcmanError, UsageError

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
LOG_LINES = 200  # the recent lines a page starts with
KEEPALIVE = 15.0  # seconds between SSE comments: a closed page is noticed by the next write
QUEUE = 1024  # events and log chunks waiting for a slow page; then the daemon drops us
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token may be in the URL
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Settings:
    project: str  # the project dir the command ran in (-d)
    sock: str  # its daemon's socket (PROCMAN_SOCKET honoured)
    host: str
    port: int
    token: str | None
    read_only: bool = False
    no_color: bool = False

    @property
    def allowed_hosts(self) -> frozenset[str] | None:
        return None if guard.needs_token(self.host) else guard.local_host_names(self.port)

    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # every address: name one a browser can open
            host = socket.gethostname()
        host = f"[{host}]" if ":" in host else host
        query = f"?token={self.token}" if self.token else ""
        return f"http://{host}:{self.port}/{query}"


class Guard:
    """ASGI middleware: guard.refusal on every request, security headers on every answer."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        refused = guard.refusal(
            token=self.settings.token,
            allowed_hosts=self.settings.allowed_hosts,
            method=scope["method"],
            headers=headers,
            query=query,
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        if refused is not None:
            status, why = refused
            await PlainTextResponse(why + "\n", status)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


class Projects:
    """The daemons the page may pick, by an id that names no path in a URL."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.socks: dict[str, str] = {paths.project_key(settings.sock): settings.sock}

    def _discover(self) -> list[dict[str, Any]]:
        own = os.path.realpath(self.settings.sock)
        live, _ = daemons.sockets()
        found = [self.settings.sock] + [s for s in live if os.path.realpath(s) != own]
        out = []
        for sock in found:
            entry = daemons.summary(sock)
            if sock == self.settings.sock:
                entry["default"] = True
                entry["project"] = entry.get("project") or self.settings.project
                if entry.get("error"):
                    entry["error"] = (
                        f'no daemon for {self.settings.project}; run "procman start" there'
                    )
            entry["id"] = paths.project_key(sock)
            out.append(entry)
        return out

    async def listing(self) -> list[dict[str, Any]]:
        found = await asyncio.to_thread(self._discover)
        self.socks = {e["id"]: e["socket"] for e in found}
        return found

    async def sock(self, ident: str) -> str | None:
        if ident not in self.socks:
            await self.listing()
        return self.socks.get(ident)


def sse(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def live_stream(sock: str, read_only: bool) -> AsyncIterator[str]:
    """The page's one live connection: what the daemon says, as server-sent events."""
    try:
        ping = await aclient.call(sock, "ping")
        status = await aclient.call(sock, "status")
    except ProcmanError as exc:
        yield sse("ended", {"message": exc.message})
        return
    yield sse("hello", {**ping, **status, "read_only": read_only})
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(QUEUE)

    async def pump(kind: str, method: str, params: dict[str, Any]) -> None:
        try:
            async with aclosing(aclient.stream(sock, method, params)) as items:
                async for item in items:
                    await queue.put((kind, item))
            message = f"the daemon closed the {method} stream (it has stopped)"
        except ProcmanError as exc:  # the daemon dropped us, or its socket went
            message = f"the {method} stream ended: {exc.message}"
        except (OSError, ValueError) as exc:  # a broken connection or a bad line: say so
            message = f"the {method} stream failed: {exc!r}"
        await queue.put(("ended", {"message": message}))

    tasks = [
        asyncio.create_task(pump("daemon", "events", {})),
        asyncio.create_task(pump("logs", "logs", {"lines": LOG_LINES, "follow": True})),
    ]
    try:
        while True:
            try:
                kind, item = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except asyncio.TimeoutError:
                yield ": keepalive\n\n"
                continue
            yield sse(kind, item)
            if kind == "ended":
                return
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def make_app(settings: Settings) -> Starlette:
    projects = Projects(settings)
    page = (STATIC / "index.html").read_text()
    assets = {name: (STATIC / name).read_bytes() for name in ASSETS}
    config = {
        "token": settings.token or "",
        "readOnly": settings.read_only,
        "noColor": settings.no_color,
        "defaultProject": paths.project_key(settings.sock),
    }

    async def index(request: Request) -> Response:
        filled = json.dumps(config).replace("<", "\\u003c")
        query = f"?token={settings.token}" if settings.token else ""
        html = page.replace("__CONFIG__", filled).replace("__QUERY__", query)
        return Response(html, media_type="text/html; charset=utf-8")

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return PlainTextResponse("not found\n", 404)
        return Response(assets[name], media_type=ASSETS[name])

    async def project_list(request: Request) -> Response:
        return JSONResponse({"projects": await projects.listing(), "read_only": settings.read_only})

    async def live(request: Request) -> Response:
        sock = await projects.sock(request.path_params["ident"])
        if sock is None:
            return PlainTextResponse("no such project (reload the page)\n", 404)
        return StreamingResponse(
            live_stream(sock, settings.read_only),
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no"},
        )

    async def action(request: Request) -> Response:
        if settings.read_only:
            return JSONResponse({"ok": False, "lines": ["error: this dashboard is read-only"]}, 403)
        sock = await projects.sock(request.path_params["ident"])
        if sock is None:
            return JSONResponse({"ok": False, "lines": ["error: no such project"]}, 404)
        try:
            act = actions.parse(await request.json())
        except (ValueError, UsageError) as exc:
            message = exc.message if isinstance(exc, UsageError) else f"bad JSON: {exc}"
            return JSONResponse({"ok": False, "lines": [f"error: {message}"]}, 400)
        answer = await actions.perform(sock, act)
        try:
            answer.update(await aclient.call(sock, "status"))  # fresh rows and type counts
        except ProcmanError:
            pass
        return JSONResponse(answer)

    routes = [
        Route("/", index),
        Route("/static/{name}", asset),
        Route("/api/projects", project_list),
        Route("/api/p/{ident}/live", live),
        Route("/api/p/{ident}/action", action, methods=["POST"]),
    ]
    from starlette.middleware import Middleware

    return Starlette(routes=routes, middleware=[Middleware(Guard, settings=settings)])


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the URL is printed (so --port 0 can be told)."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        hint = "; pick another with --port (0 picks a free one)" if port else ""
        raise ProcmanError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, sock: socket.socket, open_browser: bool) -> None:
    config = uvicorn.Config(
        make_app(settings),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,  # open live streams are cut, not waited for
    )
    url = settings.url()
    print(f"procman dashboard on {url}", flush=True)
    if settings.token:
        print("  the token is part of the URL; every request must carry it", flush=True)
    if settings.read_only:
        print("  read-only: actions are refused", flush=True)
    print("  Ctrl-C stops it", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        sys.stdout.flush()
