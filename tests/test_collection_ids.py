"""New collection ids are RFC 9562 version 7 UUIDs: time-ordered, still random."""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from movie_collections.collection.ids import new_collection_id


def test_version_7_in_creation_order_and_unique() -> None:
    ids = []
    for _ in range(3):
        ids.extend(new_collection_id() for _ in range(1000))
        time.sleep(0.002)
    assert {identifier.version for identifier in ids} == {7}
    assert {identifier.variant for identifier in ids} == {uuid.RFC_4122}
    assert len(set(ids)) == len(ids)
    # Ordered by their millisecond: what makes new rows land on the indexes' last pages.
    milliseconds = [identifier.int >> 80 for identifier in ids]
    assert milliseconds == sorted(milliseconds)
    assert abs(milliseconds[-1] - time.time_ns() // 1_000_000) < 1000
    # 74 random bits: ids of one millisecond differ in many places, not by a counter.
    same_ms = [i for i in ids if i.int >> 80 == milliseconds[0]]
    assert len({i.int & ((1 << 62) - 1) for i in same_ms}) == len(same_ms)


def test_a_forked_child_draws_other_random_bits_than_its_parent() -> None:
    """The OS's random bytes are read ahead in a buffer; a child forked with a full buffer must
    not hand out the ids its parent will (two workers creating the same collection id)."""
    new_collection_id()  # the buffer now holds the bits of the next ids
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover  (the child)
        os.close(reading)
        os.write(writing, b"".join(new_collection_id().bytes for _ in range(300)))
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading, "rb") as pipe:
        drawn = pipe.read()
    os.waitpid(child, 0)
    in_child = {drawn[i : i + 16] for i in range(0, len(drawn), 16)}
    in_parent = {new_collection_id().bytes for _ in range(300)}
    random_bits = (1 << 74) - 1  # the low 74 bits: random but for the two variant bits
    assert len(in_child) == 300
    child_random = {int.from_bytes(b, "big") & random_bits for b in in_child}
    parent_random = {int.from_bytes(b, "big") & random_bits for b in in_parent}
    assert not child_random & parent_random


def test_ids_drawn_from_many_threads_are_unique() -> None:
    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(lambda _: [new_collection_id() for _ in range(2000)], range(8)))
    ids = [identifier for batch in batches for identifier in batch]
    assert len(set(ids)) == len(ids)
