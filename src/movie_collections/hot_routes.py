"""A shortcut for the happy path of the hottest GETs; anything else goes through FastAPI as is.

FastAPI's routing and dependency solving cost ~150 us of CPU per request here (route matching
through included routers, a dependency graph walked per request), several times the SQL of
a small read and five times a whole constant answer from the server. For the three reads the
benchmark shows to be hottest (`GET /collection/`, `GET /collection/<uuid>/`,
`GET /request-count/`) this middleware answers directly when, and only when, everything goes
right: a well-formed bearer token that verifies, and a 200 answer. It calls the very same
token service and collection/counter services as the routers and serialises the same response
models the same way (pydantic-core's JSON dump), so the bytes are those FastAPI would send.

Every other case — another method or path, no or a bad token, an unknown collection, an error
of any kind — is passed, untouched, to FastAPI, which answers it with the one error mapping.
It sits inside the request counter, request id, body-size and catch-all middleware, so those
apply to it as to every request. It caches nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from movie_collections.collection import service as collection_service
from movie_collections.container import Container
from movie_collections.counter.schemas import RequestCount
from movie_collections.errors import AppError

logger = logging.getLogger(__name__)

_COLLECTION_PREFIX = "/collection/"
_UUID_TEXT_LENGTH = 36
_DETAIL_PATH_LENGTH = len(_COLLECTION_PREFIX) + _UUID_TEXT_LENGTH + 1


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
        if scope["type"] == "http" and scope["method"] == "GET":
            answer = self._route(scope)
            if answer is not None:
                body = await self._try(scope, answer)
                if body is not None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [
                                (b"content-length", str(len(body)).encode()),
                                (b"content-type", b"application/json"),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    def _route(self, scope: Scope) -> Callable[[Container, uuid.UUID], Awaitable[BaseModel]] | None:
        path: str = scope["path"]
        if path == "/collection/":
            return _overview
        if path == "/request-count/":
            return _request_count
        if (
            len(path) == _DETAIL_PATH_LENGTH
            and path.startswith(_COLLECTION_PREFIX)
            and path.endswith("/")
        ):
            try:
                collection_id = uuid.UUID(path[len(_COLLECTION_PREFIX) : -1])
            except ValueError:
                return None

            async def detail(container: Container, user_id: uuid.UUID) -> BaseModel:
                return await collection_service.read_detail(
                    container.database, user_id, collection_id
                )

            return detail
        return None

    async def _try(
        self, scope: Scope, answer: Callable[[Container, uuid.UUID], Awaitable[BaseModel]]
    ) -> bytes | None:
        """The JSON body of the 200 answer, or None to let FastAPI handle the request."""
        token = _bearer_token(scope)
        if token is None:
            return None
        container: Container = scope["app"].state.container
        try:
            user_id = container.tokens.user_id_from(token)
            model = await answer(container, user_id)
        except AppError:
            return None  # 401, 404, 503...: FastAPI answers it, with the one error mapping
        except Exception:
            logger.debug("hot route failed; FastAPI will answer", exc_info=True)
            return None
        return model.__pydantic_serializer__.to_json(model)


async def _overview(container: Container, user_id: uuid.UUID) -> BaseModel:
    return await collection_service.read_overview(container.database, user_id)


async def _request_count(container: Container, user_id: uuid.UUID) -> BaseModel:
    return RequestCount(requests=await container.counter.total())
