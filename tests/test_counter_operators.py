"""OPERATOR_USERNAMES restricts the counter reset to the users it names; unset, anyone may."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings, register
from tests.security_helpers import client_for

RESET = "/request-count/reset/"


async def test_only_named_operators_may_reset(database_url: str, tmp_path: Path) -> None:
    async with client_for(
        make_settings(database_url, tmp_path, operator_usernames=" Root , ops")
    ) as client:
        alice = await register(client, "alice")
        root = await register(client, "ROOT")
        ops = await register(client, "ops")
        refused = await client.post(RESET, headers=alice)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert "OPERATOR_USERNAMES" in refused.json()["detail"]
        # Reading the count stays open to every signed-in user.
        assert (await client.get("/request-count/", headers=alice)).status_code == 200
        assert (await client.post(RESET, headers=root)).status_code == 200
        assert (await client.get("/request-count/", headers=ops)).json() == {"requests": 1}
        assert (await client.post(RESET, headers=ops)).status_code == 200
        assert (await client.post(RESET)).status_code == 401
        assert (await client.delete("/me/", headers=ops)).status_code == 204
        assert (await client.post(RESET, headers=ops)).status_code == 401


async def test_unset_any_signed_in_user_may_reset(database_url: str, tmp_path: Path) -> None:
    async with client_for(make_settings(database_url, tmp_path)) as client:
        alice = await register(client, "alice")
        assert (await client.post(RESET, headers=alice)).status_code == 200


async def test_the_restriction_is_documented_in_the_schema(
    database_url: str, tmp_path: Path
) -> None:
    async with client_for(make_settings(database_url, tmp_path)) as client:
        schema = (await client.get("/openapi.json")).json()
    reset = schema["paths"][RESET]["post"]
    assert "403" in reset["responses"]
    assert "OPERATOR_USERNAMES" in reset["description"]
