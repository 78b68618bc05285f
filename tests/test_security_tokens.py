"""Attacks on access tokens: forged, altered, stale or orphaned tokens all get 401."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest

from movie_collections.auth.tokens import key_id
from tests.conftest import TEST_SECRET, movie
from tests.security_helpers import (
    bearer,
    client_for,
    forge,
    register_pair,
    settings_with,
    subject_of,
)

OTHER_KEY = "another-secret-key-0123456789abcdef0123456789"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _attacks(subject: str) -> dict[str, str]:
    now = int(time.time())
    good = forge(subject)
    header, payload, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    other_user = _b64({**claims, "sub": str(uuid.uuid4())})
    longer_life = _b64({**claims, "exp": now + 10**8})
    none_header = _b64({"alg": "none", "typ": "JWT", "kid": key_id(TEST_SECRET)})
    return {
        "alg none, no signature": f"{none_header}.{payload}.",
        "alg none, original signature": f"{none_header}.{payload}.{signature}",
        "HS256 with a wrong key": forge(subject, key=OTHER_KEY),
        "wrong key under the current kid": forge(subject, key=OTHER_KEY, kid=key_id(TEST_SECRET)),
        "unknown kid": forge(subject, kid="deadbeef"),
        "no kid": jwt.encode(
            jwt.decode(good, options={"verify_signature": False}), TEST_SECRET, algorithm="HS256"
        ),
        "HS512": forge(subject, algorithm="HS512"),
        "expired": forge(subject, iat=now - 600, nbf=now - 600, exp=now - 300),
        "not yet valid": forge(subject, nbf=now + 300),
        "issued in the future": forge(subject, iat=now + 300, nbf=now + 300),
        "wrong audience": forge(subject, aud="another-service"),
        "no audience": forge(subject, aud=None),
        "wrong issuer": forge(subject, iss="https://evil.example"),
        "no jti": forge(subject, jti=None),
        "no exp": forge(subject, exp=None),
        "tampered subject": f"{header}.{other_user}.{signature}",
        "tampered expiry": f"{header}.{longer_life}.{signature}",
        "subject not a UUID": forge("admin"),
        "garbage": "a.b.c",
    }


# The HS512 forgery uses a key PyJWT finds short for HS512; that is the point of the test.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_forged_and_altered_tokens_are_401(client: httpx.AsyncClient) -> None:
    pair = await register_pair(client)
    subject = subject_of(pair["access_token"])
    for name, token in _attacks(subject).items():
        for method, path in [("GET", "/collection/"), ("POST", "/collection/")]:
            response = await client.request(
                method, path, headers=bearer(token), json={"title": "x"}
            )
            assert response.status_code == 401, (name, method, response.text)
            assert response.headers["www-authenticate"] == "Bearer", name
            assert response.headers["content-type"] == "application/problem+json"
    # The control: the same construction, unaltered, is accepted.
    assert (await client.get("/collection/", headers=bearer(forge(subject)))).status_code == 200


async def test_a_token_after_several_spaces_or_before_trailing_whitespace_is_read(
    client: httpx.AsyncClient,
) -> None:
    """`Bearer 1*SP b64token` (RFC 6750 section 2.1); whitespace around a field value is not
    part of it (RFC 9110 section 5.5)."""
    token = (await register_pair(client))["access_token"]
    for value in (f"Bearer  {token}", f"Bearer {token} ", f"bearer \t{token}\t"):
        response = await client.get("/me/", headers={"Authorization": value})
        assert response.status_code == 200, repr(value)
    for value in ("Bearer ", "Bearer  ", f"Bearer{token}"):
        response = await client.get("/me/", headers={"Authorization": value})
        assert response.status_code == 401, repr(value)


async def test_two_authorization_lines_are_400_whichever_comes_first(
    client: httpx.AsyncClient,
) -> None:
    """A proxy in front may read the other one: serving the request by either would let the
    two disagree on who is calling."""
    good = (await register_pair(client))["access_token"]
    for tokens in ([good, "forged"], ["forged", good], [good, good]):
        response = await client.get(
            "/collection/", headers=[("authorization", f"Bearer {token}") for token in tokens]
        )
        assert response.status_code == 400, tokens
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/collection/", headers=bearer(good))).status_code == 200


async def test_rotated_key_still_verifies_old_tokens_until_removed(
    database_url: str, tmp_path: Path
) -> None:
    old_key = "old-secret-key-0123456789abcdef0123456789abcdef"
    before = settings_with(database_url, tmp_path, secret_key=old_key)
    async with client_for(before) as client:
        old_token = (await register_pair(client))["access_token"]
    assert jwt.get_unverified_header(old_token)["kid"] == key_id(old_key)

    rotating = settings_with(database_url, tmp_path, previous_secret_keys=old_key)
    async with client_for(rotating) as client:
        assert (await client.get("/collection/", headers=bearer(old_token))).status_code == 200
        new_token = (await register_pair(client))["access_token"]
        assert jwt.get_unverified_header(new_token)["kid"] == key_id(TEST_SECRET)
        # A token claiming the old kid but signed with anything else is still refused.
        forged = forge(subject_of(old_token), key=OTHER_KEY, kid=key_id(old_key))
        assert (await client.get("/collection/", headers=bearer(forged))).status_code == 401

    after = settings_with(database_url, tmp_path)
    async with client_for(after) as client:
        assert (await client.get("/collection/", headers=bearer(old_token))).status_code == 401
        assert (await client.get("/collection/", headers=bearer(new_token))).status_code == 200


async def test_token_of_a_deleted_user_is_401_everywhere(client: httpx.AsyncClient) -> None:
    pair = await register_pair(client)
    auth = bearer(pair["access_token"])
    created = await client.post("/collection/", json={"title": "Mine"}, headers=auth)
    collection = created.json()["collection_uuid"]
    assert (await client.delete("/me/", headers=auth)).status_code == 204

    # The token still carries a valid signature: every use of it must still fail.
    attempts = [
        ("GET", "/collection/", None),
        ("POST", "/collection/", {"title": "Again", "movies": [movie(1)]}),
        ("GET", f"/collection/{collection}/", None),
        ("PUT", f"/collection/{collection}/", {"title": "Renamed"}),
        ("DELETE", f"/collection/{collection}/", None),
        ("GET", f"/collection/{uuid.uuid4()}/", None),
        ("GET", "/collection/export/", None),
        ("POST", "/collection/import/", {"format": "movie-collections/v1", "collections": []}),
        ("DELETE", "/me/", None),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, headers=auth, json=body)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    refreshed = await client.post("/token/refresh/", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401


async def test_deleting_an_account_removes_only_that_users_data(
    client: httpx.AsyncClient,
) -> None:
    leaving = bearer((await register_pair(client, "leaving"))["access_token"])
    staying = bearer((await register_pair(client, "staying"))["access_token"])
    await client.post("/collection/", json={"title": "Gone"}, headers=leaving)
    kept = await client.post("/collection/", json={"title": "Kept"}, headers=staying)
    assert (await client.delete("/me/", headers=leaving)).status_code == 204
    listed = (await client.get("/collection/", headers=staying)).json()["data"]["collections"]
    assert [item["uuid"] for item in listed] == [kept.json()["collection_uuid"]]
    # The name is free again, and the new account does not see the old data.
    again = bearer((await register_pair(client, "leaving"))["access_token"])
    assert (await client.get("/collection/", headers=again)).json()["data"]["collections"] == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_another_users_collection_by_uuid_is_404_and_untouched(
    client: httpx.AsyncClient, method: str
) -> None:
    owner = bearer((await register_pair(client))["access_token"])
    intruder = bearer((await register_pair(client))["access_token"])
    payload = {"title": "Private", "description": "owner only", "movies": [movie(1)]}
    created = await client.post("/collection/", json=payload, headers=owner)
    collection = created.json()["collection_uuid"]

    body = {"title": "Hijacked", "movies": []} if method == "PUT" else None
    response = await client.request(
        method, f"/collection/{collection}/", headers=intruder, json=body
    )
    assert response.status_code == 404
    unknown = await client.request(
        method, f"/collection/{uuid.uuid4()}/", headers=intruder, json=body
    )
    # Indistinguishable from a collection that does not exist.
    assert response.json()["detail"] == unknown.json()["detail"]

    mine = await client.get(f"/collection/{collection}/", headers=owner)
    assert mine.status_code == 200
    assert mine.json()["title"] == "Private"
    assert len(mine.json()["movies"]) == 1
    listed = (await client.get("/collection/", headers=intruder)).json()["data"]
    assert listed["collections"] == []


def test_a_remembered_token_still_expires(tmp_path: Path) -> None:
    from movie_collections.auth.tokens import LEEWAY_SECONDS, TokenService
    from movie_collections.core.errors import Unauthorized

    offset = 0.0

    def clock() -> float:
        return time.time() + offset

    tokens = TokenService(
        settings_with("sqlite:///" + str(tmp_path / "unused.db"), tmp_path, access_token_ttl=60),
        clock=clock,
    )
    user_id = uuid.uuid4()
    token = tokens.issue(user_id).token
    assert tokens.user_id_from(token) == user_id
    assert tokens.user_id_from(token) == user_id  # now answered from memory
    offset = 60 + LEEWAY_SECONDS + 1
    with pytest.raises(Unauthorized, match="expired"):
        tokens.user_id_from(token)
    # Failures are not remembered: a bad token stays bad, a good one stays good.
    with pytest.raises(Unauthorized):
        tokens.user_id_from(token[:-2] + "xx")
