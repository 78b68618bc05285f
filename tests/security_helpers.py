"""Helpers of the security tests: apps with chosen settings, and tokens forged by hand."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
from asgi_lifespan import LifespanManager

from movie_collections.app import create_app
from movie_collections.auth.tokens import key_id
from movie_collections.core.settings import Settings
from tests.conftest import PASSWORD, TEST_SECRET, make_settings


@asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An ASGI client over an app built from these settings, its lifespan running."""
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def settings_with(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(database_url, tmp_path / "data", **overrides)


async def register_pair(
    client: httpx.AsyncClient, username: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    """Registers a user; returns the whole token-pair body."""
    name = username or f"user_{uuid.uuid4().hex[:12]}"
    response = await client.post("/register/", json={"username": name, "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def subject_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def forge(
    subject: str,
    *,
    key: str = TEST_SECRET,
    algorithm: str = "HS256",
    kid: str | None = None,
    **claims: Any,
) -> str:
    """A token as the service signs it, unless `claims`/`key`/`kid` say otherwise."""
    now = int(time.time())
    body: dict[str, Any] = {
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "iss": "movie-collections",
        "aud": "movie-collections",
    }
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    headers = {"kid": kid if kid is not None else key_id(TEST_SECRET)}
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)
