"""A shortcut for the happy path of the hottest calls; anything else goes through FastAPI as is.

FastAPI's routing and dependency solving cost ~150 us of CPU per request here (route matching
through included routers, a dependency graph walked per request), several times the SQL of
a small read and five times a whole constant answer from the server. For the hottest calls
(`GET /collection/`, `GET /request-count/`, `POST /collection/`, and `GET` and `PUT` of
`/collection/<uuid>/`) this middleware answers directly when, and only when, everything
goes right: a well-formed bearer
token that verifies, a JSON body (`Content-Type: application/json`) that the same request
model accepts (validated by pydantic-core straight from the bytes), and a success. It calls
the very same token service and collection/counter services as the routers and serialises
the same response models the same way (pydantic-core's JSON dump), with the same ETag, so
the bytes and headers are those FastAPI would send.

Every other case — another method or path, no or a bad token, a body that does not validate,
an unknown collection, an error of any kind — is passed to FastAPI (with the body replayed
as it came), which answers it with the one error mapping. A write handed over after an error
had not committed (the driver rolls its transaction back on any error), so FastAPI cannot
apply it twice; once committed, the only step left is building the answer from rows read
in the same transaction.
It sits inside the request counter, request id, body-size and catch-all middleware, so those
apply to it as to every request. It caches nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from movie_collections.collection import service as collection_service
from movie_collections.collection.schemas import (
    CollectionCreate,
    CollectionCreated,
    CollectionUpdate,
)
from movie_collections.container import Container
from movie_collections.counter.schemas import RequestCount
from movie_collections.errors import AppError
from movie_collections.http_middleware import replay_body

# An answer gets the container, the caller, the request body and the path's collection
# segment ("" on paths without one); it returns the response model and its ETag, if any.
Answer = Callable[[Container, uuid.UUID, bytes, str], Awaitable[tuple[BaseModel, str | None]]]

logger = logging.getLogger(__name__)

# Requests with these headers ask for behaviour the shortcut does not implement
# (conditional requests, idempotent retries): they always go through FastAPI.
_DEFERRED_HEADERS = frozenset(
    {
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"idempotency-key",
    }
)


def _bearer_token(scope: Scope) -> str | None:
    """The token of a single `Authorization: Bearer <token>` header, as HTTPBearer reads it."""
    token = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if token is not None:
                return None  # repeated header: leave it to FastAPI
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not credentials:
                return None
            token = credentials
    return token


class HotRoutes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        route = _route(method, scope["path"])
        if route is None or any(name in _DEFERRED_HEADERS for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        answer, status, segment = route
        body = b""
        if method != "GET":
            if not _is_json(scope):
                await self.app(scope, receive, send)
                return
            body, pending = await _read_body(receive)
            receive = replay_body([body], pending, receive)
            if pending is not None:  # the client went away mid-body: FastAPI deals with it
                await self.app(scope, receive, send)
                return
        answered = await self._try(scope, answer, body, segment)
        if answered is None:
            await self.app(scope, receive, send)
            return
        content, etag = answered
        headers = [
            (b"content-length", str(len(content)).encode()),
            (b"content-type", b"application/json"),
        ]
        if etag is not None:
            headers.append((b"etag", etag.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _try(
        self, scope: Scope, answer: Answer, body: bytes, segment: str
    ) -> tuple[bytes, str | None] | None:
        """The JSON body and ETag of the success answer, or None to let FastAPI answer."""
        token = _bearer_token(scope)
        if token is None:
            return None
        container: Container = scope["app"].state.container
        try:
            user_id = container.tokens.user_id_from(token)
            model, etag = await answer(container, user_id, body, segment)
        except (AppError, ValidationError):
            return None  # 401, 404, 422, 503...: FastAPI answers, with the one error mapping
        except Exception:
            logger.debug("hot route failed; FastAPI will answer", exc_info=True)
            return None
        return model.__pydantic_serializer__.to_json(model), etag


_COLLECTION_PREFIX = "/collection/"


def _route(method: str, path: str) -> tuple[Answer, int, str] | None:
    """The shortcut's answer for this method and path, its success status, and the path's
    collection segment."""
    if path == _COLLECTION_PREFIX:
        if method == "GET":
            return _overview, 200, ""
        if method == "POST":
            return _create, 201, ""
        return None
    if path == "/request-count/":
        return (_request_count, 200, "") if method == "GET" else None
    if path.startswith(_COLLECTION_PREFIX) and path.endswith("/"):
        segment = path[len(_COLLECTION_PREFIX) : -1]
        if not segment or "/" in segment:
            return None  # the movie endpoints, or no collection: FastAPI
        if method == "GET":
            return _detail, 200, segment
        if method == "PUT":
            return _update, 200, segment
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";", 1)[0].strip().lower() == b"application/json")
    return False


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body (already within MAX_BODY_BYTES: that middleware is outside this one),
    and a message other than the body's, if one came first (e.g. a disconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


async def _overview(
    container: Container, user_id: uuid.UUID, _body: bytes, _segment: str
) -> tuple[BaseModel, None]:
    return await collection_service.read_overview(container.database, user_id), None


async def _request_count(
    container: Container, _user_id: uuid.UUID, _body: bytes, _segment: str
) -> tuple[BaseModel, None]:
    return RequestCount(requests=await container.counter.total()), None


async def _create(
    container: Container, user_id: uuid.UUID, body: bytes, _segment: str
) -> tuple[BaseModel, None]:
    payload = CollectionCreate.model_validate_json(body)
    collection_service.check_movie_count(
        payload.movies, container.settings.max_movies_per_collection
    )
    collection_id = await collection_service.write_new(container.database, user_id, payload)
    return CollectionCreated(collection_uuid=collection_id), None


async def _detail(
    container: Container, user_id: uuid.UUID, _body: bytes, segment: str
) -> tuple[BaseModel, str]:
    collection_id = collection_service.parse_collection_id(segment)
    found = await collection_service.read_detail(container.database, user_id, collection_id)
    return found.detail, found.etag


async def _update(
    container: Container, user_id: uuid.UUID, body: bytes, segment: str
) -> tuple[BaseModel, str]:
    # The same order of checks as the FastAPI route: the path, then the body, then limits.
    collection_id = collection_service.parse_collection_id(segment)
    payload = CollectionUpdate.model_validate_json(body)
    collection_service.check_movie_count(
        payload.movies, container.settings.max_movies_per_collection
    )
    updated = await collection_service.write_update(
        container.database, user_id, collection_id, payload
    )
    return updated.detail, updated.etag
