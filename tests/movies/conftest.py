"""The stand-in upstream for the /movies/ tests, and apps wired to it with fast knobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from movie_collections.app import create_app
from movie_collections.core.settings import Settings
from tests.conftest import make_settings
from tests.movies.upstream import UPSTREAM_PASSWORD, UPSTREAM_USERNAME, MockUpstreamProcess

# Short timeouts keep the suite fast; defaults are exercised in test_movies_defaults.py.
FAST_UPSTREAM: dict[str, Any] = {
    "movies_api_attempts": 4,
    "movies_api_backoff_base": 0.01,
    "movies_api_backoff_max": 0.05,
    "movies_api_connect_timeout": 0.5,
    "movies_api_read_timeout": 0.5,
    "movies_api_deadline": 3.0,
}


@pytest.fixture(scope="session")
def upstream_process() -> Iterator[MockUpstreamProcess]:
    process = MockUpstreamProcess().start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def upstream(upstream_process: MockUpstreamProcess) -> MockUpstreamProcess:
    """The session's stand-in upstream, back to its default behaviour and zeroed counters."""
    upstream_process.reset()
    return upstream_process


def upstream_settings(
    database_url: str, data_dir: Path, upstream: MockUpstreamProcess, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "movies_api_url": upstream.api_url,
        "movies_api_username": UPSTREAM_USERNAME,
        "movies_api_password": UPSTREAM_PASSWORD,
        **FAST_UPSTREAM,
        **overrides,
    }
    return make_settings(database_url, data_dir, **values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, upstream: MockUpstreamProcess) -> Settings:
    return upstream_settings(database_url, tmp_path / "data", upstream)


MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_client(database_url: str, tmp_path: Path, upstream: MockUpstreamProcess) -> MakeClient:
    """An app with other settings (`make_client(movies_api_deadline=1)`), and a client for it."""

    @asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = upstream_settings(database_url, tmp_path / "data", upstream, **overrides)
        application = create_app(settings)
        async with LifespanManager(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield c

    return build
