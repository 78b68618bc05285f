"""Sharing a collection by link, read-only (issue 21, point 3): the owner makes, reads and
revokes the link; any signed-in user with it reads and copies the collection, nothing more."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import movie, register
from tests.test_collections import create


async def _share(client: httpx.AsyncClient, auth: dict[str, str], cid: str) -> dict[str, Any]:
    response = await client.post(f"/collection/{cid}/share/", headers=auth)
    assert response.status_code in (200, 201), response.text
    return dict(response.json()["data"])


async def test_a_link_shows_the_collection_to_any_signed_in_user_until_revoked(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, "sharing_owner")
    noted = {**movie(2, "Comedy"), "note": "the remake is worse"}
    cid = await create(client, owner, title="Noir", description="Dark", movies=[movie(1), noted])
    await create(client, owner, title="Private", movies=[movie(3)])

    created = await client.post(f"/collection/{cid}/share/", headers=owner)
    assert created.status_code == 201
    share = created.json()["data"]
    token = share["token"]
    assert len(token) >= 43
    assert share["url"] == f"/shared/{token}/"
    assert share["collection_uuid"] == cid
    # Sharing again answers the same link; the owner can read it back.
    again = await client.post(f"/collection/{cid}/share/", headers=owner)
    assert (again.status_code, again.json()["data"]) == (200, share)
    read = await client.get(f"/collection/{cid}/share/", headers=owner)
    assert read.json()["data"] == share

    reader = await register(client)
    shown = await client.get(share["url"], headers=reader)
    assert shown.status_code == 200
    assert shown.json() == {
        "title": "Noir",
        "description": "Dark",
        "owner": "sharing_owner",
        "movies": [movie(1), noted],
    }
    # Signed in only: the spec's rule holds.
    assert (await client.get(share["url"])).status_code == 401

    assert (await client.delete(f"/collection/{cid}/share/", headers=owner)).status_code == 204
    assert (await client.get(share["url"], headers=reader)).status_code == 404
    assert (await client.post(f"{share['url']}copy/", headers=reader)).status_code == 404
    assert (await client.get(f"/collection/{cid}/share/", headers=owner)).status_code == 404
    # Revoking twice is fine; a new share is a new token.
    assert (await client.delete(f"/collection/{cid}/share/", headers=owner)).status_code == 204
    assert (await _share(client, owner, cid))["token"] != token


async def test_a_link_gives_no_write_and_no_other_collection(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    cid = await create(client, auth, movies=[movie(1)])
    other_cid = await create(client, auth, title="Other")
    share = await _share(client, auth, cid)
    reader = await register(client)
    # The reader still cannot reach the collection itself, nor share or revoke it.
    for method, path in [
        ("GET", f"/collection/{cid}/"),
        ("PUT", f"/collection/{cid}/"),
        ("DELETE", f"/collection/{cid}/"),
        ("POST", f"/collection/{cid}/share/"),
        ("GET", f"/collection/{cid}/share/"),
        ("DELETE", f"/collection/{cid}/share/"),
        ("GET", f"/collection/{other_cid}/"),
    ]:
        body = {"title": "x"} if method == "PUT" else None
        response = await client.request(method, path, json=body, headers=reader)
        assert response.status_code == 404, (method, path)
    # The shared paths take no write.
    for method in ("PUT", "PATCH", "DELETE"):
        response = await client.request(method, share["url"], headers=reader)
        assert response.status_code == 405
    # Unknown tokens, including one a character off, are 404.
    token = share["token"]
    for guess in ("nope", token[:-1] + ("A" if token[-1] != "A" else "B"), token + "x"):
        assert (await client.get(f"/shared/{guess}/", headers=reader)).status_code == 404
    # The owner's collection is unchanged by everything above.
    detail = (await client.get(f"/collection/{cid}/", headers=auth)).json()
    assert detail["movies"] == [movie(1)]


async def test_a_copy_is_the_readers_own(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    noted = {**movie(2, "Comedy"), "note": "n"}
    cid = await create(client, auth, title="Shared", movies=[movie(1, "Western"), noted])
    share = await _share(client, auth, cid)
    reader = await register(client)
    copied = await client.post(f"{share['url']}copy/", headers=reader)
    assert copied.status_code == 201
    copy_id = copied.json()["collection_uuid"]
    assert copy_id != cid
    copy = (await client.get(f"/collection/{copy_id}/", headers=reader)).json()
    assert copy == {
        "uuid": copy_id,
        "title": "Shared",
        "description": "Mine",
        "movies": [movie(1, "Western"), noted],
    }
    listed = (await client.get("/collection/", headers=reader)).json()["data"]
    assert listed["favourite_genres"] == "Comedy,Western"
    # Changing the copy leaves the original (and the other way round).
    await client.put(f"/collection/{copy_id}/", json={"movies": []}, headers=reader)
    original = (await client.get(f"/collection/{cid}/", headers=auth)).json()
    assert original["movies"] == [movie(1, "Western"), noted]
    await client.delete(f"/collection/{cid}/", headers=auth)
    assert (await client.get(f"/collection/{copy_id}/", headers=reader)).status_code == 200
    # The deleted collection's link is gone with it.
    assert (await client.get(share["url"], headers=reader)).status_code == 404


async def test_copies_stop_at_the_collections_budget(
    client: httpx.AsyncClient, auth: dict[str, str], app: Any
) -> None:
    app.state.container.settings.max_collections_per_user = 2
    share = await _share(client, auth, await create(client, auth))
    reader = await register(client)
    for _ in range(2):
        assert (await client.post(f"{share['url']}copy/", headers=reader)).status_code == 201
    refused = await client.post(f"{share['url']}copy/", headers=reader)
    assert refused.status_code == 422
    assert "at most 2 collections" in refused.json()["detail"]
    listed = (await client.get("/collection/", headers=reader)).json()["data"]
    assert len(listed["collections"]) == 2


async def test_only_the_owner_shares(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    cid = await create(client, auth)
    assert (await client.post(f"/collection/{cid}/share/")).status_code == 401
    assert (await client.post("/collection/nope/share/", headers=auth)).status_code == 404
    assert (await client.get(f"/collection/{cid}/share/", headers=auth)).status_code == 404


async def test_tokens_of_any_shape_are_404(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await _share(client, auth, await create(client, auth))
    for token in ("%00" * 43, "a" * 44, "é" * 43, "a" * 500, "a%2Fb"):
        assert (await client.get(f"/shared/{token}/", headers=auth)).status_code == 404
