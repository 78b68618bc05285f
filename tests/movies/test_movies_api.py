"""GET /movies/ against the stand-in upstream running as a real HTTP server."""

from __future__ import annotations

import asyncio
import base64
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_HOSTS, register
from tests.movies.conftest import MakeClient
from tests.movies.upstream import UPSTREAM_PASSWORD, UPSTREAM_USERNAME, MockUpstreamProcess
from tests.processes import free_port


def upstream_page(upstream: MockUpstreamProcess, page: int) -> dict[str, object]:
    response = httpx.get(
        upstream.api_url, params={"page": page}, auth=(UPSTREAM_USERNAME, UPSTREAM_PASSWORD)
    )
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


def assert_no_upstream_leak(text: str, upstream: MockUpstreamProcess) -> None:
    assert f":{upstream.port}" not in text
    assert UPSTREAM_PASSWORD not in text


async def test_first_page_has_the_spec_shape_and_our_own_links(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    response = await client.get("/movies/", headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"count", "next", "previous", "data"}
    assert body["count"] == 95
    assert body["next"] == "http://testserver/movies/?page=2"
    assert body["previous"] is None
    assert len(body["data"]) == 10
    assert all(set(item) == {"title", "description", "genres", "uuid"} for item in body["data"])
    assert body["data"] == upstream_page(upstream, 1)["data"]
    assert_no_upstream_leak(response.text, upstream)


async def test_middle_page_links_are_rewritten_to_this_server(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    # Upstream's previous link for page 2 has no `page` at all (as DRF writes it).
    assert upstream_page(upstream, 2)["previous"] == upstream.api_url
    second = (await client.get("/movies/?page=2", headers=auth)).json()
    assert second["previous"] == "http://testserver/movies/?page=1"
    assert second["next"] == "http://testserver/movies/?page=3"
    fifth = (await client.get("/movies/", params={"page": 5}, headers=auth)).json()
    assert fifth["previous"] == "http://testserver/movies/?page=4"
    assert fifth["next"] == "http://testserver/movies/?page=6"
    assert fifth["data"] == upstream_page(upstream, 5)["data"]
    assert fifth["data"] != second["data"]


async def test_last_page_has_no_next(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    body = (await client.get("/movies/?page=10", headers=auth)).json()
    assert body["next"] is None
    assert body["previous"] == "http://testserver/movies/?page=9"
    assert len(body["data"]) == 5


async def test_links_follow_the_host_the_client_used(
    make_client: MakeClient, upstream: MockUpstreamProcess
) -> None:
    async with make_client(allowed_hosts=f"{TEST_HOSTS},api.example.org") as client:
        auth = await register(client)
        response = await client.get(
            "https://api.example.org/movies/?page=3", headers={**auth, "host": "api.example.org"}
        )
    body = response.json()
    assert body["next"] == "https://api.example.org/movies/?page=4"
    assert body["previous"] == "https://api.example.org/movies/?page=2"


async def test_the_results_key_is_accepted_like_data(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    expected = upstream_page(upstream, 3)["data"]
    upstream.control(list_key="results")
    assert "results" in upstream_page(upstream, 3)
    response = await client.get("/movies/?page=3", headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == expected


async def test_movies_need_authentication(
    client: httpx.AsyncClient, upstream: MockUpstreamProcess
) -> None:
    response = await client.get("/movies/")
    assert response.status_code == 401
    assert upstream.calls() == 0


# Only decimal digits: Python's int() would also read "1_0", "+1", " 1" and "1.0" (as 10 and 1).
@pytest.mark.parametrize(
    "page", ["0", "-1", "abc", "1.5", "100001", "", "1_0", "%2B1", "+1", "1%20", "1.0", "%D9%A1"]
)
async def test_page_must_be_a_positive_integer(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess, page: str
) -> None:
    response = await client.get(f"/movies/?page={page}", headers=auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert upstream.calls() == 0


async def test_a_page_past_movies_max_page_is_422_naming_the_limit(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    response = await client.get("/movies/?page=100001", headers=auth)
    assert response.status_code == 422
    assert response.json()["limit"] == "max_movies_page"
    assert upstream.calls() == 0


async def test_page_past_the_end_is_404_and_not_retried(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    response = await client.get("/movies/?page=11", headers=auth)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "11" in response.json()["detail"]
    assert upstream.calls() == 1


@pytest.mark.parametrize("kind", ["5xx", "reset", "html", "badjson", "hang"])
async def test_each_fault_kind_is_retried(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess, kind: str
) -> None:
    upstream.control(fail_next=2, failure_kinds=[kind], hang_seconds=5)
    response = await client.get("/movies/?page=2", headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == upstream_page(upstream, 2)["data"]
    outcomes = upstream.stats()["outcomes"]
    assert outcomes[f"failed:{kind}"] == 2
    assert outcomes["ok"] == 2  # ours, then upstream_page's own check


async def test_429_is_retried_after_the_retry_after_delay(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    upstream.control(fail_next=1, failure_kinds=["429"], retry_after="1")
    started = time.monotonic()
    response = await client.get("/movies/", headers=auth)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert elapsed >= 0.95  # the backoff alone would be at most 0.05 s
    assert upstream.calls() == 2


async def test_a_retry_after_no_date_can_hold_is_ignored(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    """A year past any datetime made the date parser overflow: it was a 500."""
    far = "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"
    upstream.control(fail_next=1, failure_kinds=["429"], retry_after=far)
    response = await client.get("/movies/", headers=auth)
    assert response.status_code == 200, response.text
    assert upstream.calls() == 2


@pytest.mark.parametrize("retry_after", ["60", "1e999", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_retry_after_beyond_the_deadline_answers_now(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    upstream: MockUpstreamProcess,
    retry_after: str,
) -> None:
    upstream.control(fail_next=1, failure_kinds=["429"], retry_after=retry_after)
    started = time.monotonic()
    response = await client.get("/movies/", headers=auth)
    assert response.status_code == 502
    assert time.monotonic() - started < 1
    assert upstream.calls() == 1


@pytest.mark.parametrize(
    ("kind", "detail"),
    [
        ("5xx", "kept failing"),
        ("reset", "could not be reached"),
        ("html", "unexpected body"),
        ("badjson", "unexpected body"),
        # 32 MiB, streamed or as a 32 KiB gzip bomb: never read past MOVIES_API_MAX_BODY_BYTES.
        ("huge", "more than 1048576 bytes"),
        ("gzipbomb", "more than 1048576 bytes"),
    ],
)
async def test_persistent_failure_is_502_after_every_attempt(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    upstream: MockUpstreamProcess,
    kind: str,
    detail: str,
) -> None:
    upstream.control(fail_next=100, failure_kinds=[kind])
    response = await client.get("/movies/", headers=auth)
    assert response.status_code == 502, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert upstream.calls() == 4  # FAST_UPSTREAM's movies_api_attempts


async def test_unreachable_upstream_is_502(
    make_client: MakeClient,
) -> None:
    async with make_client(movies_api_url=f"http://127.0.0.1:{free_port()}/movies/") as client:
        headers = await _register(client)
        started = time.monotonic()
        response = await client.get("/movies/", headers=headers)
        assert response.status_code == 502
        assert "could not be reached" in response.json()["detail"]
        assert time.monotonic() - started < 2


async def test_refused_credentials_are_a_502_that_says_so(
    make_client: MakeClient, upstream: MockUpstreamProcess
) -> None:
    async with make_client(movies_api_password="wrong-password") as client:
        headers = await _register(client)
        response = await client.get("/movies/", headers=headers)
    assert response.status_code == 502
    assert "refused our credentials" in response.json()["detail"]
    assert "wrong-password" not in response.text
    assert upstream.stats()["outcomes"] == {"calls": 1, "unauthorized": 1}  # not retried


async def test_hanging_upstream_is_504_at_the_deadline(
    make_client: MakeClient, upstream: MockUpstreamProcess
) -> None:
    upstream.control(fail_next=100, failure_kinds=["hang"], hang_seconds=30)
    async with make_client(
        movies_api_deadline=1.5, movies_api_read_timeout=5, movies_api_attempts=3
    ) as client:
        headers = await _register(client)
        started = time.monotonic()
        response = await client.get("/movies/", headers=headers)
        elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 1.4 <= elapsed < 2.5
    assert upstream.calls() == 1  # the deadline, not the read timeout, ended it


async def test_timeouts_on_every_attempt_are_504(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    upstream.control(fail_next=100, failure_kinds=["hang"], hang_seconds=30)
    started = time.monotonic()
    response = await client.get("/movies/", headers=auth)
    assert response.status_code == 504
    assert upstream.calls() == 4  # four read timeouts of 0.5 s, within the 3 s deadline
    assert time.monotonic() - started < 3


async def test_other_endpoints_answer_while_the_upstream_hangs(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    upstream.control(fail_next=100, failure_kinds=["hang"], hang_seconds=30)
    hanging = [
        asyncio.create_task(client.get(f"/movies/?page={page}", headers=auth))
        for page in range(1, 6)
    ]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    collections = await client.get("/collection/", headers=auth)
    count = await client.get("/request-count/", headers=auth)
    assert collections.status_code == 200
    assert count.status_code == 200
    assert time.monotonic() - started < 0.5
    assert not any(task.done() for task in hanging)
    assert [(await task).status_code for task in hanging] == [504] * 5


async def test_n_sequential_requests_make_n_upstream_calls(
    make_client: MakeClient, upstream: MockUpstreamProcess
) -> None:
    async with make_client(movies_api_pool_shards=2) as client:
        headers = await _register(client)
        for _ in range(10):
            response = await client.get("/movies/?page=4", headers=headers)
            assert response.status_code == 200
    stats = upstream.stats()
    assert stats["calls"] == 10
    # Pooled keep-alive connections (one per pool shard) served them all.
    assert stats["connections"] == 2


async def test_concurrent_identical_requests_share_one_call_but_nothing_is_kept(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    upstream.control(latency=0.3)
    answers = await asyncio.gather(*(client.get("/movies/", headers=auth) for _ in range(5)))
    assert [answer.status_code for answer in answers] == [200] * 5
    assert upstream.calls() == 1
    other_page = await asyncio.gather(
        client.get("/movies/?page=1", headers=auth), client.get("/movies/?page=2", headers=auth)
    )
    assert [answer.status_code for answer in other_page] == [200, 200]
    assert upstream.calls() == 3  # the finished call was not reused; page 2 has its own


async def test_upstream_changes_show_immediately(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    """Nothing is served from memory: a fault set after a success is seen by the next call."""
    assert (await client.get("/movies/", headers=auth)).status_code == 200
    upstream.control(fail_next=100, failure_kinds=["5xx"])
    assert (await client.get("/movies/", headers=auth)).status_code == 502


async def test_logs_record_each_attempt_without_credentials(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    upstream: MockUpstreamProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstream.control(fail_next=2, failure_kinds=["5xx", "reset"])
    caplog.set_level(logging.DEBUG)
    response = await client.get("/movies/?page=3", headers=auth)
    assert response.status_code == 200
    attempts = [
        record.getMessage()
        for record in caplog.records
        if record.name == "movie_collections.movies.client"
    ]
    assert len(attempts) == 3
    assert "page=3 attempt=1/4 outcome=HTTP 5" in attempts[0]
    assert "attempt=2/4 outcome=connection error" in attempts[1]
    assert "attempt=3/4 outcome=ok" in attempts[2]
    assert all("latency_ms=" in line for line in attempts)
    encoded = base64.b64encode(f"{UPSTREAM_USERNAME}:{UPSTREAM_PASSWORD}".encode()).decode()
    assert UPSTREAM_PASSWORD not in caplog.text
    assert encoded not in caplog.text


async def _register(client: httpx.AsyncClient) -> dict[str, str]:
    from tests.conftest import register

    return await register(client)


async def test_movies_missing_a_field_are_passed_with_it_empty(
    client: httpx.AsyncClient, auth: dict[str, str], upstream: MockUpstreamProcess
) -> None:
    complete = upstream_page(upstream, 2)["data"]
    upstream.control(sparse=True)
    sparse = upstream_page(upstream, 2)["data"]
    assert isinstance(sparse, list)
    assert "genres" not in sparse[0]
    response = await client.get("/movies/?page=2", headers=auth)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert isinstance(complete, list)
    assert data[0] == {**complete[0], "genres": ""}
    assert data[1] == {**complete[1], "description": ""}
    assert data[2] == {**complete[2], "uuid": ""}
    assert all(set(item) == {"title", "description", "genres", "uuid"} for item in data)


@pytest.fixture
def self_signed_upstream(tmp_path: Path) -> Iterator[MockUpstreamProcess]:
    """The stand-in upstream over HTTPS with a self-signed certificate nobody trusts."""
    key, certificate = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    process = MockUpstreamProcess(
        extra_arguments=("--ssl-certfile", str(certificate), "--ssl-keyfile", str(key))
    ).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.slow
async def test_upstream_certificates_are_verified(
    make_client: MakeClient,
    self_signed_upstream: MockUpstreamProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A self-signed upstream certificate is refused: TLS verification is on."""
    async with make_client(movies_api_url=self_signed_upstream.api_url) as client:
        headers = await _register(client)
        response = await client.get("/movies/", headers=headers)
    assert response.status_code == 502
    assert "could not be reached" in response.json()["detail"]
    assert "outcome=connection error (ConnectError)" in caplog.text
    assert self_signed_upstream.calls() == 0  # no request got past the handshake
