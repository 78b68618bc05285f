"""Ids of new collections: UUIDs that sort by creation time (version 7, RFC 9562)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_VERSION_MASK = 0xF << 76
_VARIANT_MASK = 0x3 << 62
_RANDOM_BYTES_PER_ID = 10  # 80 bits, 74 of them kept
_BUFFERED_IDS = 256


class _OsRandom:
    """The OS's CSPRNG (os.urandom, as `secrets` uses), read a few kilobytes at a time: one
    system call per 256 ids instead of one per id (each also releases the GIL to the SQLite
    writer thread). The buffer is dropped in a forked child, so no two processes ever
    draw the same bytes, nor two threads (the lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._buffer, self._offset = b"", 0

    def bits80(self) -> int:
        with self._lock:
            if self._offset + _RANDOM_BYTES_PER_ID > len(self._buffer):
                self._buffer = os.urandom(_RANDOM_BYTES_PER_ID * _BUFFERED_IDS)
                self._offset = 0
            start = self._offset
            self._offset = start + _RANDOM_BYTES_PER_ID
            return int.from_bytes(self._buffer[start : self._offset], "big")


_random = _OsRandom()


def new_collection_id() -> uuid.UUID:
    """48 bits of Unix time in milliseconds, then version 7, then 74 random bits.

    Why not random (version 4): a collection's rows go into four indexes keyed by its id;
    time-ordered ids make consecutive creates append to the same right-hand index pages
    instead of writing a random page of each.

    Still unguessable (74 random bits; ownership is checked anyway). The creation time, to
    the millisecond, can be read from the id: the list's order shows it already. Python 3.14
    has uuid.uuid7(); the uuid6 package's uuid7() was not taken because it moves its clock
    a millisecond ahead for every id within the same millisecond (ahead of real time under
    load).
    """
    value = (time.time_ns() // 1_000_000) << 80 | _random.bits80()
    value = (value & ~_VERSION_MASK) | (7 << 76)
    value = (value & ~_VARIANT_MASK) | (0x2 << 62)
    return uuid.UUID(int=value)
