"""SingleFlight: one call per key in flight, its outcome handed to the callers one per loop turn."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest

from movie_collections.core.single_flight import SingleFlight


class Upstream:
    """A page fetched with a delay, as over a network; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.error: Exception | None = None
        self.before_answer: Callable[[], None] = lambda: None

    async def fetch(self, page: int) -> str:
        self.calls += 1
        call = self.calls
        await asyncio.sleep(0.02)
        self.before_answer()
        if self.error is not None:
            raise self.error
        return f"page {page}, call {call}"


async def test_concurrent_callers_share_one_call_and_a_later_caller_makes_its_own() -> None:
    upstream, calls = Upstream(), SingleFlight[int, str]()
    answers = await asyncio.gather(*(calls.run(1, lambda: upstream.fetch(1)) for _ in range(20)))
    assert answers == ["page 1, call 1"] * 20
    other = await asyncio.gather(
        calls.run(1, lambda: upstream.fetch(1)), calls.run(2, lambda: upstream.fetch(2))
    )
    assert other == ["page 1, call 2", "page 2, call 3"]  # the finished call was not reused


async def test_callers_are_answered_one_per_loop_turn() -> None:
    """After each answer the loop takes a turn (where it reads sockets: new requests, other
    endpoints) before the next caller is answered; woken all at once, the whole wave would be
    answered before anything else ran."""
    upstream, calls = Upstream(), SingleFlight[int, str]()
    events: list[tuple[str, int]] = []
    loop = asyncio.get_running_loop()

    async def caller(index: int) -> None:
        await calls.run(1, lambda: upstream.fetch(1))
        events.append(("answered", index))
        loop.call_soon(events.append, ("turn after", index))

    await asyncio.gather(*(caller(index) for index in range(10)))
    assert upstream.calls == 1
    answered = [index for kind, index in events if kind == "answered"]
    assert sorted(answered) == list(range(10))
    for previous, following in itertools.pairwise(answered):
        assert events.index(("turn after", previous)) < events.index(("answered", following))


@pytest.mark.parametrize("turns_after_the_answer", range(6))
async def test_a_caller_cancelled_at_any_moment_leaves_the_answer_to_the_others(
    turns_after_the_answer: int,
) -> None:
    """Cancelled while it waits, or once its turn has come but before it ran: the callers
    after it are still answered."""
    upstream, calls = Upstream(), SingleFlight[int, str]()
    loop = asyncio.get_running_loop()
    callers = [asyncio.create_task(calls.run(1, lambda: upstream.fetch(1))) for _ in range(4)]
    first = callers[0]

    def cancel_first_after(turns: int) -> None:
        if turns == 0:
            first.cancel()
        else:
            loop.call_soon(cancel_first_after, turns - 1)

    upstream.before_answer = lambda: cancel_first_after(turns_after_the_answer)
    async with asyncio.timeout(2):
        outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert outcomes[1:] == ["page 1, call 1"] * 3
    assert isinstance(outcomes[0], asyncio.CancelledError) or outcomes[0] == "page 1, call 1"
    assert upstream.calls == 1


async def test_a_failure_reaches_every_caller_and_is_not_kept() -> None:
    upstream, calls = Upstream(), SingleFlight[int, str]()
    upstream.error = ConnectionError("upstream unreachable")
    outcomes = await asyncio.gather(
        *(calls.run(1, lambda: upstream.fetch(1)) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    upstream.error = None
    assert await calls.run(1, lambda: upstream.fetch(1)) == "page 1, call 2"


async def test_cancel_all_cancels_every_caller_at_once() -> None:
    upstream, calls = Upstream(), SingleFlight[int, str]()
    callers = [asyncio.create_task(calls.run(1, lambda: upstream.fetch(1))) for _ in range(5)]
    await asyncio.sleep(0)  # the call has started
    calls.cancel_all()
    async with asyncio.timeout(2):
        outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
