"""A shortcut for the happy path of the hottest calls; anything else goes through FastAPI as is.

FastAPI's routing and dependency solving cost ~150 us of CPU per request here (route matching
through included routers, a dependency graph walked per request), several times the SQL of
a small read and five times a whole constant answer from the server. For the hottest calls
(`GET /collection/`, `GET /request-count/`, `POST /collection/`, `GET` and `PUT` of
`/collection/<uuid>/`, and `GET /movies/`) this middleware answers directly when, and only
when, everything goes right: a well-formed bearer
token that verifies, a JSON body (`Content-Type: application/json`) that the same request
model accepts (validated by pydantic-core straight from the bytes), and a success. It calls
the very same token service and collection/counter services as the routers and serialises
the same response models the same way (pydantic-core's JSON dump), with the same ETag, so
the bytes and headers are those FastAPI would send.

Every other case — another method or path, no or a bad token, a body that does not validate,
an unknown collection, an error of any kind — is passed to FastAPI (with the body replayed
as it came), which answers it with the one error mapping. Two exceptions, answered here with
that same mapping: a GET without an Authorization header or with a token that does not
verify gets its 401 here (FastAPI solves the token dependency before anything else of a GET,
so the answer is the same, for a sixth of the CPU: cheap to refuse is what a flood of stale
tokens needs); and once GET /movies/ has asked the upstream, its failure (502, 504, 404) is
answered here, since FastAPI would ask the upstream a second time. Writes without a valid
token still go to FastAPI: there a malformed body is a 422 before the token is looked at.
A write handed over after an error had not committed (the driver rolls its transaction back
on any error), so FastAPI cannot apply it twice; once committed, the only step left is
building the answer from rows read in the same transaction.
It sits inside the request counter, request id, body-size and catch-all middleware, so those
apply to it as to every request. It caches nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError
from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from movie_collections.auth.dependencies import AUTHENTICATION_REQUIRED
from movie_collections.collection import service as collection_service
from movie_collections.collection.schemas import (
    CollectionCreate,
    CollectionCreated,
    CollectionUpdate,
)
from movie_collections.container import Container
from movie_collections.counter.schemas import RequestCount
from movie_collections.errors import AppError, Unauthorized, Unprocessable, app_error_response
from movie_collections.http_middleware import replay_body


@dataclass(frozen=True, slots=True)
class HotRequest:
    container: Container
    user_id: uuid.UUID
    scope: Scope
    body: bytes
    segment: str  # the path's collection segment; "" on paths without one


@dataclass(frozen=True, slots=True)
class Answered:
    """A success: the JSON body and the headers besides content-length and content-type."""

    content: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


Answer = Callable[[HotRequest], Awaitable[Answered]]


class AnswerHere(Exception):
    """An error the shortcut answers itself (with the one error mapping) instead of handing
    the request to FastAPI, because FastAPI would do the work again: for GET /movies/, a
    second call to the upstream, and a second wait for a slow one."""

    def __init__(self, error: AppError) -> None:
        super().__init__(error.detail)
        self.error = error


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
        try:
            answered = await self._try(scope, answer, body, segment)
        except AnswerHere as here:
            await app_error_response(here.error)(scope, receive, send)
            return
        if answered is None:
            await self.app(scope, receive, send)
            return
        content = answered.content
        headers = [
            (b"content-length", str(len(content)).encode()),
            (b"content-type", b"application/json"),
            *answered.headers,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _try(
        self, scope: Scope, answer: Answer, body: bytes, segment: str
    ) -> Answered | None:
        """The success answer, or None to let FastAPI answer (AnswerHere: answer this error)."""
        token = _bearer_token(scope)
        container: Container = scope["app"].state.container
        if token is None:
            if body or scope["method"] != "GET" or _has_authorization(scope):
                return None
            raise AnswerHere(Unauthorized(AUTHENTICATION_REQUIRED))
        try:
            user_id = container.tokens.user_id_from(token)
        except Unauthorized as error:
            if scope["method"] != "GET":
                return None
            raise AnswerHere(error) from None
        except Exception:
            logger.debug("token check failed in the shortcut; FastAPI will answer", exc_info=True)
            return None
        try:
            return await answer(HotRequest(container, user_id, scope, body, segment))
        except AnswerHere:
            raise
        except (AppError, ValidationError):
            return None  # 401, 404, 422, 503...: FastAPI answers, with the one error mapping
        except Exception:
            logger.debug("hot route failed; FastAPI will answer", exc_info=True)
            return None


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
    if path == "/movies/":
        return (_movies, 200, "") if method == "GET" else None
    if path.startswith(_COLLECTION_PREFIX) and path.endswith("/"):
        segment = path[len(_COLLECTION_PREFIX) : -1]
        if not segment or "/" in segment:
            return None  # the movie endpoints, or no collection: FastAPI
        if method == "GET":
            return _detail, 200, segment
        if method == "PUT":
            return _update, 200, segment
    return None


def _has_authorization(scope: Scope) -> bool:
    return any(name == b"authorization" for name, _ in scope["headers"])


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


def _json(model: BaseModel, *headers: tuple[bytes, bytes]) -> Answered:
    return Answered(model.__pydantic_serializer__.to_json(model), headers)


def _etagged(found: collection_service.DetailAnswer) -> Answered:
    return Answered(found.body, ((b"etag", found.etag.encode()),))


async def _overview(request: HotRequest) -> Answered:
    container = request.container
    answer = await collection_service.read_overview(
        container.database, container.list_answers, request.user_id
    )
    return Answered(answer)


async def _request_count(request: HotRequest) -> Answered:
    return _json(RequestCount(requests=await request.container.counter.total()))


async def _create(request: HotRequest) -> Answered:
    container = request.container
    payload = CollectionCreate.model_validate_json(request.body)
    collection_service.check_movie_count(
        payload.movies, container.settings.max_movies_per_collection
    )
    collection_id = await collection_service.write_new(container.database, request.user_id, payload)
    return _json(CollectionCreated(collection_uuid=collection_id))


async def _detail(request: HotRequest) -> Answered:
    collection_id = collection_service.parse_collection_id(request.segment)
    return _etagged(
        await collection_service.read_detail(
            request.container.database,
            request.container.detail_answers,
            request.user_id,
            collection_id,
        )
    )


async def _update(request: HotRequest) -> Answered:
    container = request.container
    # The same order of checks as the FastAPI route: the path, then the body, then limits.
    collection_id = collection_service.parse_collection_id(request.segment)
    payload = CollectionUpdate.model_validate_json(request.body)
    collection_service.check_movie_count(
        payload.movies, container.settings.max_movies_per_collection
    )
    return _etagged(
        await collection_service.write_update(
            container.database, request.user_id, collection_id, payload
        )
    )


_MOVIES_PATH = URLPath("/movies/")


async def _movies(request: HotRequest) -> Answered:
    """GET /movies/ with no query or `?page=<n>`; anything else is FastAPI's to judge."""
    container = request.container
    page = _requested_page(request.scope["query_string"], container.settings.movies_max_page)
    try:
        upstream = await container.movies.fetch_page(page)
    except AppError as error:  # 502, 504, 404 from the upstream: answered here, not again
        raise AnswerHere(error) from error
    # The link base as FastAPI's request.url_for("list_movies") makes it.
    here = _MOVIES_PATH.make_absolute_url(Request(request.scope).base_url)
    body = container.movie_pages.body(upstream, page, here)
    return Answered(body, ((b"cache-control", b"no-store"),))


def _requested_page(query: bytes, maximum: int) -> int:
    if not query:
        return 1
    name, _, value = query.partition(b"=")
    if name != b"page" or not value.isdigit() or not 1 <= int(value) <= maximum:
        raise Unprocessable("left to FastAPI")  # other query forms: FastAPI parses them
    return int(value)
