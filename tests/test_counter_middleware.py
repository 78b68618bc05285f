"""The counter middleware alone: no response reaches the client before the counter's wait ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from movie_collections.counter.middleware import RequestCounterMiddleware

SCOPE = {"type": "http", "path": "/me/", "method": "GET", "headers": []}


class Counter:
    """A backend whose increment returns a future the test resolves (not an integration test:
    the real backends' waits are tested against real Redis in test_counter_redis.py)."""

    def __init__(self, fail: bool = False) -> None:
        self.future: asyncio.Future[None] | None = None
        self.fail = fail

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def increment(self) -> asyncio.Future[None]:
        if self.fail:
            raise RuntimeError("broken backend")
        self.future = asyncio.get_running_loop().create_future()
        return self.future

    async def total(self) -> int:
        return 0

    async def reset(self) -> None: ...


async def run(app: Any, counter: Counter) -> tuple[asyncio.Task[None], list[dict[str, Any]]]:
    delivered: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        delivered.append(message)

    middleware = RequestCounterMiddleware(app, counter)  # type: ignore[arg-type]
    task = asyncio.create_task(middleware(SCOPE, receive, send))
    for _ in range(10):
        await asyncio.sleep(0)
    return task, delivered


async def whole(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def streamed(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"a", "more_body": True})
    await send({"type": "http.response.body", "body": b"b"})


async def test_a_whole_response_is_held_until_the_count_is_in() -> None:
    counter = Counter()
    task, delivered = await run(whole, counter)
    assert delivered == []
    assert not task.done()
    assert counter.future is not None
    counter.future.set_result(None)
    await task
    assert [message["type"] for message in delivered] == [
        "http.response.start",
        "http.response.body",
    ]


async def test_a_streamed_response_waits_before_its_first_chunk_then_streams() -> None:
    counter = Counter()
    task, delivered = await run(streamed, counter)
    assert delivered == []
    assert counter.future is not None
    counter.future.set_result(None)
    await task
    assert [message.get("body") for message in delivered] == [None, b"a", b"b"]


async def test_what_was_held_still_goes_out_when_the_app_fails_afterwards() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await whole(scope, receive, send)
        raise RuntimeError("after the response")

    counter = Counter()
    task, delivered = await run(failing, counter)
    assert counter.future is not None
    counter.future.set_result(None)
    with pytest.raises(RuntimeError):
        await task
    assert len(delivered) == 2


async def test_a_failing_backend_never_fails_the_request() -> None:
    task, delivered = await run(whole, Counter(fail=True))
    await task
    assert len(delivered) == 2
