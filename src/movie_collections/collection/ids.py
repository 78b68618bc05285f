"""Ids of new collections: UUIDs that sort by creation time (version 7, RFC 9562)."""

from __future__ import annotations

import os
import time
import uuid

_VERSION_MASK = 0xF << 76
_VARIANT_MASK = 0x3 << 62


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
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~_VERSION_MASK) | (7 << 76)
    value = (value & ~_VARIANT_MASK) | (0x2 << 62)
    return uuid.UUID(int=value)
