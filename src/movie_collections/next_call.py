"""One call of an async function shared by everyone who asked before it started.

`await NextCall(fetch)()` returns the result of a `fetch()` that started after the caller
asked: one in flight at a time, and everyone who asks meanwhile shares the next one. So a
caller never gets a result read before it asked (what it needs to be exact), while a hundred
concurrent callers cost one or two calls instead of a hundred.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class NextCall(Generic[T]):
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
