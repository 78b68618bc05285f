"""The ceiling: a raw ASGI app answering a constant JSON body, run under the same server settings.

Nothing in Python can answer HTTP faster under a given server, so each scenario is reported as
a fraction of this app's throughput measured in the same run.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"requests":1}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
START = {"type": "http.response.start", "status": 200, "headers": HEADERS}
RESPONSE_BODY = {"type": "http.response.body", "body": BODY}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(START)
    await send(RESPONSE_BODY)
