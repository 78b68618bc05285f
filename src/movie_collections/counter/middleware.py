"""Counts every HTTP request when it arrives, before routing, whatever its outcome.

When the backend hands back something to wait for (Redis: the request's batch confirmed), a
whole response is held here and released once that wait ends; a streamed one waits before
its first body message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from movie_collections.counter.backend import RequestCounter

logger = logging.getLogger(__name__)


class RequestCounterMiddleware:
    def __init__(
        self, app: ASGIApp, counter: RequestCounter, excluded_paths: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.counter = counter
        self.excluded_paths = excluded_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.excluded_paths:
            await self.app(scope, receive, send)
            return
        try:
            pending = self.counter.increment()
        except Exception:  # the counter must never fail a request
            logger.exception("request counter increment failed")
            pending = None
        if pending is None:
            await self.app(scope, receive, send)
            return
        response = _HeldResponse(send, pending)
        try:
            await self.app(scope, receive, response.send)
        finally:
            await response.deliver()


class _HeldResponse:
    """The app's messages, held until the counter's wait is over."""

    __slots__ = ("held", "pending", "upstream")

    def __init__(self, upstream: Send, pending: Awaitable[None]) -> None:
        self.upstream = upstream
        self.pending: Awaitable[None] | None = pending
        self.held: list[Message] = []

    async def send(self, message: Message) -> None:
        if self.pending is None:
            await self.upstream(message)
        elif message["type"] == "http.response.start" or (
            len(self.held) == 1 and not message.get("more_body", False)
        ):
            self.held.append(message)  # the start, and the single final body after it
        else:
            await self.deliver()  # streaming: wait now, then stream as usual
            await self.upstream(message)

    async def deliver(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            # The backend bounds this wait itself (COUNTER_DURABLE_WAIT) and never fails it.
            try:
                await pending
            except Exception:
                logger.exception("request counter wait failed")
        held, self.held = self.held, []
        for message in held:
            await self.upstream(message)
