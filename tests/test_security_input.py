"""Hostile input: oversized bodies and fields, SQL-looking and Unicode-heavy text, limits."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD, movie
from tests.security_helpers import bearer, client_for, register_pair, settings_with

HOSTILE_TEXT = [
    "'; DROP TABLE users; --",
    "Robert'); DELETE FROM collections WHERE ('1'='1",
    '" OR 1=1 --',
    "%' OR '%'='",
    "\\'; SELECT pg_sleep(5); --",
    "$1 $$ ::text ? %s %(name)s {}",
    "Ünïcödé ﬁlm 🎬🍿 日本語の映画 العربية עברית",
    "e\u0301\u0301\u0301 z\u0351\u0352\u0353 \u200b\u200d\ufeff \u202e\u2066",
    "\U0001d57f\U0001d58d\U0001d58a \U0001d578\U0001d586 \U0010fffd",
    "<script>alert(1)</script>",
]


async def test_hostile_text_is_stored_and_returned_literally(client: httpx.AsyncClient) -> None:
    auth = bearer((await register_pair(client))["access_token"])
    for index, text in enumerate(HOSTILE_TEXT):
        movies = [{**movie(index), "title": text, "description": text, "genres": text[:100]}]
        payload = {"title": text[:200], "description": text, "movies": movies}
        created = await client.post("/collection/", json=payload, headers=auth)
        assert created.status_code == 201, (text, created.text)
        collection = created.json()["collection_uuid"]
        fetched = (await client.get(f"/collection/{collection}/", headers=auth)).json()
        assert fetched["title"] == text[:200]
        assert fetched["description"] == text
        assert fetched["movies"][0]["title"] == text
        assert fetched["movies"][0]["description"] == text
    listed = (await client.get("/collection/", headers=auth)).json()["data"]["collections"]
    assert len(listed) == len(HOSTILE_TEXT)


@pytest.mark.parametrize("username", ["' OR 1=1 --", "admin'--", "a;DROP TABLE users"])
async def test_sql_looking_usernames_are_refused_by_validation(
    client: httpx.AsyncClient, username: str
) -> None:
    response = await client.post("/register/", json={"username": username, "password": PASSWORD})
    assert response.status_code == 422
    login = await client.post("/login/", json={"username": username, "password": PASSWORD})
    assert login.status_code == 422


async def test_sql_looking_password_is_just_a_password(client: httpx.AsyncClient) -> None:
    password = "' OR '1'='1' -- 🙂"
    await register_pair(client, "sqlpass", password=password)
    ok = await client.post("/login/", json={"username": "sqlpass", "password": password})
    assert ok.status_code == 200
    bad = await client.post("/login/", json={"username": "sqlpass", "password": "' OR '1'='1"})
    assert bad.status_code == 401


async def test_nul_characters_are_refused_not_a_server_error(client: httpx.AsyncClient) -> None:
    # PostgreSQL text cannot hold NUL: it must be a 422 on every database, never a 500.
    auth = bearer((await register_pair(client))["access_token"])
    payloads = [
        {"title": "a\x00b"},
        {"title": "ok", "description": "a\x00b"},
        {"title": "ok", "movies": [{**movie(1), "title": "a\x00b"}]},
        {"title": "ok", "movies": [{**movie(1), "genres": "Drama,\x00"}]},
    ]
    for payload in payloads:
        response = await client.post("/collection/", json=payload, headers=auth)
        assert response.status_code == 422, (payload, response.text)


async def test_lone_surrogates_are_a_client_error(client: httpx.AsyncClient) -> None:
    auth = bearer((await register_pair(client))["access_token"])
    response = await client.post(
        "/collection/",
        content=b'{"title": "\\ud800"}',
        headers={**auth, "content-type": "application/json"},
    )
    assert response.status_code in (400, 422)


FIELD_LIMITS = [
    ("title", 200),
    ("description", 5000),
    ("movie.title", 500),
    ("movie.description", 10_000),
    ("movie.genres", 500),
]


@pytest.mark.parametrize(("field", "limit"), FIELD_LIMITS)
async def test_oversized_fields_are_422_and_the_limit_itself_is_fine(
    client: httpx.AsyncClient, field: str, limit: int
) -> None:
    auth = bearer((await register_pair(client))["access_token"])

    def payload(size: int) -> dict[str, object]:
        body: dict[str, object] = {"title": "t", "movies": [movie(1)]}
        if field == "movie.genres":  # names within the genre budgets (MAX_GENRE_CHARS)
            genres = ("x" * 25 + ",") * (size // 26) + "x" * (size % 26)
            body["movies"] = [{**movie(1), "genres": genres}]
        elif field.startswith("movie."):
            body["movies"] = [{**movie(1), field.split(".")[1]: "x" * size}]
        else:
            body[field] = "x" * size
        return body

    assert (await client.post("/collection/", json=payload(limit), headers=auth)).status_code == 201
    too_big = await client.post("/collection/", json=payload(limit + 1), headers=auth)
    assert too_big.status_code == 422
    assert too_big.json()["errors"]


async def test_oversized_credentials_are_422(client: httpx.AsyncClient) -> None:
    for body in [
        {"username": "u" * 151, "password": PASSWORD},
        {"username": "valid", "password": "p" * 1025},
    ]:
        assert (await client.post("/register/", json=body)).status_code == 422
        assert (await client.post("/login/", json=body)).status_code == 422


async def test_limits_are_settings_enforced_and_reported(database_url: str, tmp_path: Path) -> None:
    settings = settings_with(
        database_url,
        tmp_path,
        max_body_bytes=4096,
        max_movies_per_collection=3,
        movies_max_page=7,
        movies_api_max_connections=5,
    )
    async with client_for(settings) as client:
        assert (await client.get("/limits/")).status_code == 401
        auth = bearer((await register_pair(client))["access_token"])
        limits = (await client.get("/limits/", headers=auth)).json()
        assert limits["max_body_bytes"] == 4096
        assert limits["max_movies_per_collection"] == 3
        assert limits["max_movies_page"] == 7
        assert limits["upstream_concurrency"] == 5
        assert limits["collection_title_max_chars"] == 200
        assert limits["movie_description_max_chars"] == 10_000
        assert limits["password_max_chars"] == 1024
        assert limits["auth_attempts_per_username"] == 10_000

        four = {"title": "t", "movies": [movie(index) for index in range(4)]}
        refused = await client.post("/collection/", json=four, headers=auth)
        assert refused.status_code == 422
        assert refused.json()["limit"] == "max_movies_per_collection"
        three = {"title": "t", "movies": [movie(index) for index in range(3)]}
        created = await client.post("/collection/", json=three, headers=auth)
        assert created.status_code == 201
        path = f"/collection/{created.json()['collection_uuid']}/"
        refused = await client.put(path, json=four, headers=auth)
        assert refused.status_code == 422
        assert refused.json()["limit"] == "max_movies_per_collection"

        huge = {"title": "t", "description": "x" * 5000}
        response = await client.post("/collection/", json=huge, headers=auth)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        # Before the expensive work: an oversized registration never reaches the hash.
        big_register = {"username": "big", "password": "p" * 5000}
        assert (await client.post("/register/", json=big_register)).status_code == 413


async def test_limits_appear_in_the_openapi_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    description = schema["info"]["description"]
    for name in ["max_body_bytes", "max_movies_per_collection", "auth_attempts_per_username"]:
        assert f"`{name}`" in description
    components = schema["components"]["schemas"]
    movie_input = components.get("Movie-Input") or components["Movie"]
    assert movie_input["properties"]["title"]["maxLength"] == 500
    assert movie_input["properties"]["title"]["pattern"] == r"^[^\x00]*$"
    assert components["Credentials"]["properties"]["password"]["maxLength"] == 1024
    assert "/limits/" in schema["paths"]
    for path in ["/login/", "/register/"]:
        assert "429" in schema["paths"][path]["post"]["responses"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                assert "413" in operation["responses"], (method, path)
