"""New passwords (issue 18, point 6): NIST SP 800-63B's length, and neither common nor made
from the username, judged by zxcvbn; the 422 says why in plain words."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.security_helpers import client_for, register_pair, settings_with


async def _register(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/register/", json={"username": username, "password": password})


@pytest.mark.parametrize(
    ("username", "password", "reason"),
    [
        ("maya", "password", "common password"),
        ("maya", "12345678", "common password"),
        ("maya", " " * 8, "Repeats"),
        ("wombat_rivera_1990", "wombat_rivera_1990", "too easy to guess"),
        ("wombat_rivera_1990", "Wombat_Rivera_1990", "too easy to guess"),
        ("quokka_lantern_77", "quokka_lantern_77!!", "too easy to guess"),
        ("maya", "MovieCollections2024", "your username or this service's name"),
    ],
)
async def test_weak_passwords_are_refused_with_the_reason(
    client: httpx.AsyncClient, username: str, password: str, reason: str
) -> None:
    response = await _register(client, username, password)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert reason in problem["detail"]
    assert problem["detail"].startswith("This password is too easy to guess.")
    assert problem["limit"] == "password_min_score"
    # Nothing was created: the name is still free for a good password.
    assert (await _register(client, username, PASSWORD)).status_code == 201


async def test_too_short_is_refused_before_anything_else(client: httpx.AsyncClient) -> None:
    response = await _register(client, "maya", "Zq8#v!")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.password"


async def test_strong_and_long_passwords_are_accepted(client: httpx.AsyncClient) -> None:
    assert (await _register(client, "maya", PASSWORD)).status_code == 201
    # Judged on its first 32 characters; the rest is still part of the password.
    long_password = "violet tram oyster quietly " * 30
    assert (await _register(client, "ravi", long_password)).status_code == 201
    login = {"username": "ravi", "password": long_password}
    assert (await client.post("/login/", json=login)).status_code == 200


async def test_login_never_judges_the_password(database_url: str, tmp_path: Path) -> None:
    """A password set under a laxer policy (PASSWORD_MIN_SCORE=0) still logs in."""
    lax = settings_with(database_url, tmp_path, password_min_score=0)
    async with client_for(lax) as client:
        await register_pair(client, "oldtimer", password="password")
    strict = settings_with(database_url, tmp_path)
    async with client_for(strict) as client:
        login = {"username": "oldtimer", "password": "password"}
        assert (await client.post("/login/", json=login)).status_code == 200
        assert (await _register(client, "newcomer", "password")).status_code == 422
