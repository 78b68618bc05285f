"""Single-flight: concurrent callers share one call instead of each making their own.

`SingleFlight` shares the call in flight for a key and hands its outcome on one caller per
loop turn (so a wave of waiters does not starve the loop). `FreshSingleFlight` shares only a
call that starts after the caller asked, so its result is never older than the question.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable
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


class FreshSingleFlight(Generic[T]):
    """`await FreshSingleFlight(fetch)()` is the result of a fetch() started after the call."""

    def __init__(self, fetch: Callable[[], Awaitable[T]]) -> None:
        self._fetch = fetch
        self._next: asyncio.Future[T] | None = None  # for callers who asked since the last start
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self.calls = 0  # started so far (tests read it)

    async def __call__(self) -> T:
        loop = asyncio.get_running_loop()
        future = self._next
        if future is None:
            future = self._next = loop.create_future()
            # Retrieved here, so a failure nobody waits for any more is not logged as lost.
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
            if not self._running:
                loop.call_soon(self._start)  # with this loop iteration's other callers
        # A caller that is cancelled leaves the shared call to the others.
        return await asyncio.shield(future)

    def _start(self) -> None:
        future, self._next = self._next, None
        if future is None or self._running:
            return
        self._running = True
        self.calls += 1
        self._task = asyncio.get_running_loop().create_task(self._run(future))

    async def _run(self, future: asyncio.Future[T]) -> None:
        try:
            result = await self._fetch()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:  # handed to every caller of this call
            future.set_exception(error)
        else:
            future.set_result(result)
        finally:
            self._running = False
            if self._next is not None:
                asyncio.get_running_loop().call_soon(self._start)
