"""Credentials and tokens never reach the logs, whatever happens to the request."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from tests.conftest import movie
from tests.processes import ServerProcess
from tests.security_helpers import bearer

SECRET_PASSWORD = "hunter2-Very-Secret-Passw0rd"


async def _full_flow(client: httpx.AsyncClient) -> list[str]:
    """Register, log in, fail, refresh, reuse, log out, delete: returns every secret seen."""
    secrets_seen = [SECRET_PASSWORD]
    registered = (
        await client.post("/register/", json={"username": "logme", "password": SECRET_PASSWORD})
    ).json()
    secrets_seen += [registered["access_token"], registered["refresh_token"]]
    logged_in = (
        await client.post("/login/", json={"username": "logme", "password": SECRET_PASSWORD})
    ).json()
    secrets_seen += [logged_in["access_token"], logged_in["refresh_token"]]
    wrong = SECRET_PASSWORD + "-wrong"
    secrets_seen.append(wrong)
    await client.post("/login/", json={"username": "logme", "password": wrong})
    await client.post("/register/", json={"username": "logme", "password": SECRET_PASSWORD})
    auth = bearer(logged_in["access_token"])
    await client.post("/collection/", json={"title": "t", "movies": [movie(1)]}, headers=auth)
    await client.get("/collection/", headers=auth)
    await client.get("/collection/", headers=bearer(logged_in["access_token"] + "x"))
    rotated = (
        await client.post("/token/refresh/", json={"refresh_token": logged_in["refresh_token"]})
    ).json()
    secrets_seen += [rotated["access_token"], rotated["refresh_token"]]
    # Reuse (logged as a theft signal) and logout.
    await client.post("/token/refresh/", json={"refresh_token": logged_in["refresh_token"]})
    await client.post("/logout/", json={"refresh_token": registered["refresh_token"]})
    await client.post("/login/", content=b'{"username": "logme", "password": "' + b"x" * 10)
    await client.delete("/me/", headers=bearer(rotated["access_token"]))
    return secrets_seen


def _leaks(text: str, secrets_seen: list[str]) -> list[str]:
    found = []
    for secret in secrets_seen:
        # Whole tokens, and their signature part alone (a log might cut the header off).
        pieces = [secret, secret.rsplit(".", 1)[-1]] if secret.count(".") == 2 else [secret]
        found += [piece for piece in pieces if piece in text]
    return found


async def test_no_credentials_or_tokens_in_captured_logs(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets_seen = await _full_flow(client)
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert any("reused" in record.getMessage() for record in caplog.records)
    everything = "\n".join(
        [caplog.text]
        + [f"{record.getMessage()} {record.args!r} {record.exc_text}" for record in caplog.records]
    )
    assert _leaks(everything, secrets_seen) == []


@pytest.mark.slow
def test_no_credentials_or_tokens_in_server_output(tmp_path: Path) -> None:
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "SECRET_KEY": "process-secret-key-0123456789abcdef0123456789",
        "LOG_LEVEL": "DEBUG",
    }
    with ServerProcess(environment, extra_arguments=("--access-log",)) as server:

        async def run() -> list[str]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                return await _full_flow(http)

        import asyncio

        secrets_seen = asyncio.run(run())
        output = server.output()
    assert "POST /login/" in output, "the access log is missing: the test would prove nothing"
    assert _leaks(output, secrets_seen) == []
