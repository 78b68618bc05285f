"""The default retry and deadline settings, against the stand-in upstream and a real server."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from movie_collections.app import create_app
from movie_collections.core.settings import Settings
from tests.conftest import PASSWORD, make_settings, register
from tests.movies.upstream import UPSTREAM_PASSWORD, UPSTREAM_USERNAME, MockUpstreamProcess
from tests.processes import ServerProcess, free_port

pytestmark = pytest.mark.slow

DEFAULTS = Settings.model_fields


def test_defaults_meet_the_promises() -> None:
    """6 attempts: a 30%-failing upstream fails a call 0.3**6 = 0.07% of the time."""
    assert DEFAULTS["movies_api_attempts"].default >= 5
    assert DEFAULTS["movies_api_deadline"].default <= 12


async def test_defaults_give_200_for_over_99_percent_against_a_30_percent_failing_upstream(
    database_url: str, tmp_path: Path, upstream: MockUpstreamProcess
) -> None:
    upstream.control(failure_rate=0.3, failure_kinds=["5xx", "reset", "html", "badjson"])
    settings = make_settings(
        database_url,
        tmp_path / "data",
        movies_api_url=upstream.api_url,
        movies_api_username=UPSTREAM_USERNAME,
        movies_api_password=UPSTREAM_PASSWORD,
        # One user, 300 calls at once: past the per-user budget, which is not measured here.
        movies_per_user_per_minute=0,
    )
    application = create_app(settings)
    statuses: Counter[int] = Counter()
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            headers = await register(client)

            async def worker(page: int) -> None:
                # One page per worker: no two requests in flight share an upstream call.
                for _ in range(30):
                    response = await client.get(f"/movies/?page={page}", headers=headers)
                    statuses[response.status_code] += 1

            started = time.monotonic()
            await asyncio.gather(*(worker(page) for page in range(1, 11)))
            elapsed = time.monotonic() - started
    stats = upstream.stats()
    print(f"300 calls in {elapsed:.1f}s: {dict(statuses)}; upstream {stats}")
    assert sum(statuses.values()) == 300
    assert statuses[200] >= 298, statuses  # over 99%
    assert set(statuses) <= {200, 502}
    failed = sum(value for key, value in stats["outcomes"].items() if key.startswith("failed:"))
    assert failed > 60  # the upstream really did fail about 30% of its calls
    assert stats["calls"] >= 300


@pytest.fixture
def server(upstream: MockUpstreamProcess, tmp_path: Path) -> ServerProcess:
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "MOVIES_API_URL": upstream.api_url,
        "MOVIES_API_USERNAME": UPSTREAM_USERNAME,
        "MOVIES_API_PASSWORD": UPSTREAM_PASSWORD,
        # The proxy in front: X-Forwarded-* is believed from it only once it is named.
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    return ServerProcess(environment, workers=1)


def _token(http: httpx.Client) -> dict[str, str]:
    response = http.post("/register/", json={"username": "maya", "password": PASSWORD})
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_real_server_proxies_pages_with_links_behind_a_proxy(
    server: ServerProcess, upstream: MockUpstreamProcess
) -> None:
    with server, httpx.Client(base_url=server.url, timeout=20) as http:
        headers = _token(http)
        response = http.get("/movies/?page=2", headers=headers)
        assert response.status_code == 200
        assert response.json()["next"] == f"{server.url}/movies/?page=3"
        # The proxy in front (trusted: 127.0.0.1) says the client used https.
        proxied = http.get(
            "/movies/?page=2", headers={**headers, "X-Forwarded-Proto": "https"}
        ).json()
        assert proxied["previous"] == f"https://127.0.0.1:{server.port}/movies/?page=1"
    assert upstream.calls() == 2


def test_hanging_upstream_gets_504_within_15_s_and_the_server_keeps_answering(
    server: ServerProcess, upstream: MockUpstreamProcess
) -> None:
    upstream.control(fail_next=1000, failure_kinds=["hang"], hang_seconds=60)
    with server, httpx.Client(base_url=server.url, timeout=30) as http:
        headers = _token(http)

        def get_movies(page: int) -> tuple[int, float]:
            started = time.monotonic()
            response = httpx.get(f"{server.url}/movies/?page={page}", headers=headers, timeout=30)
            return response.status_code, time.monotonic() - started

        with ThreadPoolExecutor(8) as pool:
            hanging = [pool.submit(get_movies, page) for page in range(1, 9)]
            time.sleep(1)
            for _ in range(5):
                started = time.monotonic()
                assert http.get("/collection/", headers=headers).status_code == 200
                assert http.get("/request-count/", headers=headers).status_code == 200
                assert time.monotonic() - started < 1
            results = [future.result() for future in hanging]
    assert all(status == 504 for status, _ in results), results
    assert all(elapsed < 15 for _, elapsed in results), results


def test_dead_upstream_gets_502_within_15_s_with_defaults(tmp_path: Path) -> None:
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "MOVIES_API_URL": f"http://127.0.0.1:{free_port()}/api/v1/maya/movies/",
    }
    with (
        ServerProcess(environment) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        headers = _token(http)
        started = time.monotonic()
        response = http.get("/movies/", headers=headers)
        assert response.status_code == 502
        assert time.monotonic() - started < 15
