"""Registration, login and the bearer-token checks."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest
from sqlalchemy import select

from movie_collections.auth.repository import users
from movie_collections.auth.tokens import key_id
from movie_collections.core.settings import Settings
from tests.conftest import PASSWORD, TEST_SECRET, register, stored_rows


async def test_register_returns_token_that_authenticates(client: httpx.AsyncClient) -> None:
    response = await client.post("/register/", json={"username": "maya", "password": PASSWORD})
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 24 * 3600
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await client.get("/collection/", headers=headers)).status_code == 200


async def test_token_claims(client: httpx.AsyncClient) -> None:
    response = await client.post("/register/", json={"username": "claims", "password": PASSWORD})
    token = response.json()["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["kid"] == key_id(TEST_SECRET)
    claims = jwt.decode(
        token,
        TEST_SECRET,
        algorithms=["HS256"],
        audience="movie-collections",
        issuer="movie-collections",
    )
    uuid.UUID(claims["sub"])
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert claims["nbf"] == claims["iat"]
    assert len(claims["jti"]) >= 16


async def test_duplicate_username_is_409_case_insensitively(client: httpx.AsyncClient) -> None:
    await register(client, "Maya")
    response = await client.post("/register/", json={"username": "mAYA", "password": PASSWORD})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


async def test_login_returns_new_token(client: httpx.AsyncClient) -> None:
    await register(client, "ravi")
    response = await client.post("/login/", json={"username": "RAVI", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["access_token"]
    listed = await client.get("/collection/", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200


async def test_wrong_password_and_unknown_user_look_the_same(client: httpx.AsyncClient) -> None:
    await register(client, "ravi")
    wrong = await client.post("/login/", json={"username": "ravi", "password": "wrong-password"})
    unknown = await client.post("/login/", json={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "ab", "password": PASSWORD},
        {"username": "x" * 151, "password": PASSWORD},
        {"username": "has space", "password": PASSWORD},
        {"username": "emoji🙂", "password": PASSWORD},
        {"username": "valid_name", "password": "short"},
        {"username": "valid_name", "password": "p" * 1025},
        {"username": "valid_name"},
        {"password": PASSWORD},
        {"username": 123, "password": PASSWORD},
    ],
)
async def test_register_validation(client: httpx.AsyncClient, payload: dict[str, object]) -> None:
    response = await client.post("/register/", json=payload)
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == 422
    assert body["errors"], body


async def test_username_allows_documented_characters(client: httpx.AsyncClient) -> None:
    await register(client, "a.b_c@d+e-f")


def _token(claims: dict[str, object], key: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    """A token as the service would sign it (kid, iss, aud, nbf, jti), with `claims` on top."""
    now = int(time.time())
    full = {
        "iat": now,
        "nbf": now,
        "jti": uuid.uuid4().hex,
        "iss": "movie-collections",
        "aud": "movie-collections",
        **claims,
    }
    return jwt.encode(full, key, algorithm=algorithm, headers={"kid": key_id(TEST_SECRET)})


def _none_token(claims: dict[str, object]) -> str:
    return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not-a-jwt",
        "Basic dXNlcjpwYXNz",
        "Token abc",
    ],
)
async def test_missing_or_malformed_token_is_401(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get("/collection/", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


# The HS512 forgery uses a key PyJWT finds short for HS512; that is the point of the test.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_bad_tokens_are_401(client: httpx.AsyncClient) -> None:
    now = int(time.time())
    # A real user: the token of a user that does not exist is refused too.
    issued = (await register(client))["Authorization"].split()[1]
    subject = jwt.decode(issued, options={"verify_signature": False})["sub"]
    valid_claims = {"sub": subject, "iat": now, "exp": now + 60}
    good = _token(valid_claims)
    header, _payload, signature = good.split(".")
    tampered_payload = _token({**valid_claims, "sub": str(uuid.uuid4())}).split(".")[1]
    bad_tokens = {
        "expired": _token({"sub": subject, "iat": now - 120, "exp": now - 60}),
        "wrong key": _token(valid_claims, key="another-secret-key-0123456789abcdef0123"),
        "alg none": _none_token(valid_claims),
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "no exp": jwt.encode(
            {
                "sub": subject,
                "iat": now,
                "nbf": now,
                "jti": "x",
                "iss": "movie-collections",
                "aud": "movie-collections",
            },
            TEST_SECRET,
            algorithm="HS256",
            headers={"kid": key_id(TEST_SECRET)},
        ),
        "sub not uuid": _token({"sub": "admin", "iat": now, "exp": now + 60}),
        "HS512": _token(valid_claims, algorithm="HS512"),
    }
    for name, token in bad_tokens.items():
        response = await client.get("/collection/", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"] == "Bearer", name
    # The control: the untampered token is accepted.
    response = await client.get("/collection/", headers={"Authorization": f"Bearer {good}"})
    assert response.status_code == 200


async def test_expired_token_says_so(client: httpx.AsyncClient) -> None:
    now = int(time.time())
    token = _token({"sub": str(uuid.uuid4()), "iat": now - 120, "exp": now - 60})
    response = await client.get("/collection/", headers={"Authorization": f"Bearer {token}"})
    assert "expired" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/collection/"),
        ("POST", "/collection/"),
        ("GET", f"/collection/{uuid.UUID(int=1)}/"),
        ("PUT", f"/collection/{uuid.UUID(int=1)}/"),
        ("DELETE", f"/collection/{uuid.UUID(int=1)}/"),
        ("GET", "/request-count/"),
        ("POST", "/request-count/reset/"),
        ("GET", "/limits/"),
        ("DELETE", "/me/"),
    ],
)
async def test_every_endpoint_but_register_and_login_needs_a_token(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={})
    assert response.status_code == 401


async def test_docs_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).status_code == 200


async def test_password_is_stored_as_argon2id(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    await register(client, "hashme")
    [[(stored,)]] = await stored_rows(settings, select(users.c.password_hash))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
