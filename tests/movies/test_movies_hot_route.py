"""GET /movies/ answered by the hot-route shortcut is byte for byte FastAPI's answer, and an
upstream failure is answered once, without a second trip to the upstream."""

from __future__ import annotations

import httpx

from tests.conftest import register
from tests.movies.conftest import MakeClient
from tests.movies.upstream import MockUpstreamProcess


def _comparable(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    return response.status_code, dict(response.headers), response.content


async def test_same_answers_as_fastapi_for_pages_links_and_bad_queries(
    make_client: MakeClient, upstream: MockUpstreamProcess
) -> None:
    async with make_client() as fast, make_client(hot_routes=False) as plain:
        auth = await register(fast)
        last = 10  # the stand-in serves 95 movies: 10 pages
        queries = ["", "?page=1", "?page=2", f"?page={last}", f"?page={last + 1}", "?page=0"]
        queries += ["?page=abc", "?page=2&page=3", "?page=%32", "?other=1", "?page=999999"]
        for query in queries:
            for headers in (auth, {}, {"Authorization": "Bearer nope"}):
                same = {**headers, "X-Request-ID": "movies-compare", "Host": "api.example:8080"}
                fast_answer = await fast.get(f"/movies/{query}", headers=same)
                plain_answer = await plain.get(f"/movies/{query}", headers=same)
                assert _comparable(fast_answer) == _comparable(plain_answer), (query, headers)
        page_two = (await fast.get("/movies/?page=2", headers=auth)).json()
        assert page_two["next"] == "http://testserver/movies/?page=3"
        assert page_two["previous"] == "http://testserver/movies/?page=1"


async def test_an_upstream_failure_is_answered_once_as_fastapi_would(
    make_client: MakeClient, upstream: MockUpstreamProcess
) -> None:
    async with make_client() as fast, make_client(hot_routes=False) as plain:
        auth = await register(fast)
        answers = []
        calls = []
        for client in (fast, plain):
            upstream.control(fail_next=100, failure_kinds=["5xx"], reset_stats=True)
            response = await client.get("/movies/", headers={**auth, "X-Request-ID": "failing"})
            answers.append(_comparable(response))
            calls.append(upstream.calls())
        assert answers[0] == answers[1]
        assert answers[0][0] == 502
        # Every attempt of the one upstream call, no more: FastAPI did not ask it again.
        assert calls[0] == calls[1] == 4
