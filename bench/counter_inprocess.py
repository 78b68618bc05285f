"""The request counter's own CPU cost per request, in one process, without HTTP:
`python bench/counter_inprocess.py [--requests 20000] [--concurrency 25]`.

`RequestCounterMiddleware` around a trivial ASGI app on uvloop, counter off, local and Redis
(a random prefix, removed afterwards), in interleaved rounds: CPU per request (the flusher's
round trips included) and its difference to "off"."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.services import REDIS_TEST_URL, redis_reachable

from movie_collections.counter.backend import DisabledCounter, RequestCounter
from movie_collections.counter.local import LocalFileCounter
from movie_collections.counter.middleware import RequestCounterMiddleware
from movie_collections.counter.redis import RedisCounter

SCOPE = {"type": "http", "path": "/me/", "method": "GET", "headers": []}
START = {"type": "http.response.start", "status": 200, "headers": []}
BODY = {"type": "http.response.body", "body": b"{}"}


WORK_SECONDS = 0.0  # CPU each request burns in the app (--work-us), like a real handler


async def trivial_app(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.sleep(0)  # a real handler yields at least once
    if WORK_SECONDS:
        until = time.thread_time() + WORK_SECONDS  # CPU time: fair when descheduled
        while time.thread_time() < until:
            pass
    await send(START)
    await send(BODY)


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    return None


async def measure(backend: str, requests: int, concurrency: int, directory: Path) -> float:
    import redis.asyncio

    client = None
    prefix = f"bench-{secrets.token_hex(6)}:"
    counter: RequestCounter
    if backend == "redis":
        client = redis.asyncio.Redis.from_url(REDIS_TEST_URL, socket_timeout=1)
        counter = RedisCounter(client, key_prefix=prefix)
    elif backend == "local":
        counter = LocalFileCounter(directory / secrets.token_hex(4))
    else:
        counter = DisabledCounter()
    await counter.start()
    await _ready(counter)
    app = trivial_app if backend == "off" else RequestCounterMiddleware(trivial_app, counter)

    async def connection(count: int) -> None:
        """One client connection: a request, its response, the next request (like wrk)."""
        for _ in range(count):
            await app(SCOPE, receive, send)

    async def load(total: int) -> None:
        await asyncio.gather(*(connection(total // concurrency) for _ in range(concurrency)))

    await load(10 * concurrency)  # warm-up: connection, script load
    cpu = time.process_time()
    await load(requests)
    cpu = time.process_time() - cpu
    if backend != "off":
        expected = (10 + requests // concurrency) * concurrency
        counted = await counter.total()
        assert counted == expected, f"the counter counted {counted}, not {expected}"
    await counter.stop()
    if client is not None:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    return cpu / requests * 1e6


async def _ready(counter: RequestCounter) -> None:
    """Until the counter answers (the Redis one connects in the background)."""
    for _ in range(100):
        try:
            await counter.total()
            return
        except Exception:
            await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--work-us", type=float, default=0, help="CPU µs each request burns in the app"
    )
    arguments = parser.parse_args()
    global WORK_SECONDS
    WORK_SECONDS = arguments.work_us / 1e6
    backends = ["off", "local"] + (["redis"] if redis_reachable() else [])
    costs: dict[str, list[float]] = {backend: [] for backend in backends}
    with tempfile.TemporaryDirectory(prefix="counter-inprocess-") as directory:
        for _ in range(arguments.rounds):
            for backend in backends:
                costs[backend].append(
                    uvloop.run(
                        measure(backend, arguments.requests, arguments.concurrency, Path(directory))
                    )
                )
    off = min(costs["off"])
    for backend in backends:
        rounds = ", ".join(f"{cost:.1f}" for cost in costs[backend])
        extra = min(costs[backend]) - off
        least = min(costs[backend])
        print(f"{backend:>5}: least {least:6.1f} µs/request ({extra:+.1f} vs off); rounds {rounds}")


if __name__ == "__main__":
    main()
