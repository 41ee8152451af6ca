"""The tiny WSGI app of the real-server tests: GET anything -> JSON with the serving pid,
$PORT and $PS. Run it with gunicorn: `gunicorn --chdir tests/programs wsgi_app:app`."""

import json
import os


def app(environ, start_response):
    body = json.dumps(
        {"pid": os.getpid(), "port": os.environ.get("PORT"), "ps": os.environ.get("PS")}
    )
    data = (body + "\n").encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]
