"""Optimistic concurrency: strong ETags, If-Match on writes, If-None-Match on reads."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.conftest import movie, register


async def create(client: httpx.AsyncClient, auth: dict[str, str], **fields: object) -> str:
    payload = {"title": "Favourites", "description": "Mine", "movies": [movie(1)], **fields}
    response = await client.post("/collection/", json=payload, headers=auth)
    assert response.status_code == 201, response.text
    return str(response.json()["collection_uuid"])


def is_strong_etag(value: str) -> bool:
    return value.startswith('"') and value.endswith('"') and len(value) > 2


async def test_get_and_put_answer_a_strong_etag_that_changes_with_every_write(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth)
    first = await client.get(f"/collection/{collection_id}/", headers=auth)
    etag = first.headers["ETag"]
    assert is_strong_etag(etag)
    # Reading again does not change it.
    assert (await client.get(f"/collection/{collection_id}/", headers=auth)).headers["ETag"] == etag
    updated = await client.put(
        f"/collection/{collection_id}/", json={"title": "Renamed"}, headers=auth
    )
    assert updated.status_code == 200
    assert is_strong_etag(updated.headers["ETag"])
    assert updated.headers["ETag"] != etag
    again = await client.get(f"/collection/{collection_id}/", headers=auth)
    assert again.headers["ETag"] == updated.headers["ETag"]


async def test_two_collections_never_share_an_etag(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    first, second = await create(client, auth), await create(client, auth)
    etags = {
        (await client.get(f"/collection/{cid}/", headers=auth)).headers["ETag"]
        for cid in (first, second)
    }
    assert len(etags) == 2


async def test_put_with_matching_if_match_succeeds_and_stale_one_gets_412(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth)
    etag = (await client.get(f"/collection/{collection_id}/", headers=auth)).headers["ETag"]
    # Device A writes with the ETag it read: accepted.
    a = await client.put(
        f"/collection/{collection_id}/",
        json={"title": "From A"},
        headers={**auth, "If-Match": etag},
    )
    assert a.status_code == 200
    # Device B still holds the old ETag: refused, told the current one, nothing changed.
    b = await client.put(
        f"/collection/{collection_id}/",
        json={"title": "From B", "movies": []},
        headers={**auth, "If-Match": etag},
    )
    assert b.status_code == 412
    assert b.headers["content-type"].startswith("application/problem+json")
    assert b.json()["status"] == 412
    assert b.headers["ETag"] == a.headers["ETag"]
    current = await client.get(f"/collection/{collection_id}/", headers=auth)
    assert current.json()["title"] == "From A"
    assert current.json()["movies"] == [movie(1)]
    # B re-reads and retries with the current ETag: accepted.
    retried = await client.put(
        f"/collection/{collection_id}/",
        json={"title": "From B"},
        headers={**auth, "If-Match": b.headers["ETag"]},
    )
    assert retried.status_code == 200


async def test_if_match_accepts_a_list_and_star_and_rejects_weak_or_foreign_tags(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth)
    other_id = await create(client, auth)
    path = f"/collection/{collection_id}/"
    etag = (await client.get(path, headers=auth)).headers["ETag"]
    other_etag = (await client.get(f"/collection/{other_id}/", headers=auth)).headers["ETag"]
    for refused in (f"W/{etag}", other_etag, '"nonsense"', "garbage"):
        response = await client.put(
            path, json={"title": "x"}, headers={**auth, "If-Match": refused}
        )
        assert response.status_code == 412, refused
    listed = await client.put(
        path, json={"title": "listed"}, headers={**auth, "If-Match": f'"zzz", {etag}'}
    )
    assert listed.status_code == 200
    star = await client.put(path, json={"title": "star"}, headers={**auth, "If-Match": "*"})
    assert star.status_code == 200


# If-Match / If-None-Match values around an ETag `{}` that only look like they name it: RFC 9110
# sections 8.8.3 (entity-tag, `W/` upper case) and 5.6.1 (comma lists) do not parse them.
MALFORMED = ("w/{}", "garbage{}", "{}junk", '{} "zzz"', '"zzz" {}')
# Lists that do name it, with other tags, empty elements and whitespace, as RFC 9110 allows.
VALID_LISTS = ('"x", {}', "{},,", " {} ", ',\t{} , "x"')


async def test_if_match_that_does_not_parse_matches_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    path = f"/collection/{await create(client, auth)}/"
    etag = (await client.get(path, headers=auth)).headers["ETag"]
    for template in MALFORMED:
        value = template.format(etag)
        refused = await client.put(path, json={"title": "x"}, headers={**auth, "If-Match": value})
        assert refused.status_code == 412, value
        assert refused.headers["ETag"] == etag
        read = await client.get(path, headers={**auth, "If-Match": value})
        assert read.status_code == 412, value
    for n, template in enumerate(VALID_LISTS):
        value = template.format(etag)
        written = await client.put(
            path, json={"title": f"listed {n}"}, headers={**auth, "If-Match": value}
        )
        assert written.status_code == 200, value
        etag = written.headers["ETag"]
    assert (await client.get(path, headers=auth)).json()["title"] == f"listed {n}"


async def test_if_none_match_that_does_not_parse_names_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    path = f"/collection/{await create(client, auth)}/"
    etag = (await client.get(path, headers=auth)).headers["ETag"]
    for template in VALID_LISTS:
        value = template.format(etag)
        cached = await client.get(path, headers={**auth, "If-None-Match": value})
        assert cached.status_code == 304, value
        refused = await client.put(
            path, json={"title": "x"}, headers={**auth, "If-None-Match": value}
        )
        assert refused.status_code == 412, value
    for template in MALFORMED:
        value = template.format(etag)
        read = await client.get(path, headers={**auth, "If-None-Match": value})
        assert read.status_code == 200, value
        assert read.headers["ETag"] == etag
        written = await client.put(
            path, json={"title": "x"}, headers={**auth, "If-None-Match": value}
        )
        assert written.status_code == 200, value
        etag = written.headers["ETag"]


async def test_a_list_header_sent_on_several_lines_is_one_list(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    path = f"/collection/{await create(client, auth)}/"
    etag = (await client.get(path, headers=auth)).headers["ETag"]
    [(name, value)] = auth.items()
    for header in ("If-None-Match", "If-Match"):
        lines = [(name, value), (header, '"zzz"'), (header, etag)]
        if header == "If-None-Match":
            assert (await client.get(path, headers=lines)).status_code == 304
        else:
            assert (await client.put(path, json={"title": "t"}, headers=lines)).status_code == 200


async def test_if_match_on_an_unknown_or_foreign_collection_is_still_404(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth)
    etag = (await client.get(f"/collection/{collection_id}/", headers=auth)).headers["ETag"]
    intruder = await register(client)
    for headers in ({**intruder, "If-Match": etag}, {**intruder, "If-Match": "*"}):
        put = await client.put(
            f"/collection/{collection_id}/", json={"title": "x"}, headers=headers
        )
        assert put.status_code == 404
        deleted = await client.delete(f"/collection/{collection_id}/", headers=headers)
        assert deleted.status_code == 404
    missing = f"/collection/{uuid.uuid4()}/"
    assert (await client.delete(missing, headers={**auth, "If-Match": "*"})).status_code == 404


async def test_delete_honours_if_match(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    collection_id = await create(client, auth)
    path = f"/collection/{collection_id}/"
    stale = (await client.get(path, headers=auth)).headers["ETag"]
    current = (await client.put(path, json={"title": "new"}, headers=auth)).headers["ETag"]
    refused = await client.delete(path, headers={**auth, "If-Match": stale})
    assert refused.status_code == 412
    assert refused.headers["ETag"] == current
    assert (await client.get(path, headers=auth)).status_code == 200
    deleted = await client.delete(path, headers={**auth, "If-Match": current})
    assert deleted.status_code == 204
    assert (await client.get(path, headers=auth)).status_code == 404


async def test_if_none_match_answers_304_without_a_body_until_it_changes(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth)
    path = f"/collection/{collection_id}/"
    etag = (await client.get(path, headers=auth)).headers["ETag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = await client.get(path, headers={**auth, "If-None-Match": header})
        assert cached.status_code == 304, header
        assert cached.content == b""
        assert cached.headers["ETag"] == etag
    await client.put(path, json={"description": "changed"}, headers=auth)
    fresh = await client.get(path, headers={**auth, "If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.json()["description"] == "changed"
    assert fresh.headers["ETag"] != etag


async def test_a_read_with_if_match_is_412_unless_it_names_the_current_version(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """RFC 9110, 13.1.1 and 13.2.2: If-Match holds for any method, and is evaluated first."""
    collection_id = await create(client, auth)
    path = f"/collection/{collection_id}/"
    stale = (await client.get(path, headers=auth)).headers["ETag"]
    current = (await client.put(path, json={"title": "new"}, headers=auth)).headers["ETag"]
    refused = await client.get(path, headers={**auth, "If-Match": stale})
    assert refused.status_code == 412
    assert refused.headers["ETag"] == current
    for header in (current, f'"other", {current}', "*"):
        read = await client.get(path, headers={**auth, "If-Match": header})
        assert read.status_code == 200, header
        assert read.json()["title"] == "new"
    both = {**auth, "If-Match": stale, "If-None-Match": current}
    assert (await client.get(path, headers=both)).status_code == 412


async def test_without_headers_writes_behave_as_the_spec_says(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth)
    path = f"/collection/{collection_id}/"
    assert (await client.put(path, json={"title": "a"}, headers=auth)).status_code == 200
    assert (await client.put(path, json={"title": "b"}, headers=auth)).status_code == 200
    assert (await client.delete(path, headers=auth)).status_code == 204


async def test_concurrent_conditional_writes_exactly_one_wins(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    collection_id = await create(client, auth)
    path = f"/collection/{collection_id}/"
    etag = (await client.get(path, headers=auth)).headers["ETag"]
    writers = 8
    responses = await asyncio.gather(
        *(
            client.put(
                path,
                json={"title": f"writer {n}", "movies": [movie(100 + n)]},
                headers={**auth, "If-Match": etag},
            )
            for n in range(writers)
        )
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * (writers - 1)
    winner = next(r for r in responses if r.status_code == 200).json()
    stored = (await client.get(path, headers=auth)).json()
    assert stored == winner
    n = int(winner["title"].split()[1])
    assert stored["movies"] == [movie(100 + n)]


async def test_openapi_documents_the_headers(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    put = schema["paths"]["/collection/{collection_uuid}/"]["put"]
    get = schema["paths"]["/collection/{collection_uuid}/"]["get"]
    assert "If-Match" in {p["name"] for p in put["parameters"]}
    assert "If-None-Match" in {p["name"] for p in get["parameters"]}
    assert "ETag" in put["responses"]["412"]["headers"]
    assert "304" in get["responses"]
    assert "ETag" in get["responses"]["200"]["headers"]
    assert "schema" in get["responses"]["200"]["content"]["application/json"]
    movie_delete = schema["paths"]["/collection/{collection_uuid}/movies/{movie_uuid}/"]["delete"]
    assert "ETag" in movie_delete["responses"]["204"]["headers"]
    create = schema["paths"]["/collection/"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}


async def test_a_version_no_collection_can_have_is_a_mismatch_not_an_error(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Versions past any integer the databases hold, or with thousands of digits: 412 on
    the writes and a full answer on GET, never a 500."""
    collection_id = await create(client, auth)
    movie_id = movie(1)["uuid"]
    for version in ("9223372036854775808", "9" * 5000):
        tag = f'"{uuid.UUID(collection_id).hex}-{version}"'
        conditional = {**auth, "If-Match": tag}
        answers = [
            await client.put(
                f"/collection/{collection_id}/", json={"title": "t"}, headers=conditional
            ),
            await client.post(
                f"/collection/{collection_id}/movies/",
                json={"movies": [movie(2)]},
                headers=conditional,
            ),
            await client.delete(
                f"/collection/{collection_id}/movies/{movie_id}/", headers=conditional
            ),
            await client.delete(f"/collection/{collection_id}/", headers=conditional),
        ]
        assert [answer.status_code for answer in answers] == [412] * 4
        read = await client.get(
            f"/collection/{collection_id}/", headers={**auth, "If-None-Match": tag}
        )
        assert read.status_code == 200


