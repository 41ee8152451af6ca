"""`procman dashboard`: a web page over the daemons' control sockets.

- aclient.py: an asyncio client of the control socket (the daemon is not changed for this).
- guard.py: who may ask (token, Host and Origin checks), stdlib only.
- actions.py: a click on the page -> the protocol requests the CLI would send, and the
  outcome in the CLI's words (statustext.outcome_lines, what render prints when piped).
- server.py: the Starlette app (the page, the project list, actions, the live stream as
  server-sent events) and uvicorn on a socket bound before the URL is printed.
- static/: the page (plain HTML, CSS and JS; no build step, nothing fetched at run time).

Starlette and uvicorn are imported by server.py only, and server.py only by the
`dashboard` command, so no other verb pays for them.
"""
