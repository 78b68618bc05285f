"""The same work as three authenticated reads, served by a bare ASGI callable instead of
FastAPI: the token check, the request counter, the service call and the answer, no routing,
dependencies or middleware. `profile_app --bare` measures it against the real app."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic_core import to_json

from movie_collections.collection import service
from movie_collections.container import Container

Scope = dict[str, Any]


def bare_app(container: Container) -> Any:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        container.counter.increment()
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode().partition(" ")[2]
        user_id = container.tokens.user_id_from(token)
        path: str = scope["path"]
        extra: list[tuple[bytes, bytes]] = []
        if path == "/collection/":
            body = await service.list_collections(
                container.database, container.versions, container.list_answers, user_id
            )
        elif path.startswith("/collection/"):
            collection_id = uuid.UUID(path.split("/")[2])
            found = await service.get_collection(
                container.database,
                container.versions,
                container.detail_answers,
                user_id,
                collection_id,
            )
            body, extra = found.body, [(b"etag", found.etag.encode())]
        else:
            body = to_json({"requests": await container.counter.total()})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app
