"""GET /movies/ per user per minute (issue 18, point 3): one token cannot make the service
call the catalogue without bound; a refused request calls nothing upstream."""

from __future__ import annotations

from tests.conftest import register
from tests.movies.conftest import MakeClient
from tests.movies.upstream import MockUpstreamProcess


async def test_movies_per_user_per_minute(
    make_client: MakeClient, upstream: MockUpstreamProcess
) -> None:
    async with make_client(movies_per_user_per_minute=3) as client:
        auth, other = await register(client), await register(client)
        for page in (1, 2, 3):
            assert (await client.get(f"/movies/?page={page}", headers=auth)).status_code == 200
        calls = upstream.calls()
        refused = await client.get("/movies/?page=4", headers=auth)
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["limit"] == "movies_per_user_per_minute"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert upstream.calls() == calls
        assert (await client.get("/movies/?page=4", headers=other)).status_code == 200
