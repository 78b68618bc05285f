"""The verified-token cache never outlives a token's expiry and never mixes users."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import jwt
import pytest

from movie_collections.auth import tokens as tokens_module
from movie_collections.auth.tokens import TokenService
from movie_collections.errors import Unauthorized
from tests.conftest import TEST_SECRET, make_settings


def _service(tmp_path: Path) -> TokenService:
    return TokenService(make_settings(f"sqlite:///{tmp_path}/t.db", tmp_path))


def test_cached_token_is_rejected_once_it_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(tmp_path)
    user = uuid.uuid4()
    now = int(time.time())
    token = jwt.encode({"sub": str(user), "iat": now, "exp": now + 60}, TEST_SECRET, "HS256")
    assert service.user_id_from(token) == user
    assert service.user_id_from(token) == user  # now answered from the cache
    monkeypatch.setattr(tokens_module.time, "time", lambda: now + 60)
    with pytest.raises(Unauthorized, match="expired"):
        service.user_id_from(token)


def test_each_token_gives_its_own_user_and_bad_ones_are_not_remembered(tmp_path: Path) -> None:
    service = _service(tmp_path)
    first, second = uuid.uuid4(), uuid.uuid4()
    token_first = service.issue(first).token
    token_second = service.issue(second).token
    for _ in range(2):
        assert service.user_id_from(token_first) == first
        assert service.user_id_from(token_second) == second
    forged = token_first[:-2] + ("AA" if not token_first.endswith("AA") else "BB")
    for _ in range(2):
        with pytest.raises(Unauthorized, match="not valid"):
            service.user_id_from(forged)


def test_cache_stays_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_module, "VERIFIED_TOKEN_CACHE_SIZE", 8)
    service = _service(tmp_path)
    users = [uuid.uuid4() for _ in range(20)]
    issued = [service.issue(user).token for user in users]
    for token, user in zip(issued, users, strict=True):
        assert service.user_id_from(token) == user
    assert len(service._verified) <= 8
    assert service.user_id_from(issued[0]) == users[0]  # evicted, verified again
