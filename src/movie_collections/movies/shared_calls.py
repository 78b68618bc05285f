"""Concurrent identical calls made once, and their result handed out one caller per loop turn.

Callers asking for the same key while a call for it is in flight wait for that call instead
of making their own; once it completes it is forgotten, so a later caller always makes a new
one (nothing is kept: this is not a cache).

Why one caller per loop turn: under load a whole wave of requests waits on one upstream call
(32 per worker with 64 connections). Woken all at once (as `asyncio.shield` of one task
would), the event loop answers the whole wave before it reads a single new request, so the
next upstream call only starts once the last answer of the wave has gone out: every cycle
was the upstream's latency *plus* the wave's CPU (50 + ~12 ms on the 2-core bench machine,
`GET /movies/` at 78% of connections ÷ latency). Handed on one at a time, each caller's
answer is followed by a turn of the loop that reads sockets, so the first new request
starts the next call while the rest of the wave is still being answered (55 ms, 90%). Other
endpoints' requests get those turns too, instead of waiting behind the wave.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Hashable
from functools import partial
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class _Call(Generic[T]):
    """One call in flight and its callers in the order they came."""

    def __init__(self, task: asyncio.Task[T]) -> None:
        self.task = task
        self.waiters: deque[asyncio.Future[T]] = deque()

    def hand_on(self) -> None:
        """Give the call's outcome to the next caller still waiting (a cancelled caller has
        left: skipped). A cancelled call is given to every caller at once: none of them
        would take a turn to hand it on."""
        task = self.task
        if task.cancelled():
            while self.waiters:
                self.waiters.popleft().cancel()
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if waiter.done():
                continue
            error = task.exception()
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(task.result())
            return


class SharedCalls(Generic[K, T]):
    def __init__(self) -> None:
        self._in_flight: dict[K, _Call[T]] = {}

    async def run(self, key: K, start: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """The outcome of the call for `key` in flight, or of `start()` if there is none.

        A caller that is cancelled leaves the call to the others: the call itself is only
        cancelled by cancel_all()."""
        loop = asyncio.get_running_loop()
        call = self._in_flight.get(key)
        if call is None:
            call = _Call(loop.create_task(start()))
            self._in_flight[key] = call
            call.task.add_done_callback(partial(self._done, key, call))
        waiter: asyncio.Future[T] = loop.create_future()
        call.waiters.append(waiter)
        try:
            return await waiter
        finally:
            # Our turn came (even if we were cancelled just after): the next caller's comes
            # after a turn of the loop, whatever happened to us.
            if waiter.done() and not waiter.cancelled():
                loop.call_soon(call.hand_on)

    def _done(self, key: K, call: _Call[T], task: asyncio.Task[T]) -> None:
        if self._in_flight.get(key) is call:
            del self._in_flight[key]
        if not task.cancelled():
            # Retrieved so that a failure nobody waited for is not reported as unhandled.
            task.exception()
        call.hand_on()

    def cancel_all(self) -> None:
        """Cancel every call in flight (shutdown); their callers get CancelledError."""
        for call in list(self._in_flight.values()):
            call.task.cancel()
        self._in_flight.clear()
