"""JSON answers this process built last, each kept for one version of what it shows.

Two kinds are kept, each in its own budget:
- `GET /collection/`, per user and list version (migration 0005);
- `GET /collection/<uuid>/`, per (owner, collection) and collection version (the ETag).

Why they cannot serve stale data: the key's version is read from the database on every
request, and the database raises it in the same transaction as every write the answer
depends on. A user's list version is raised by triggers on every insert, update or delete of
one of their collections; a collection's version is raised by every write of the collection
or its movies (the ETag contract: `If-Match` depends on it just the same). So a committed
change is a new version and the next request misses. An answer is stored under the version
read in the same snapshot (the same statement, for one collection) as its rows.

Why they cannot serve another user's data: the owner is part of the key. A key the database
has no version for (no write yet, deleted, not the caller's) is never looked up here, so a
deleted user still gets 401 and a foreign collection 404.

Bounded by bytes (least recently used out first); each process keeps its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class KeptAnswers(Generic[K]):
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._answers: OrderedDict[K, tuple[int, bytes]] = OrderedDict()
        self._bytes = 0

    def get(self, key: K, version: int) -> bytes | None:
        found = self._answers.get(key)
        if found is None or found[0] != version:
            return None
        self._answers.move_to_end(key)
        return found[1]

    def put(self, key: K, version: int, answer: bytes) -> None:
        previous = self._answers.get(key)
        if len(answer) > self.max_bytes or (previous is not None and previous[0] > version):
            return  # too big to keep, or a slower request read an older version
        if previous is not None:
            del self._answers[key]
            self._bytes -= len(previous[1])
        self._answers[key] = (version, answer)
        self._bytes += len(answer)
        while self._bytes > self.max_bytes:
            _, (_, evicted) = self._answers.popitem(last=False)
            self._bytes -= len(evicted)
