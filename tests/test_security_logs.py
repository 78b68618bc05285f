"""Credentials, tokens and stored data never reach the logs, at any level, in either format."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from movie_collections.auth.models import RefreshToken, User
from movie_collections.core.settings import Settings
from tests.conftest import make_settings, movie, stored_rows
from tests.processes import ServerProcess
from tests.security_helpers import bearer
from tests.services import server_database

SECRET_PASSWORD = "hunter2-Very-Secret-Passw0rd"
OWNER = "logme_owner_q7"
TRIED_USERNAME = "tried_at_login_zx4"  # a name someone tried, which exists nowhere
TITLE = "Private title Kv9 of a collection"

QUIET_ROOTS = ("aiosqlite", "asyncpg", "sqlalchemy", "httpx", "httpcore")
ReadStored = Callable[[], Awaitable[list[str]]]


async def _full_flow(client: httpx.AsyncClient, read_stored: ReadStored) -> list[str]:
    """Register, fail, log in, refresh, reuse, create, log out, delete: every secret and every
    stored value that went by (the Argon2 hash and refresh-token hashes via `read_stored`)."""
    seen = [SECRET_PASSWORD, OWNER, TRIED_USERNAME, TITLE]
    credentials = {"username": OWNER, "password": SECRET_PASSWORD}
    registered = (await client.post("/register/", json=credentials)).json()
    seen += [registered["access_token"], registered["refresh_token"]]
    tried = {"username": TRIED_USERNAME, "password": SECRET_PASSWORD}
    assert (await client.post("/login/", json=tried)).status_code == 401
    logged_in = (await client.post("/login/", json=credentials)).json()
    seen += [logged_in["access_token"], logged_in["refresh_token"]]
    wrong = SECRET_PASSWORD + "-wrong"
    seen.append(wrong)
    await client.post("/login/", json={"username": OWNER, "password": wrong})
    await client.post("/register/", json=credentials)
    auth = bearer(logged_in["access_token"])
    created = await client.post(
        "/collection/", json={"title": TITLE, "movies": [movie(1)]}, headers=auth
    )
    assert created.status_code == 201, created.text
    await client.get("/collection/", headers=auth)
    await client.get("/collection/", headers=bearer(logged_in["access_token"] + "x"))
    rotated = (
        await client.post("/token/refresh/", json={"refresh_token": logged_in["refresh_token"]})
    ).json()
    seen += [rotated["access_token"], rotated["refresh_token"]]
    # Reuse (logged as a theft signal) and logout.
    await client.post("/token/refresh/", json={"refresh_token": logged_in["refresh_token"]})
    await client.post("/logout/", json={"refresh_token": registered["refresh_token"]})
    await client.post("/login/", content=b'{"username": "logme", "password": "' + b"x" * 10)
    stored = await read_stored()
    assert any(value.startswith("$argon2id$") for value in stored)
    seen += stored
    await client.delete("/me/", headers=bearer(rotated["access_token"]))
    return seen


def _reader(source: FastAPI | Settings) -> ReadStored:
    async def read() -> list[str]:
        hashes, tokens = await stored_rows(
            source, select(User.password_hash), select(RefreshToken.token_hash)
        )
        return [row[0] for row in hashes + tokens]

    return read


def _leaks(text: str, secrets_seen: list[str]) -> list[str]:
    found = []
    for secret in secrets_seen:
        # Whole tokens, and their signature part alone (a log might cut the header off); an
        # Argon2 hash, and its digest alone.
        pieces = [secret, secret.rsplit(".", 1)[-1]] if secret.count(".") == 2 else [secret]
        if secret.startswith("$argon2"):
            pieces.append(secret.rsplit("$", 1)[-1])
        found += [piece for piece in pieces if piece in text]
    return found


async def test_no_credentials_or_stored_data_in_captured_logs(
    client: httpx.AsyncClient, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets_seen = await _full_flow(client, _reader(app))
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert any("reused" in record.getMessage() for record in caplog.records)
    everything = "\n".join(
        [caplog.text]
        + [f"{record.getMessage()} {record.args!r} {record.exc_text}" for record in caplog.records]
    )
    assert _leaks(everything, secrets_seen) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("log_format", "database"),
    [("text", "sqlite"), pytest.param("json", "postgres", marks=pytest.mark.postgres)],
)
def test_no_credentials_or_stored_data_in_server_output_at_debug(
    tmp_path: Path, log_format: str, database: str
) -> None:
    """A real server at LOG_LEVEL=DEBUG with the access log, its drivers' loggers included;
    each format on one database."""
    with server_database(database, tmp_path) as database_url:
        environment = {
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "SECRET_KEY": "process-secret-key-0123456789abcdef0123456789",
            "LOG_LEVEL": "DEBUG",
            "LOG_FORMAT": log_format,
        }
        arguments = ("--access-log", "--migrate")
        with ServerProcess(environment, workers=2, extra_arguments=arguments) as server:

            async def run() -> list[str]:
                async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                    reader = _reader(make_settings(database_url, tmp_path / "reader"))
                    return await _full_flow(http, reader)

            secrets_seen = asyncio.run(run())
            output = server.output()
    assert " DEBUG " in output or '"level": "DEBUG"' in output, "nothing at DEBUG: proves nothing"
    # The app's access log, once per request; never the server's as well.
    assert output.count("POST /login/ 401") == 2
    assert "HTTP/1.1" not in output
    if log_format == "json":  # nothing but JSON lines, the server's own included
        lines = [json.loads(line) for line in output.splitlines() if line.strip()]
        loggers = {line["logger"] for line in lines}
        assert "uvicorn.error" in loggers
    else:
        loggers = {line.split(" ")[3] for line in output.splitlines() if line[:2] == "20"}
    assert "movie_collections.access" in loggers
    # The drivers' loggers (aiosqlite writes every statement of the migrations with its
    # values at DEBUG) say nothing below WARNING.
    assert not {name.split(".")[0] for name in loggers} & set(QUIET_ROOTS), loggers
    assert _leaks(output, secrets_seen) == []
