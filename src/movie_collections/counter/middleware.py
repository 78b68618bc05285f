"""Counts every HTTP request when it arrives, before routing, whatever its outcome."""

from __future__ import annotations

import logging

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

        async def send_after_durable(message: Message) -> None:
            nonlocal pending
            if pending is not None and message["type"] == "http.response.start":
                # The backend bounds this wait itself (COUNTER_DURABLE_WAIT) and never fails it.
                waiting, pending = pending, None
                try:
                    await waiting
                except Exception:
                    logger.exception("request counter wait failed")
            await send(message)

        await self.app(scope, receive, send_after_durable)