async def test_a_write_whose_if_none_match_names_the_current_version_is_412(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """RFC 9110 section 13.1.2: on anything but GET and HEAD a true If-None-Match condition
    fails the request (412); `*` names any version, so it refuses writes to what exists."""
    collection_id = await create(client, auth)
    path = f"/collection/{collection_id}/"
    movie_path = f"{path}movies/{movie(1)['uuid']}/"
    current = (await client.get(path, headers=auth)).headers["ETag"]
    writes = [
        ("PUT", path, {"title": "x"}),
        ("POST", f"{path}movies/", {"movies": [movie(2)]}),
        ("PATCH", movie_path, {"note": "n"}),
        ("DELETE", movie_path, None),
        ("DELETE", path, None),
    ]
    for value in ("*", current, f"W/{current}", f'"zzz", {current}'):
        for method, url, body in writes:
            headers = {**auth, "If-None-Match": value}
            refused = await client.request(method, url, json=body, headers=headers)
            assert refused.status_code == 412, (method, url, value, refused.text)
            assert refused.headers["ETag"] == current
    assert (await client.get(path, headers=auth)).headers["ETag"] == current
    # Naming another version lets every write through.
    for method, url, body in writes:
        headers = {**auth, "If-None-Match": '"zzz"'}
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code in (200, 204), (method, url, response.text)
