"""A versioned cache: answers kept per key, each valid for exactly one version of its data.

The caller reads the key's current version from the database on every request and asks for
the answer built at that version; any committed write raises the version, so a kept answer is
never stale (docs/architecture.md). Bounded by bytes, least recently used out first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class VersionedCache(Generic[K]):
    """Key -> (version, answer bytes), at most `max_bytes` of answers and of the text in their
    keys (a page's URL is the client's to vary)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._answers: OrderedDict[K, tuple[int, bytes, int]] = OrderedDict()
        self._bytes = 0

    def get(self, key: K, version: int) -> bytes | None:
        found = self._answers.get(key)
        if found is None or found[0] != version:
            return None
        self._answers.move_to_end(key)
        return found[1]

    def put(self, key: K, version: int, answer: bytes) -> None:
        previous = self._answers.get(key)
        size = len(answer) + _text_in(key)
        if size > self.max_bytes or (previous is not None and previous[0] > version):
            return  # too big to keep, or a slower request read an older version
        if previous is not None:
            del self._answers[key]
            self._bytes -= previous[2]
        self._answers[key] = (version, answer, size)
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, (_, _, evicted) = self._answers.popitem(last=False)
            self._bytes -= evicted


def _text_in(key: Hashable) -> int:
    parts = key if isinstance(key, tuple) else (key,)
    return sum(len(part) for part in parts if isinstance(part, str))
