"""What a request-counter backend offers; the middleware and the router only see this."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol


class CounterUnavailable(Exception):
    """The count cannot be told exactly right now (its store is unreachable)."""


class CounterLost(CounterUnavailable):
    """The store came back without the count (a Redis restarted empty): only a reset, which
    starts a new count, ends this."""


class RequestCounter(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Flush what is pending and release resources."""

    def increment(self) -> Awaitable[None] | None:
        """Count one request. Never raises and never blocks; may return an awaitable that
        completes once the increment is durable, or after the backend's own bound on that
        wait (awaited before the response starts; it never raises)."""

    async def total(self) -> int:
        """Requests counted since the last reset; CounterUnavailable if it cannot be exact."""

    async def reset(self) -> None: ...


class DisabledCounter:
    """COUNTER_BACKEND=off: nothing is counted (the middleware is not even installed)."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def increment(self) -> None:
        return None

    async def total(self) -> int:
        raise CounterUnavailable("request counting is off (COUNTER_BACKEND=off)")

    async def reset(self) -> None:
        raise CounterUnavailable("request counting is off (COUNTER_BACKEND=off)")
