"""A full disk under a 2-worker server on SQLite and the local counter: a state, not a crash."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import PASSWORD, movie
from tests.private_services import SmallTmpfs
from tests.processes import ServerProcess, replacement_of, worker_pids
from tests.services import skip_or_fail

pytestmark = pytest.mark.slow


@pytest.fixture
def tmpfs() -> Iterator[SmallTmpfs]:
    if not SmallTmpfs.available():
        skip_or_fail("mounting a tmpfs needs root")
    with SmallTmpfs("3m") as mounted:
        yield mounted


def assert_503_problem(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "1"


async def test_a_full_disk_is_a_state_and_space_coming_back_ends_it(tmpfs: SmallTmpfs) -> None:
    data = tmpfs.path / "data"
    environment = {
        "DATABASE_URL": f"sqlite:///{data / 'app.db'}",
        "SECRET_KEY": "disk-full-secret-0123456789abcdef0123456789abcdef",
    }
    with ServerProcess(environment, workers=2) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            registered = await http.post(
                "/register/", json={"username": "maya", "password": PASSWORD}
            )
            auth = {"Authorization": f"Bearer {registered.json()['access_token']}"}
            created = await http.post(
                "/collection/", json={"title": "kept", "movies": [movie(1)]}, headers=auth
            )
            assert created.status_code == 201

            tmpfs.fill()
            # A worker dies; its replacement starts on the full disk (it cannot allocate
            # its counter file: it counts in memory).
            killed = worker_pids(server)[0]
            os.kill(killed, signal.SIGKILL)
            assert killed not in await replacement_of(server, killed)
            for _ in range(600):  # until it has started (it says so), within a minute
                if "this worker counts in memory" in server.output():
                    break
                await asyncio.sleep(0.1)
            assert "this worker counts in memory" in server.output()

            # Reads are served, by both workers.
            for _ in range(8):
                listed = await http.get("/collection/", headers=auth)
                assert listed.status_code == 200
                assert [c["title"] for c in listed.json()["data"]["collections"]] == ["kept"]
            # Writes: never a 500; what cannot be stored is a 503 with Retry-After.
            writes = [
                await http.post(
                    "/collection/",
                    json={"title": f"full {n}", "movies": [movie(i) for i in range(1, 50)]},
                    headers=auth,
                )
                for n in range(12)
            ]
            writes += [
                await http.post("/login/", json={"username": "maya", "password": PASSWORD})
                for _ in range(4)
            ]
            writes.append(
                await http.post("/register/", json={"username": "newcomer", "password": PASSWORD})
            )
            assert {w.status_code for w in writes} <= {200, 201, 503}, server.output()[-6000:]
            for write in writes:
                if write.status_code == 503:
                    assert_503_problem(write)
            assert any(w.status_code == 503 for w in writes)
            assert_503_problem(await http.post("/request-count/reset/", headers=auth))
            counted = await http.get("/request-count/", headers=auth)
            assert_503_problem(counted)  # not exact while a worker counts in memory
            ready = await http.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["storage"] == "not_writable"
            assert (await http.get("/health/live")).status_code == 200
            assert list((data / "counter").glob(".state.json.*")) == []

            tmpfs.free()
            # Space is back: writes succeed at once, the count once the worker has stored it
            # (it tries again every second), without a restart.
            again = await http.post("/collection/", json={"title": "after"}, headers=auth)
            assert again.status_code == 201, again.text
            for _ in range(100):
                reset = await http.post("/request-count/reset/", headers=auth)
                if reset.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert reset.status_code == 200, reset.text
            counted = await http.get("/request-count/", headers=auth)
            assert counted.status_code == 200
            assert counted.json()["requests"] == 1
            assert (await http.get("/health/ready")).status_code == 200
        assert server.process is not None
        assert server.process.poll() is None  # it never stopped
    output = server.output()
    assert output.count("starting a replacement") == 1, output  # only the worker we killed
    assert "Traceback" not in output, output

    # The whole server restarted on the full disk: SQLite cannot open its WAL index without
    # space, so `serve` exits 1 at once, saying why (a process manager tries again later).
    tmpfs.fill()
    restarted = ServerProcess(environment, workers=2)
    with pytest.raises(RuntimeError, match="exited early"):
        restarted.start()
    assert restarted.process is not None
    assert restarted.process.wait(30) == 1
    assert "cannot bring the database schema up to date: disk I/O error" in restarted.output()
    assert "Traceback" not in restarted.output()
