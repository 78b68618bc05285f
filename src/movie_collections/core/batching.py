"""Fresh batches: concurrent lookups of many keys share one fetch, never one older than they.

With no fetch running, a caller fetches its key at once, itself; callers who ask while one
runs wait for it to end, then share the next fetch, of all their keys. Under load a statement
serves a batch of requests; alone, a request pays nothing more than its own statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class FreshBatches(Generic[K, T]):
    """`await batches.get(key)` is `fetch(keys)[key]` (None if absent) for a fetch of keys that
    include `key`, started after the call."""

    def __init__(self, fetch: Callable[[Sequence[K]], Awaitable[Mapping[K, T]]]) -> None:
        self._fetch = fetch
        self._running = False
        self._waiting: dict[K, list[asyncio.Future[T | None]]] = {}  # asked since it started
        self._tasks: set[asyncio.Task[None]] = set()
        self.fetches = 0  # started so far (tests read it)

    async def get(self, key: K) -> T | None:
        if not self._running:
            return (await self._run((key,))).get(key)
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        return await future  # a caller that is cancelled leaves the fetch to the others

    async def _run(self, keys: Sequence[K]) -> Mapping[K, T]:
        self._running = True
        self.fetches += 1
        try:
            return await self._fetch(keys)
        finally:
            self._running = False
            if self._waiting:  # their fetch runs apart: this caller answers at once
                waiting, self._waiting = self._waiting, {}
                self._running = True
                task = asyncio.get_running_loop().create_task(self._serve(waiting))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _serve(self, waiting: dict[K, list[asyncio.Future[T | None]]]) -> None:
        try:
            found = await self._run(tuple(waiting))
        except BaseException as error:  # every waiter gets it: each answers its own error
            for futures in waiting.values():
                for future in futures:
                    if future.done():
                        continue
                    if isinstance(error, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for key, futures in waiting.items():
            value = found.get(key)
            for future in futures:
                if not future.done():
                    future.set_result(value)
