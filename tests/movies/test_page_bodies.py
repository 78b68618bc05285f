"""One body per shared upstream call: never a page from another call."""

from __future__ import annotations

import json

from starlette.datastructures import URL

from movie_collections.movies.answers import PageBodies
from movie_collections.movies.schemas import UpstreamPage

HERE = URL("http://api.example/movies/")


def upstream_page(title: str) -> UpstreamPage:
    return UpstreamPage.model_validate(
        {"count": 30, "next": "http://up/?page=3", "previous": None, "data": [{"title": title}]}
    )


def test_requests_sharing_a_call_share_its_body_and_a_new_call_gets_its_own() -> None:
    bodies = PageBodies()
    shared = upstream_page("first call")
    body = bodies.body(shared, 2, HERE)
    assert bodies.body(shared, 2, HERE) is body  # rendered once for the whole wave
    assert json.loads(body)["next"] == "http://api.example/movies/?page=3"
    # An equal page from a new call is rendered anew, never taken from the last call.
    later = bodies.body(upstream_page("first call"), 2, HERE)
    assert later == body
    assert later is not body
    changed = bodies.body(upstream_page("second call"), 2, HERE)
    assert json.loads(changed)["data"][0]["title"] == "second call"
    # Another link base (Host) gets links of its own.
    other = bodies.body(shared, 2, URL("http://other.example/movies/"))
    assert json.loads(other)["next"] == "http://other.example/movies/?page=3"


def test_an_upstream_link_without_a_plain_page_number_means_the_adjacent_page() -> None:
    for hostile in (
        "http://up/?page=\u00b2",
        "http://up/?page=" + "9" * 5000,
        "http://up/?page=-3",
    ):
        page = UpstreamPage.model_validate(
            {"count": 30, "next": hostile, "previous": None, "data": []}
        )
        assert json.loads(PageBodies().body(page, 2, HERE))["next"] == (
            "http://api.example/movies/?page=3"
        )
