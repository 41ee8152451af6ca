"""The tiny ASGI app of the real-server tests: GET anything -> JSON with the serving pid and
$PS. Run it with uvicorn (`--fd 3`) or hypercorn (`--bind fd://3`), `--app-dir` this folder."""

import json
import os


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = (json.dumps({"pid": os.getpid(), "ps": os.environ.get("PS")}) + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
