"""The JSON answers of GET /collection/ this process built last, per user and list version.

Why it cannot serve stale data: the key is the version the database holds for the user's
list (migration 0005), read from the database on every request. Triggers raise it in the
same transaction as every write to the user's collections, so a committed change is a new
version and the next request misses; an answer is stored under the version that was read in
the same snapshot as its rows. Why it cannot serve another user's data: the user id is part
of the key. A user without a version (no write yet, or deleted) is never looked up here, so
a deleted user still gets 401.

Bounded by bytes (least recently used out first); each process keeps its own.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict


class ListAnswers:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._answers: OrderedDict[uuid.UUID, tuple[int, bytes]] = OrderedDict()
        self._bytes = 0

    def get(self, user_id: uuid.UUID, version: int) -> bytes | None:
        found = self._answers.get(user_id)
        if found is None or found[0] != version:
            return None
        self._answers.move_to_end(user_id)
        return found[1]

    def put(self, user_id: uuid.UUID, version: int, answer: bytes) -> None:
        previous = self._answers.get(user_id)
        if len(answer) > self.max_bytes or (previous is not None and previous[0] > version):
            return  # too big to keep, or a slower request read an older version
        if previous is not None:
            del self._answers[user_id]
            self._bytes -= len(previous[1])
        self._answers[user_id] = (version, answer)
        self._bytes += len(answer)
        while self._bytes > self.max_bytes:
            _, (_, evicted) = self._answers.popitem(last=False)
            self._bytes -= len(evicted)
