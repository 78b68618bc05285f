"""New collection ids are RFC 9562 version 7 UUIDs: time-ordered, still random."""

from __future__ import annotations

import time
import uuid

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
