"""The spec's request-count endpoints through the ASGI app (one process)."""

from __future__ import annotations

import httpx


async def test_count_includes_every_request_and_itself(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    before = (await client.get("/request-count/", headers=auth)).json()["requests"]
    await client.get("/no/such/path")  # 404
    await client.get("/collection/")  # 401
    await client.post("/collection/", json={}, headers=auth)  # 422
    after = (await client.get("/request-count/", headers=auth)).json()["requests"]
    assert after - before == 4


async def test_reset(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await client.get("/collection/", headers=auth)
    response = await client.post("/request-count/reset/", headers=auth)
    assert response.status_code == 200
    assert response.json() == {"message": "request count reset successfully"}
    assert (await client.get("/request-count/", headers=auth)).json() == {"requests": 1}
