"""Under `serve --server granian` the app still honours X-Forwarded-* from trusted proxies only."""

from __future__ import annotations

from typing import Any

import pytest

from movie_collections.granian_app import create_proxied_app

seen: list[Any] = []


async def _record_client(scope: dict[str, Any], _receive: Any, _send: Any) -> None:
    seen.append(scope["client"])


async def _call(app: Any, client: tuple[str, int]) -> Any:
    scope = {
        "type": "http",
        "scheme": "http",
        "client": client,
        "headers": [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")],
    }
    await app(scope, None, None)
    return seen.pop()


async def test_forwarded_client_is_trusted_only_from_allowed_proxies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOVIE_COLLECTIONS_ASGI_TARGET", "tests.test_granian_app:_record_client")
    monkeypatch.setenv("MOVIE_COLLECTIONS_ASGI_FACTORY", "")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "127.0.0.1")
    app = create_proxied_app()
    assert (await _call(app, ("127.0.0.1", 5000)))[0] == "203.0.113.7"
    assert (await _call(app, ("198.51.100.2", 5000)))[0] == "198.51.100.2"


async def test_forwarded_client_is_never_trusted_when_no_proxy_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOVIE_COLLECTIONS_ASGI_TARGET", "tests.test_granian_app:_record_client")
    monkeypatch.setenv("MOVIE_COLLECTIONS_ASGI_FACTORY", "")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "")
    app = create_proxied_app()
    assert (await _call(app, ("127.0.0.1", 5000)))[0] == "127.0.0.1"
