"""FreshSingleFlight: callers share a call, and never one that started before they asked."""

from __future__ import annotations

import asyncio

import pytest

from movie_collections.core.single_flight import FreshSingleFlight


class Store:
    """A value read with a delay, as over a network."""

    def __init__(self) -> None:
        self.value = 0
        self.fail = False
        self.reads = 0

    async def read(self) -> int:
        self.reads += 1
        value = self.value  # read when the call starts, answered later
        await asyncio.sleep(0.02)
        if self.fail:
            raise ConnectionError("store unreachable")
        return value


async def test_concurrent_callers_share_one_call() -> None:
    store = Store()
    read = FreshSingleFlight(store.read)
    assert await asyncio.gather(*(read() for _ in range(50))) == [0] * 50
    assert store.reads == 1


async def test_a_caller_asking_while_a_call_runs_gets_a_later_call() -> None:
    store = Store()
    read = FreshSingleFlight(store.read)
    early = asyncio.create_task(read())
    await asyncio.sleep(0.005)  # the first call has read 0 and is on its way
    store.value = 1  # a write that completes before the next callers ask
    late = [asyncio.create_task(read()) for _ in range(10)]
    assert await early == 0
    assert await asyncio.gather(*late) == [1] * 10
    assert store.reads == 2


async def test_a_failure_goes_to_that_calls_callers_only() -> None:
    store = Store()
    read = FreshSingleFlight(store.read)
    store.fail = True
    results = await asyncio.gather(*(read() for _ in range(3)), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    store.fail = False
    assert await read() == 0


async def test_a_cancelled_caller_leaves_the_call_to_the_others() -> None:
    store = Store()
    read = FreshSingleFlight(store.read)
    gone, kept = asyncio.create_task(read()), asyncio.create_task(read())
    await asyncio.sleep(0.005)
    gone.cancel()
    assert await kept == 0
    with pytest.raises(asyncio.CancelledError):
        await gone
