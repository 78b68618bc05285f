"""The stand-in upstream itself: its catalogue, its auth and shape, and its command line."""

from __future__ import annotations

import subprocess
import uuid

import httpx

from movie_collections.mock_upstream.catalogue import generate_catalogue
from movie_collections.mock_upstream.server import MockUpstream
from tests.movies.upstream import UPSTREAM_PASSWORD, UPSTREAM_USERNAME, MockUpstreamProcess
from tests.processes import command_environment, movie_collections_command


def test_catalogue_is_deterministic_and_realistic() -> None:
    catalogue = generate_catalogue(3000, seed=7)
    assert catalogue == generate_catalogue(3000, seed=7)
    assert catalogue != generate_catalogue(3000, seed=8)
    assert len({movie.uuid for movie in catalogue}) == 3000
    assert all(uuid.UUID(movie.uuid).version == 4 for movie in catalogue)
    empty = sum(1 for movie in catalogue if movie.genres == "")
    several = sum(1 for movie in catalogue if "," in movie.genres)
    assert 600 < empty < 1200
    assert several > 600
    assert sum(len(movie.description) for movie in catalogue) / 3000 > 200
    assert len({movie.title for movie in catalogue}) > 1000


async def test_pages_links_and_basic_auth() -> None:
    app = MockUpstream(public_url="http://upstream.test", username="u", password="p", movies=25)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://upstream.test") as http:
        path = "/api/v1/maya/movies/"
        assert (await http.get(path)).status_code == 401
        assert (await http.get(path, auth=("u", "wrong"))).status_code == 401
        first = (await http.get(path, auth=("u", "p"))).json()
        assert first["count"] == 25
        assert first["next"] == "http://upstream.test/api/v1/maya/movies/?page=2"
        assert first["previous"] is None
        assert len(first["data"]) == 10
        last = (await http.get(path, params={"page": 3}, auth=("u", "p"))).json()
        assert last["next"] is None
        assert last["previous"] == "http://upstream.test/api/v1/maya/movies/?page=2"
        assert len(last["data"]) == 5
        assert (await http.get(path, params={"page": 4}, auth=("u", "p"))).status_code == 404
        bad = await http.post("/__control", json={"failure_kinds": ["meteor"]})
        assert bad.status_code == 400
        stats = (await http.get("/__stats")).json()
        assert stats["outcomes"] == {"calls": 5, "unauthorized": 2, "ok": 2, "not_found": 1}


def test_process_serves_the_real_shape(upstream: MockUpstreamProcess) -> None:
    response = httpx.get(upstream.api_url, auth=(UPSTREAM_USERNAME, UPSTREAM_PASSWORD))
    assert response.status_code == 200
    assert set(response.json()) == {"count", "next", "previous", "data"}
    assert httpx.get(upstream.api_url).status_code == 401


def test_bad_knob_stops_the_command_with_a_message() -> None:
    result = subprocess.run(
        [*movie_collections_command(), "mock-upstream", "--failure-kinds", "5xx,meteor"],
        env=command_environment({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "failure kinds must be some of" in result.stderr
