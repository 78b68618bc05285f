"""GET /collection/ paged, sorted and searched (issue 21, point 1): keyset cursors signed by
the server, every sort order, search by title, count and favourite genres of all."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.conftest import movie, register
from tests.test_collections import create


async def _pages(
    client: httpx.AsyncClient, auth: dict[str, str], url: str
) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Follow `next` from `url`: the titles of each page, and each page's data."""
    titles: list[list[str]] = []
    datas: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url is not None:
        response = await client.get(next_url, headers=auth)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        titles.append([c["title"] for c in data["collections"]])
        datas.append(data)
        next_url = data["next"]
    return titles, datas


async def test_without_paging_parameters_the_answer_is_the_spec_one(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await create(client, auth, title="One")
    # An unknown parameter (the issue's `offset`) is not paging: the spec's answer.
    for url in ("/collection/", "/collection/?offset=5"):
        body = (await client.get(url, headers=auth)).json()
        assert set(body["data"]) == {"collections", "favourite_genres"}


async def test_pages_follow_each_sort_order_to_the_end(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    titles = ["delta", "Alpha", "charlie", "Bravo", "echo"]
    ids = {title: await create(client, auth, title=title) for title in titles}
    # The third one changes last: first in -updated.
    changed = await client.put(
        f"/collection/{ids['charlie']}/", json={"description": "x"}, headers=auth
    )
    assert changed.status_code == 200

    expected = {
        "-created": ["echo", "Bravo", "charlie", "Alpha", "delta"],
        "created": titles,
        "title": ["Alpha", "Bravo", "charlie", "delta", "echo"],
        "-updated": ["charlie", "echo", "Bravo", "Alpha", "delta"],
    }
    for sort, order in expected.items():
        pages, datas = await _pages(client, auth, f"/collection/?limit=2&sort={sort}")
        assert pages == [order[0:2], order[2:4], order[4:5]], sort
        assert [d["count"] for d in datas] == [5, 5, 5]
        assert datas[0]["next"].startswith("http://testserver/collection/?")
    # `sort` alone pages with the default size: all on one page, `next` null.
    data = (await client.get("/collection/?sort=title", headers=auth)).json()["data"]
    assert [c["title"] for c in data["collections"]] == expected["title"]
    assert data["next"] is None
    assert data["collections"][0] == {"title": "Alpha", "uuid": ids["Alpha"], "description": "Mine"}


async def test_equal_keys_are_neither_skipped_nor_repeated(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    ids = {await create(client, auth, title="Same") for _ in range(5)}
    _pages_seen, datas = await _pages(client, auth, "/collection/?sort=title&limit=2")
    seen = [c["uuid"] for d in datas for c in d["collections"]]
    assert sorted(seen) == sorted(ids)


async def test_search_is_case_insensitive_and_literal(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for title in ("Weekend Classics", "CLASSIC noir", "Horror", "100% fun", "a_b", "Straße"):
        await create(client, auth, title=title, movies=[movie(1, "Drama")])
    await create(client, auth, title="Other", movies=[movie(2, "Western"), movie(3, "Western")])

    async def search(q: str, **more: str) -> dict[str, Any]:
        params = {"q": q, **more}
        response = await client.get("/collection/", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    data = await search("classic", sort="title")
    assert [c["title"] for c in data["collections"]] == ["CLASSIC noir", "Weekend Classics"]
    assert data["count"] == 2
    # Favourite genres cover every collection, not only those found.
    assert data["favourite_genres"] == "Drama,Western"
    assert [c["title"] for c in (await search("%"))["collections"]] == ["100% fun"]
    assert [c["title"] for c in (await search("_"))["collections"]] == ["a_b"]
    assert [c["title"] for c in (await search("STRASSE"))["collections"]] == ["Straße"]
    assert (await search("nothing"))["collections"] == []
    assert (await search("nothing"))["count"] == 0

    # A search pages like the list: the cursor carries it.
    pages, _datas = await _pages(client, auth, "/collection/?q=c&limit=1&sort=title")
    assert pages == [["CLASSIC noir"], ["Weekend Classics"]]


def _tampered(cursor: str) -> str:
    """The cursor with its collection id changed by one digit, the signature kept."""
    payload, mac = cursor.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    last = raw[-3:-2]
    altered = raw[:-3] + (b"0" if last != b"0" else b"1") + raw[-2:]
    assert altered != raw
    return base64.urlsafe_b64encode(altered).rstrip(b"=").decode() + "." + mac


async def test_forged_altered_or_foreign_cursors_are_400(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for index in range(3):
        await create(client, auth, title=f"c{index}")
    first = (await client.get("/collection/?limit=1", headers=auth)).json()["data"]
    cursor = httpx.URL(first["next"]).params["cursor"]
    assert (await client.get(first["next"], headers=auth)).status_code == 200

    other = await register(client)
    payload, mac = cursor.split(".")
    # Other spellings of the same bytes: lenient base64 would read each as the cursor itself.
    respelled = [
        f"{payload[:2]}!!{payload[2:]}.{mac}",
        cursor + "==",
        f"{payload}==.{mac}",
        f"{payload}.{mac[:5]}$*{mac[5:]}",
        f" {cursor}",
    ]
    standard_alphabet = cursor.translate(str.maketrans("-_", "+/"))
    if standard_alphabet != cursor:  # most cursors hold a - or _
        respelled.append(standard_alphabet)
    bad = [
        *(({"limit": 1, "cursor": spelling}, auth) for spelling in respelled),
        ({"limit": 1, "cursor": _tampered(cursor)}, auth),
        ({"limit": 1, "cursor": "garbage"}, auth),
        ({"limit": 1, "cursor": cursor + "x"}, auth),
        ({"limit": 1, "cursor": "e30." + cursor.split(".")[1]}, auth),
        ({"limit": 1, "cursor": cursor, "sort": "title"}, auth),  # another list's cursor
        ({"limit": 1, "cursor": cursor, "q": "c"}, auth),
        ({"limit": 1, "cursor": cursor}, other),  # another user's
    ]
    for params, headers in bad:
        response = await client.get("/collection/", params=params, headers=headers)
        assert response.status_code == 400, params
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("character", ["\u0390", "\U0001f600", "\u0001"])
async def test_the_next_page_of_the_longest_titles_and_searches_is_served(
    client: httpx.AsyncClient, auth: dict[str, str], character: str
) -> None:
    """A cursor carries the title it stops at; it stays under the cursor's length limit for
    any title (ΐ casefolds to 3 characters, 😀 is 4 bytes, a control character 6 escaped)."""
    title = character * 200
    for _ in range(3):
        await create(client, auth, title=title)
    query = httpx.QueryParams({"sort": "title", "limit": 1, "q": title})
    titles, datas = await _pages(client, auth, f"/collection/?{query}")
    assert titles == [[title]] * 3
    assert all(len(httpx.URL(d["next"]).params["cursor"]) <= 2000 for d in datas[:-1])


@pytest.mark.parametrize(
    "query",
    [
        *("limit=0", "limit=101", "limit=x", "limit=1_0", "limit=+5", "limit=5.0", "limit=%2B5"),
        *("sort=name", "q=", "cursor=" + "a" * 2001),
    ],
)
async def test_bad_parameters_are_422(
    client: httpx.AsyncClient, auth: dict[str, str], query: str
) -> None:
    response = await client.get(f"/collection/?{query}", headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("query.")


async def test_pages_are_the_owners_only_and_need_a_token(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await create(client, auth, title="Mine")
    other = await register(client)
    data = (await client.get("/collection/?limit=5", headers=other)).json()["data"]
    assert data == {"collections": [], "favourite_genres": "", "next": None, "count": 0}
    assert (await client.get("/collection/?limit=5")).status_code == 401


async def test_a_deleted_users_token_gets_401_on_a_page(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert (await client.delete("/me/", headers=auth)).status_code == 204
    assert (await client.get("/collection/?limit=5", headers=auth)).status_code == 401


async def test_a_page_is_never_stale(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """Pages are kept per URL for one version of the list, like the list itself."""
    cid = await create(client, auth, title="b", movies=[movie(1, "Drama")])
    url = "/collection/?limit=1&sort=title"

    async def page() -> dict[str, Any]:
        return dict((await client.get(url, headers=auth)).json()["data"])

    first = await page()
    assert first == await page()
    await create(client, auth, title="a", movies=[movie(2, "Western"), movie(3, "Western")])
    second = await page()
    assert [c["title"] for c in second["collections"]] == ["a"]
    assert (second["count"], second["favourite_genres"]) == (2, "Western,Drama")
    assert second["next"] is not None
    await client.put(f"/collection/{cid}/", json={"title": "0"}, headers=auth)
    assert [c["title"] for c in (await page())["collections"]] == ["0"]
    # The link follows the host the request came to.
    other_host = await client.get(url, headers={**auth, "Host": "test:8080"})
    assert other_host.json()["data"]["next"].startswith("http://test:8080/collection/?")
