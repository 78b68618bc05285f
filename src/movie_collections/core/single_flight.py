"""Single-flight: concurrent callers of a key share the call in flight instead of each making
their own; its outcome is handed on one caller per loop turn (so a wave of waiters does not
starve the loop). For calls that must start after the caller asked: core/batching.py."""

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


class SingleFlight(Generic[K, T]):
    """Callers of one key share the call in flight; nothing is kept once it completes."""

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
