"""FreshBatches: lookups asked while a fetch runs share the next one, never an older one."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from movie_collections.core.batching import FreshBatches


class Store:
    """Values read with a delay, as over a network; each fetch is recorded with its keys."""

    def __init__(self) -> None:
        self.values = {"a": 1, "b": 2, "c": 3}
        self.fetched: list[tuple[str, ...]] = []
        self.fail = False
        self.gate: asyncio.Event | None = None  # set: fetches end only once it is open

    async def fetch(self, keys: Sequence[str]) -> Mapping[str, int]:
        self.fetched.append(tuple(keys))
        found = {key: self.values[key] for key in keys if key in self.values}  # read at start
        if self.gate is None:
            await asyncio.sleep(0.02)
        else:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("store unreachable")
        return found


async def test_a_caller_alone_fetches_its_own_key_at_once() -> None:
    store = Store()
    batches = FreshBatches(store.fetch)
    assert await batches.get("a") == 1
    assert await batches.get("missing") is None
    assert store.fetched == [("a",), ("missing",)]


async def test_callers_asking_while_a_fetch_runs_share_the_next_one() -> None:
    store = Store()
    batches = FreshBatches(store.fetch)
    first = asyncio.create_task(batches.get("a"))
    await asyncio.sleep(0.005)  # its fetch is on its way
    keys = ["a", "b", "c", "b", "missing"] * 4
    later = [asyncio.create_task(batches.get(key)) for key in keys]
    assert await first == 1
    assert await asyncio.gather(*later) == [1, 2, 3, 2, None] * 4
    assert store.fetched == [("a",), ("a", "b", "c", "missing")]  # each key asked once


async def test_a_caller_never_gets_a_value_read_before_it_asked() -> None:
    store = Store()
    batches = FreshBatches(store.fetch)
    early = asyncio.create_task(batches.get("a"))
    await asyncio.sleep(0.005)  # the first fetch has read 1
    store.values["a"] = 10  # a write that completes before the next callers ask
    late = [asyncio.create_task(batches.get("a")) for _ in range(5)]
    assert await early == 1
    assert await asyncio.gather(*late) == [10] * 5


async def test_a_failed_fetch_fails_its_own_callers_only() -> None:
    store = Store()
    batches = FreshBatches(store.fetch)
    store.fail = True
    first = asyncio.create_task(batches.get("a"))
    await asyncio.sleep(0.005)
    waiting = [asyncio.create_task(batches.get("b")) for _ in range(3)]
    results = await asyncio.gather(first, *waiting, return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    store.fail = False
    assert await batches.get("b") == 2


async def test_a_cancelled_caller_leaves_the_fetch_to_the_others() -> None:
    store = Store()
    store.gate = asyncio.Event()  # no fetch ends before the cancellations (a busy machine)
    batches = FreshBatches(store.fetch)
    leader = asyncio.create_task(batches.get("a"))
    await asyncio.sleep(0)  # its fetch is running
    waiting = [asyncio.create_task(batches.get(key)) for key in ("b", "c")]
    await asyncio.sleep(0)
    leader.cancel()  # the caller whose own fetch is running goes away
    waiting[0].cancel()  # and so does one who waits
    with pytest.raises(asyncio.CancelledError):
        await leader
    with pytest.raises(asyncio.CancelledError):
        await waiting[0]
    store.gate.set()
    assert await waiting[1] == 3
    assert await batches.get("a") == 1  # nothing is left running or stuck
