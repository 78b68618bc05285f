"""GET /metrics in process: behind its token, labelled by route template, counting what matters.

The metrics live in the process-wide registry, so each test compares values before and after.
The multi-worker sums are checked against real servers in test_metrics_processes.py.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from movie_collections.app import create_app
from movie_collections.core.errors import TooManyRequests
from movie_collections.core.settings import Settings
from movie_collections.core.telemetry import RequestTelemetryMiddleware
from movie_collections.counter.redis import RedisCounter
from tests.conftest import make_settings, movie, register
from tests.processes import free_port
from tests.services import REDIS_TEST_URL, redis_reachable, skip_or_fail
from tests.test_counter_redis import count_concurrently, until_readable

METRICS_TOKEN = "metrics-token-0123456789abcdef"
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "data", metrics_token=METRICS_TOKEN)


async def test_without_a_token_nothing_is_collected_or_served(tmp_path: Path) -> None:
    application = create_app(make_settings(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path))
    assert not any(m.cls is RequestTelemetryMiddleware for m in application.user_middleware)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/metrics", headers=SCRAPER)).status_code == 404


async def test_metrics_answer_only_to_the_token(client: httpx.AsyncClient, app: FastAPI) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": METRICS_TOKEN},
    ):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.headers["content-type"] == "application/problem+json"
    answer = await client.get("/metrics", headers=SCRAPER)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert "# TYPE http_requests_total counter" in answer.text
    # For the operator's scraper, not for API clients.
    assert "/metrics" not in app.openapi()["paths"]


async def test_requests_are_counted_by_route_template_method_and_status(
    client: httpx.AsyncClient,
) -> None:
    detail = "/collection/{collection_uuid}/"
    before = {
        "ok": sample("http_requests_total", route=detail, method="GET", status="200"),
        "missing": sample("http_requests_total", route="unmatched", method="GET", status="404"),
        "other": sample("http_requests_total", route="unmatched", method="OTHER", status="404"),
        "seconds": sample("http_request_duration_seconds_count", route=detail, method="GET"),
        "head": sample("http_requests_total", route=detail, method="HEAD", status="200"),
    }
    auth = await register(client)
    created = await client.post(
        "/collection/", json={"title": "t", "movies": [movie(1)]}, headers=auth
    )
    uuid = created.json()["collection_uuid"]
    for _ in range(3):
        assert (await client.get(f"/collection/{uuid}/", headers=auth)).status_code == 200
    assert (await client.head(f"/collection/{uuid}/", headers=auth)).status_code == 200
    secret_path = f"/no/such/{secrets.token_hex(8)}"
    assert (await client.get(secret_path)).status_code == 404
    assert (await client.request("BREW", secret_path)).status_code == 404
    assert (
        sample("http_requests_total", route=detail, method="GET", status="200") == before["ok"] + 3
    )
    assert (
        sample("http_request_duration_seconds_count", route=detail, method="GET")
        == before["seconds"] + 3
    )
    assert (
        sample("http_requests_total", route=detail, method="HEAD", status="200")
        == before["head"] + 1
    )
    assert (
        sample("http_requests_total", route="unmatched", method="GET", status="404")
        == before["missing"] + 1
    )
    assert (
        sample("http_requests_total", route="unmatched", method="OTHER", status="404")
        == before["other"] + 1
    )
    # Raw paths and methods never become labels: the series stay bounded.
    text = (await client.get("/metrics", headers=SCRAPER)).text
    assert uuid not in text
    assert secret_path not in text
    assert "BREW" not in text


async def test_every_429_is_counted_by_the_name_of_its_limit(
    database_url: str, tmp_path: Path
) -> None:
    """The auth limits name themselves; any other 429 (a budget) is counted where the error
    answer is made, under the name it gives or as `unnamed`."""
    settings = make_settings(
        database_url,
        tmp_path,
        metrics_token=METRICS_TOKEN,
        auth_rate_limit_per_username=1,
    )
    application = create_app(settings)

    async def over_budget() -> None:
        raise TooManyRequests("Over a budget.", limit="example_budget")

    async def over_something() -> None:
        raise TooManyRequests("Over something.")

    application.add_api_route("/over-budget/", over_budget)
    application.add_api_route("/over-something/", over_something)
    names = ("auth_login", "example_budget", "unnamed")
    before = {name: sample("movie_collections_refusals_total", limit=name) for name in names}
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            login = {"username": "nobody-here", "password": "wrong-password"}
            assert (await http.post("/login/", json=login)).status_code == 401
            assert (await http.post("/login/", json=login)).status_code == 429
            assert (await http.get("/over-budget/")).status_code == 429
            assert (await http.get("/over-something/")).status_code == 429
            assert (await http.get("/over-something/")).status_code == 429
    after = {name: sample("movie_collections_refusals_total", limit=name) for name in names}
    assert after == {
        "auth_login": before["auth_login"] + 1,
        "example_budget": before["example_budget"] + 1,
        "unnamed": before["unnamed"] + 2,
    }


async def test_database_connections_in_use_follow_the_pool(app: FastAPI) -> None:
    database = app.state.container.database
    name = "movie_collections_database_connections_in_use"
    idle = sample(name)
    async with database.connection():
        assert sample(name) == idle + 1
        async with database.transaction(write=True):
            assert sample(name) == idle + 2
        assert sample(name) == idle + 1
    assert sample(name) == idle


@pytest.mark.redis
async def test_counter_batches_are_counted_with_their_time_to_redis() -> None:
    if not redis_reachable():
        skip_or_fail("Redis is not reachable on 127.0.0.1:6379")
    redis = Redis.from_url(REDIS_TEST_URL, socket_timeout=2)
    prefix = f"test-{secrets.token_hex(6)}:"
    counter = RedisCounter(redis, key_prefix=prefix, retry_max_seconds=0.1)
    batches = sample("movie_collections_request_counter_batches_total")
    timed = sample("movie_collections_request_counter_batch_duration_seconds_count")
    await counter.start()
    try:
        await until_readable(counter)
        await count_concurrently(counter, 200)
        assert await counter.total() == 200
    finally:
        await counter.stop()
        await redis.delete(*[key async for key in redis.scan_iter(match=f"{prefix}*")])
        await redis.aclose()
    confirmed = sample("movie_collections_request_counter_batches_total") - batches
    assert 1 <= confirmed < 200  # batched, not one per request
    assert (
        sample("movie_collections_request_counter_batch_duration_seconds_count") - timed
        == confirmed
    )


async def test_counter_lag_shows_increments_redis_has_not_confirmed() -> None:
    """Nothing listens where Redis should be: the unsent gauge shows the increments held."""
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.2)
    counter = RedisCounter(redis, key_prefix="t:", retry_max_seconds=0.05, socket_timeout=0.2)
    await counter.start()
    try:
        for _ in range(37):
            counter.increment()
        deadline = asyncio.get_running_loop().time() + 10
        while sample("movie_collections_request_counter_unsent") != 37:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
    finally:
        await counter.stop()
        await redis.aclose()
