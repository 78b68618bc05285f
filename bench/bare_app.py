"""The same work as three authenticated reads and a create, served by a bare ASGI callable
instead of FastAPI: the token check, the request counter, the body's validation, the budgets,
the service call and the answer; no routing, dependencies or middleware. `profile_app --bare`
measures it against the real app in process; `make bench` serves `served()` under load."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic_core import to_json

from movie_collections.app import create_app
from movie_collections.collection import service
from movie_collections.collection.budget import CollectionBudget, check_movie_count
from movie_collections.collection.schemas import CollectionCreate, CollectionCreated
from movie_collections.container import Container
from movie_collections.ratelimit.budgets import Budget

Scope = dict[str, Any]


def bare_app(container: Container) -> Any:
    async def create(user_id: uuid.UUID, receive: Any) -> bytes:
        """POST /collection/ without an Idempotency-Key."""
        await container.user_budgets.spend(Budget.WRITES, user_id)
        message = await receive()
        payload = CollectionCreate.model_validate_json(message["body"])
        check_movie_count(len(payload.movies), container.settings.max_movies_per_collection)
        budget = CollectionBudget.from_settings(container.settings)
        budget.check_movies(payload.movies)
        await container.user_budgets.spend(Budget.MOVIES_WRITTEN, user_id, len(payload.movies))
        async with container.database.transaction(write=True) as connection:
            collection_id = await service.create(connection, user_id, payload, budget)
        return CollectionCreated(collection_uuid=collection_id).model_dump_json().encode()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        counted = container.counter.increment()  # Redis: answered once counted, as the routes
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode().partition(" ")[2]
        user_id = container.tokens.user_id_from(token)
        path: str = scope["path"]
        extra: list[tuple[bytes, bytes]] = []
        status = 200
        if scope["method"] == "POST":
            body = await create(user_id, receive)
            status = 201
        elif path == "/collection/":
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
        if counted is not None:
            await counted
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def served() -> Any:
    """`bench.serve_app bare`'s factory: the real app starts and stops the service (its
    lifespan) and answers /health/; everything else is bare_app's."""
    real = create_app()
    bare: Any = None

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        nonlocal bare
        if scope["type"] == "lifespan" or scope["path"].startswith("/health/"):
            await real(scope, receive, send)
            return
        if bare is None:
            bare = bare_app(real.state.container)
        await bare(scope, receive, send)

    return app
