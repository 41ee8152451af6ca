"""Who may use the dashboard. Pure functions of the request's headers; stdlib only.

- Bound to 127.0.0.1, ::1 or localhost, no token is asked (as with the daemon's own
  socket, the machine's users are trusted to the same degree as its loopback), but the Host
  header must name the loopback address (a page on another site that rebinds its DNS name to
  127.0.0.1 sends its own name, and is refused).
- Bound anywhere else (0.0.0.0, a LAN address, or another loopback address such as
  127.0.0.2), every request needs the token: an `Authorization: Bearer` or
  `X-Procman-Token` header, or `?token=` (the live stream is an EventSource, which cannot
  set headers). Compared in constant time.
- An action (POST) must be JSON and, where the browser says where it comes from (Origin),
  come from the dashboard's own page, so another site cannot post a form to it.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TOKEN_BYTES = 24  # secrets.token_urlsafe: 32 characters


def needs_token(host: str) -> bool:
    return host not in LOCAL_HOSTS


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def local_host_names(port: int) -> frozenset[str]:
    """Host header values a page served on loopback sends."""
    return frozenset(f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]"))


def presented_token(headers: dict[str, str], query: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-procman-token") or query.get("token") or None


def refusal(
    *,
    token: str | None,
    allowed_hosts: frozenset[str] | None,
    method: str,
    headers: dict[str, str],
    query: dict[str, str],
) -> tuple[int, str] | None:
    """(HTTP status, why) for a request to refuse, None to let it through. headers: lower-case
    names."""
    host = headers.get("host", "")
    if allowed_hosts is not None and host not in allowed_hosts:
        return 421, f"this dashboard answers to {', '.join(sorted(allowed_hosts))}, not {host!r}"
    if token is not None:
        given = presented_token(headers, query)
        if given is None:
            return 401, "a token is required: open the URL that `procman dashboard` printed"
        if not secrets.compare_digest(given.encode(), token.encode()):
            return 401, "wrong token: open the URL that `procman dashboard` printed"
    if method not in ("GET", "HEAD"):
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return 415, "actions are JSON (Content-Type: application/json)"
        origin = headers.get("origin")
        if origin and urlsplit(origin).netloc != host:
            return 403, f"an action from another site ({origin}) is refused"
    return None
