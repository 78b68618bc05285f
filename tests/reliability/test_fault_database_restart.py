"""PostgreSQL stopped and restarted under write traffic to a multi-worker server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from movie_collections.core.migrate import upgrade_to_head
from tests.private_services import PrivatePostgres, postgres_server_available
from tests.processes import NO_USER_BUDGETS, ServerProcess
from tests.reliability.traffic import Traffic, movies_for
from tests.services import skip_or_fail

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if not postgres_server_available():
        skip_or_fail("PostgreSQL server binaries are not installed")
    with PrivatePostgres() as server:
        upgrade_to_head(server.url)
        yield server


async def no_partial_collections(url: str) -> list[str]:
    """Straight from the database: every stored collection holds exactly one whole version."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT c.title, count(m.position) AS movies, coalesce(max(m.position), -1) AS last"
            " FROM collections c LEFT JOIN collection_movies m ON m.collection_id = c.id"
            " GROUP BY c.id, c.title"
        )
    finally:
        await connection.close()
    return [
        f"{row['title']}: {row['movies']} movies"
        for row in rows
        if row["movies"] != len(movies_for(row["title"])) or row["last"] != row["movies"] - 1
    ]


async def test_database_stopped_and_restarted_mid_traffic(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """`pg_ctl stop -m <mode>`, each mode in turn under the same traffic and server: smart
    refuses new connections and waits until the clients let go of theirs (the pool does, on the
    first refusal), fast ends them between operations (asyncpg: InternalClientError,
    InterfaceError, AdminShutdown), immediate cuts them."""
    environment = {
        "DATABASE_URL": private_postgres.url,
        "DATABASE_POOL_TIMEOUT": "2",
        "DATABASE_POOL_RECYCLE": "1",  # smart: connections turn over, one meets the refusal
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "fault-secret-0123456789abcdef0123456789abcdef",
        # A create cut off by the outage leaves its key claimed; retries may take it over after
        # this long (production: 60 s).
        "IDEMPOTENCY_IN_FLIGHT_TIMEOUT": "2",
        **NO_USER_BUDGETS,
    }
    with ServerProcess(environment, workers=2) as server:
        traffic = Traffic(server.url, clients=4, idempotent_creates=True)
        running = asyncio.create_task(traffic.run())
        await asyncio.sleep(1.5)
        for mode in ("smart", "fast", "immediate"):
            await asyncio.to_thread(private_postgres.stop, mode)
            stopped_at = time.monotonic()
            # While the database is down: fast 503s, and what needs no database still answers.
            async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
                started = time.monotonic()
                live = await http.get("/health/live")
                assert live.status_code == 200
                assert time.monotonic() - started < 1.0
            await asyncio.sleep(1.5)
            down = traffic.statuses_between(stopped_at + 0.5, time.monotonic())
            await asyncio.to_thread(private_postgres.start)
            restarted_at = time.monotonic()
            await asyncio.sleep(3.0)
            after = traffic.statuses_between(restarted_at + 2.0, time.monotonic())
            print(  # reported in docs/reliability.md (pytest -s shows it)
                f"database restart ({mode}): while down {dict(down)}; "
                f"from 2 s after the restart {dict(after)}"
            )
            assert set(down) == {503}, (mode, down)
            assert down[503] > 5, (mode, down)
            # Full recovery: everything succeeds again shortly after the restart.
            assert set(after) <= {200, 201}, (mode, after)
            assert after[200] + after[201] > 5, (mode, after)
        traffic.stop.set()
        await running
        print(
            f"database restarts: {dict(traffic.statuses)} in total; "
            f"{traffic.transport_errors} transport errors; {traffic.replays} creates replayed"
        )
        assert all(retry == "1" for retry in traffic.retry_after_of_503), traffic.retry_after_of_503
        # 409: a retried create whose first attempt the outage cut off, until taken over.
        assert set(traffic.statuses) <= {200, 201, 409, 503}, _unhandled_errors(server.output())
        assert traffic.transport_errors == 0
        problems = await traffic.verify(server.url)
    assert problems == []
    assert await no_partial_collections(private_postgres.url) == []


def _unhandled_errors(output: str) -> str:
    """The server's logged 500s with their tracebacks (not the expected 503 lines)."""
    lines = output.splitlines()
    starts = [index for index, line in enumerate(lines) if "unhandled error" in line]
    return "\n".join("\n".join(lines[start : start + 60]) for start in starts[:3])
