"""GET /metrics of a real two-worker server: every scrape sums all workers, dead ones included."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import ServerProcess
from tests.reliability.test_fault_worker_kill import replacement_of, worker_pids

pytestmark = pytest.mark.slow

METRICS_TOKEN = "metrics-token-0123456789abcdef"
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}
LIVE = "/health/live"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One scrape on a new connection (so on any worker): every sample by name and labels."""
    response = httpx.get(f"{url}/metrics", headers=SCRAPER, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_to(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], route: str) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "http_requests_total" and dict(labels)["route"] == route
    )


async def hit(url: str, path: str, times: int) -> None:
    """`times` requests, each on a new connection, 20 at a time: the kernel spreads them."""
    limits = httpx.Limits(max_keepalive_connections=0)  # no reuse: a connection per request
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def one() -> None:
            assert (await http.get(url + path)).status_code == 200

        for start in range(0, times, 20):
            await asyncio.gather(*(one() for _ in range(min(20, times - start))))


async def hit_until_both_workers_count(url: str, counter_dir: Path) -> int:
    """Rounds of `hit` until each worker has served some: the kernel may favour one for a while."""
    sent = 0
    while counting_workers(counter_dir) < 2 and sent < 2_000:
        await hit(url, LIVE, 40)
        sent += 40
    assert counting_workers(counter_dir) == 2, f"one worker took all {sent} connections"
    return sent


def counting_workers(counter_dir: Path) -> int:
    """Workers whose request-counter file holds a count: proof both served requests."""
    return sum(
        1
        for path in counter_dir.glob("worker-*.count")
        if int.from_bytes(path.read_bytes()[:8], "little") > 0
    )


async def test_every_scrape_sums_every_worker_and_keeps_a_dead_workers_counts(
    tmp_path: Path,
) -> None:
    metrics_dir = tmp_path / "given"
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "SECRET_KEY": "metrics-secret-0123456789abcdef0123456789abcdef",
        "METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    with ServerProcess(environment, workers=2) as server:
        sent = await hit_until_both_workers_count(server.url, tmp_path / "counter")
        scrapes = [scrape(server.url) for _ in range(6)]
        # Whichever worker answers, it reports the sum of both: exactly what was sent.
        assert {requests_to(s, LIVE) for s in scrapes} == {sent}
        assert [requests_to(s, "/metrics") for s in scrapes] == [0, 1, 2, 3, 4, 5]
        assert (
            scrapes[-1][
                ("http_request_duration_seconds_count", (("method", "GET"), ("route", LIVE)))
            ]
            == sent
        )

        # A worker killed outright: what it counted stays; its live gauges go.
        workers = worker_pids(server)
        assert len(workers) == 2
        assert (metrics_dir / f"gauge_livesum_{workers[0]}.db").exists()
        os.kill(workers[0], signal.SIGKILL)
        replaced = await replacement_of(server, workers[0])
        assert len(replaced) == 2
        assert workers[0] not in replaced
        await hit(server.url, LIVE, 30)
        after = scrape(server.url)
        assert requests_to(after, LIVE) == sent + 30
        live = {int(path.stem.rsplit("_", 1)[1]) for path in metrics_dir.glob("gauge_live*.db")}
        assert server.process is not None
        assert live <= {server.process.pid, *replaced}
        assert workers[0] not in live
        assert after[("movie_collections_database_connections_in_use", ())] == 0


def test_serve_keeps_metrics_in_a_private_directory_emptied_at_start(tmp_path: Path) -> None:
    stale = tmp_path / "metrics" / "counter_4242.db"
    stale.parent.mkdir(mode=0o755)
    stale.write_bytes(b"left by an earlier run")
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",  # DATA_DIR: tmp_path
        "SECRET_KEY": "metrics-secret-0123456789abcdef0123456789abcdef",
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    # One worker: uvicorn serves from the `serve` process itself, migrations and all.
    with ServerProcess(environment, workers=1) as server:
        assert not stale.exists()
        httpx.get(server.url + LIVE)
        assert requests_to(scrape(server.url), LIVE) == 1
        assert stale.parent.stat().st_mode & 0o777 == 0o700
