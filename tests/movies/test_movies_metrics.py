"""Each call to the catalogue is counted by its outcome, retries included."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

from tests.movies.upstream import MockUpstreamProcess

OUTCOMES = ("ok", "server_error", "throttled", "bad_body", "connection_error", "not_found")


def attempts() -> dict[str, float]:
    return {
        outcome: REGISTRY.get_sample_value(
            "movie_collections_upstream_attempts_total", {"outcome": outcome}
        )
        or 0.0
        for outcome in OUTCOMES
    }


async def test_upstream_attempts_are_counted_by_outcome(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    timed = REGISTRY.get_sample_value("movie_collections_upstream_attempt_duration_seconds_count")
    before = attempts()
    upstream.control(fail_next=2, failure_kinds=["5xx"])
    assert (await client.get("/movies/", headers=auth)).status_code == 200
    upstream.control(fail_next=1, failure_kinds=["badjson"])
    assert (await client.get("/movies/?page=2", headers=auth)).status_code == 200
    assert (await client.get("/movies/?page=9999", headers=auth)).status_code == 404
    after = attempts()
    assert {outcome: after[outcome] - before[outcome] for outcome in OUTCOMES} == {
        "ok": 2,
        "server_error": 2,
        "throttled": 0,
        "bad_body": 1,
        "connection_error": 0,
        "not_found": 1,
    }
    count = REGISTRY.get_sample_value("movie_collections_upstream_attempt_duration_seconds_count")
    assert count == (timed or 0.0) + 6
