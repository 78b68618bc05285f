"""What the movies client accepts as an upstream page (unit tests of the schema)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from movie_collections.movies.schemas import UpstreamPage

MOVIE = {"title": "T", "description": "D", "genres": "Drama", "uuid": "u-1"}


@pytest.mark.parametrize("key", ["data", "results"])
def test_either_key_holds_the_list(key: str) -> None:
    page = UpstreamPage.model_validate_json(
        json.dumps({"count": 1, "next": None, "previous": None, key: [MOVIE]})
    )
    assert page.data[0].model_dump() == MOVIE


def test_missing_or_null_fields_become_empty() -> None:
    body = {"count": 3, "data": [{"title": "Only a title"}, {**MOVIE, "genres": None}, {}]}
    page = UpstreamPage.model_validate_json(json.dumps(body))
    assert page.data[0].model_dump() == {
        "title": "Only a title",
        "description": "",
        "genres": "",
        "uuid": "",
    }
    assert page.data[1].genres == ""
    assert page.next is None
    assert page.previous is None


@pytest.mark.parametrize(
    "body",
    [
        "<html>Bad Gateway</html>",
        "",
        "[]",
        json.dumps({"message": "busy"}),
        json.dumps({"count": 1}),
        json.dumps({"count": "many", "data": []}),
        json.dumps({"count": 1, "data": "not a list"}),
        json.dumps({"count": 1, "data": ["not an object"]}),
        json.dumps({"count": -1, "data": []}),
    ],
)
def test_anything_else_is_a_bad_answer(body: str) -> None:
    with pytest.raises(ValidationError):
        UpstreamPage.model_validate_json(body)
