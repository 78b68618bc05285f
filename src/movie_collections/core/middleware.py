"""Plain ASGI middleware: request ids, HEAD, the body-size limit and the catch-all for errors
(no BaseHTTPMiddleware overhead)."""

from __future__ import annotations

import asyncio
import random
import re
from http import HTTPStatus

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from movie_collections.core.errors import problem_response, unexpected_error_response
from movie_collections.core.request_id import set_request_id

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Takes a sane incoming X-Request-ID or makes one; echoes it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or new_request_id()
        set_request_id(request_id)
        encoded = request_id.encode()

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, encoded)]
            await send(message)

        await self.app(scope, receive, send_with_request_id)


def new_request_id() -> str:
    """32 random hex digits, like a uuid4's, for correlating logs: unique, not secret.

    Python's Mersenne Twister (seeded from the OS per process) instead of uuid4(), which
    makes a system call per request. A request id is never a credential.
    """
    return f"{random.getrandbits(128):032x}"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _SAFE_REQUEST_ID.match(value):
            return str(value.decode())
    return None


class BodySizeLimitMiddleware:
    """Answers 413 before parsing when a body is larger than allowed, declared or streamed."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            response = self._too_large()
            await response(scope, receive, send)
            return
        if declared is not None or not _is_chunked(scope):
            await self.app(scope, receive, send)  # bodyless, or no longer than it declared
            return
        # No declared length (chunked): read the body here, within the limit, and replay it.
        # The app would buffer it whole anyway, so this costs no extra memory.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, replay_body([], message, receive), send)
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                response = self._too_large()
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replay_body(chunks, None, receive), send)

    def _too_large(self) -> Response:
        return problem_response(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"The request body is larger than {self.max_body_bytes} bytes.",
            limit="max_body_bytes",
        )


def replay_body(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A receive that first yields the buffered body (or a pending message), then the rest."""
    queue: list[Message] = (
        [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
        if pending is None
        else [pending]
    )

    async def replaying_receive() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replaying_receive


def _is_chunked(scope: Scope) -> bool:
    """Whether a body of undeclared length follows (without it and Content-Length, none does)."""
    return any(name == b"transfer-encoding" for name, _ in scope["headers"])


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class UnhandledErrorMiddleware:
    """The last line of defence: an error nobody handled becomes a logged 500 problem, and a
    request the server cuts off (its graceful shutdown timed out) a 503 problem."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if response_started:
                raise
            await unexpected_error_response(error)(scope, receive, send)
        except asyncio.CancelledError:
            if response_started:
                raise
            # The task ends here, answered: otherwise uvicorn logs a traceback and sends a
            # text/plain 500 for what is only a shutdown.
            response = problem_response(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "The server is shutting down; try again.",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)


class HeadMiddleware:
    """HEAD is answered as GET without the body, headers included (RFC 9110, 9.3.2): FastAPI's
    routes answer only the methods they declare."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # A copy: the server reads the method of its own scope while the answer goes out.
        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, send_without_body)
        finally:  # what routing found, for the telemetry and logs outside
            scope.update({key: as_get[key] for key in ("route", "endpoint") if key in as_get})
