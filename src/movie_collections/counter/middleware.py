"""Counts every HTTP request when it arrives, before routing, whatever its outcome."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from movie_collections.counter.backend import RequestCounter

logger = logging.getLogger(__name__)


class RequestCounterMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        counter: RequestCounter,
        excluded_paths: frozenset[str] = frozenset(),
        durable_wait_seconds: float = 0.05,
    ) -> None:
        self.app = app
        self.counter = counter
        self.excluded_paths = excluded_paths
        self.durable_wait_seconds = durable_wait_seconds

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

        waited = False

        async def send_after_durable(message: Message) -> None:
            nonlocal waited
            if not waited and message["type"] == "http.response.start":
                waited = True
                await _bounded_wait(pending, limit=self.durable_wait_seconds)
            await send(message)

        await self.app(scope, receive, send_after_durable)


async def _bounded_wait(pending: Awaitable[None], limit: float) -> None:
    """Wait for `pending` at most `limit` seconds, never cancelling it, never raising."""
    if not isinstance(pending, asyncio.Future):
        try:
            await asyncio.wait_for(asyncio.shield(pending), limit)
        except Exception:  # slow or failed store: the increment stays queued in the backend
            return
        return
    if pending.done():
        return
    # A done-callback and a timer instead of wait_for(shield(...)): no extra task or future
    # per request on the hot path, and the batch future is never cancelled by a waiter.
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def release(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = loop.call_later(limit, release)
    pending.add_done_callback(release)
    try:
        await waiter
    finally:
        timer.cancel()
        pending.remove_done_callback(release)
