"""Concurrent reads of one kind coalesced into one statement (the PostgreSQL hot reads).

On PostgreSQL every hot read is a round trip, and most of its cost is per round trip, not per
row: taking a pooled connection, the protocol messages, and the backend's work for a
statement (parse/bind/execute of a cached plan, a snapshot, the reply). Under load a worker
has dozens of requests waiting for the same kind of read (the list version of a user, one
collection) at once. They are answered by ONE statement for all their keys: `unnest` of the
keys' arrays `WITH ORDINALITY`, joined to the table, so each row names the key it answers.

Why a coalesced read is never stale, nor anyone else's:
- A read only joins a batch that has not been sent yet. The statement therefore starts after
  every read in it was asked for, and sees every write committed before any of them: the
  same guarantee as a statement of its own. A read asked while a batch is on its way waits
  for the next one.
- Each row carries the ordinal of the key it was selected for, and a read receives only the
  rows of its own key (which holds the owner: keys are never shared between users unless
  they are the same key).
- Nothing is kept once a batch is answered.

At most `most_in_flight` batches of a kind are on their way at once: under light load a read
goes out in the loop iteration it was asked in (alone, with its single-key statement), and
under heavy load reads queue while the batches in flight return, so batches grow with the
load instead of the number of round trips.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

Rows = list[Sequence[Any]]
Key = tuple[Any, ...]  # the values of single_sql's parameters
Fetch = Callable[[str, Sequence[Any]], Awaitable[Rows]]


@dataclass(frozen=True, slots=True)
class KeyedRead:
    """A SELECT of the rows of one key, also written for many keys at once.

    `single_sql` takes the key's parts as `$1..$n`. `batch_sql` takes one array per part,
    in the same order, and selects the key's ordinal (1-based, from `WITH ORDINALITY`)
    first, then the columns of `single_sql`, ordered by the ordinal first; a key without
    rows has none, as with `single_sql`. Without it (SQLite), reads go one key at a time.
    """

    single_sql: str
    batch_sql: str | None = None


class _Waiting:
    """The reads of one kind not sent yet: the futures of each key, in order of first ask."""

    __slots__ = ("keys", "scheduled")

    def __init__(self) -> None:
        self.keys: dict[Key, list[asyncio.Future[Rows]]] = {}
        self.scheduled = False


class ReadBatches:
    """Coalesces concurrent `read(query, key)` calls of a worker into batched statements."""

    def __init__(self, fetch: Fetch, most_in_flight: int = 2) -> None:
        self._fetch = fetch
        self._most_in_flight = most_in_flight
        self._waiting: dict[KeyedRead, _Waiting] = {}
        self._in_flight: dict[KeyedRead, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.statements = 0  # sent, batched or not (tests and benchmarks read it)

    async def read(self, query: KeyedRead, key: Key) -> Rows:
        """The rows `query.single_sql` would select for `key`, from a statement started
        after this call."""
        if query.batch_sql is None:
            return await self._fetch(query.single_sql, key)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Rows] = loop.create_future()
        waiting = self._waiting.get(query)
        if waiting is None:
            waiting = self._waiting[query] = _Waiting()
        waiting.keys.setdefault(key, []).append(future)
        self._schedule(query, waiting, loop)
        return await future

    def _schedule(
        self, query: KeyedRead, waiting: _Waiting, loop: asyncio.AbstractEventLoop
    ) -> None:
        # Sent at the end of this loop iteration, so that reads asked in the same iteration
        # go together; or later, when a batch in flight returns.
        if not waiting.scheduled and self._in_flight.get(query, 0) < self._most_in_flight:
            waiting.scheduled = True
            loop.call_soon(self._send, query)

    def _send(self, query: KeyedRead) -> None:
        waiting = self._waiting.pop(query, None)
        if waiting is None:
            return
        keys = {key: futures for key, futures in waiting.keys.items() if _wanted(futures)}
        if not keys:
            return
        self._in_flight[query] = self._in_flight.get(query, 0) + 1
        task = asyncio.get_running_loop().create_task(self._answer(query, keys))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, query: KeyedRead, keys: dict[Key, list[asyncio.Future[Rows]]]) -> None:
        try:
            self.statements += 1
            if len(keys) == 1:
                [(key, futures)] = keys.items()
                _resolve(futures, await self._fetch(query.single_sql, key))
            else:
                assert query.batch_sql is not None
                self._resolve_batch(keys, await self._fetch(query.batch_sql, _arrays(keys)))
        except BaseException as error:
            for futures in keys.values():
                _fail(futures, error)
            if not isinstance(error, Exception):
                raise
        finally:
            self._in_flight[query] -= 1
            waiting = self._waiting.get(query)
            if waiting is not None:
                self._schedule(query, waiting, asyncio.get_running_loop())

    @staticmethod
    def _resolve_batch(keys: dict[Key, list[asyncio.Future[Rows]]], rows: Rows) -> None:
        answers: list[Rows] = [[] for _ in keys]
        for row in rows:
            answers[row[0] - 1].append(tuple(row)[1:])
        for futures, answer in zip(keys.values(), answers, strict=True):
            _resolve(futures, answer)

    async def close(self) -> None:
        """Waits for the batches on their way (their readers are answered)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _arrays(keys: dict[Key, list[asyncio.Future[Rows]]]) -> list[list[Any]]:
    """One array per key part, in key order (the ordinals of batch_sql)."""
    parts = list(zip(*keys, strict=True))
    return [list(part) for part in parts]


def _wanted(futures: list[asyncio.Future[Rows]]) -> bool:
    """Some reader of the key still waits (a cancelled request's read is not sent)."""
    return any(not future.done() for future in futures)


def _resolve(futures: list[asyncio.Future[Rows]], rows: Rows) -> None:
    for future in futures:
        if not future.done():
            future.set_result(rows)


def _fail(futures: list[asyncio.Future[Rows]], error: BaseException) -> None:
    for future in futures:
        if not future.done():
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(error)
