"""The login guard (issue 18, points 4 and 5): failures throttle (username, client network)
and the network, so guesses from elsewhere never lock the owner out; IPv6 clients count by
/64; X-Forwarded-For is believed only from FORWARDED_ALLOW_IPS (empty by default)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from movie_collections.ratelimit.limiter import client_network
from tests.conftest import PASSWORD
from tests.processes import ServerProcess
from tests.security_helpers import client_for, register_pair, settings_with

SECRET = "guard-secret-key-0123456789abcdef0123456789abcdef"
WRONG = "not-the-password-at-all"


def _login(
    http: httpx.Client, username: str, password: str = WRONG, address: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    body = {"username": username, "password": password}
    return http.post("/login/", json=body, headers=headers)


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real server with the default guessing limits, behind a proxy on 127.0.0.1 (named in
    FORWARDED_ALLOW_IPS), so that each request can come from the client address we choose."""
    directory = tmp_path_factory.mktemp("guard")
    environment = {
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite'}",
        "SECRET_KEY": SECRET,
        "AUTH_RATE_LIMIT_PER_USERNAME": "10",
        "AUTH_RATE_LIMIT_PER_ADDRESS": "30",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    with ServerProcess(environment) as server:
        yield server


@pytest.mark.slow
def test_guesses_from_elsewhere_do_not_lock_the_owner_out(behind_proxy: ServerProcess) -> None:
    with httpx.Client(base_url=behind_proxy.url, timeout=30) as http:
        registered = http.post("/register/", json={"username": "victim", "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        spellings = ["VICTIM", "Victim", "vIcTiM", "victim"]
        attackers = [f"198.51.100.{n}" for n in range(1, 13)]
        for index, address in enumerate(attackers):
            for attempt in range(10):
                name = spellings[(index + attempt) % len(spellings)]
                assert _login(http, name, address=address).status_code == 401
            # That network is now throttled for that name, even with the right password...
            refused = _login(http, "Victim", PASSWORD, address=address)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
        # ...but the owner, from a network with no failures for the name, logs in.
        owner = _login(http, "VICTIM", PASSWORD, address="203.0.113.50")
        assert owner.status_code == 200, owner.text
        # And the attackers' networks can still log in to other accounts they own.
        http.post("/register/", json={"username": "neighbour", "password": PASSWORD})
        assert _login(http, "neighbour", PASSWORD, address=attackers[0]).status_code == 200


@pytest.mark.slow
def test_walking_an_ipv6_64_is_throttled(behind_proxy: ServerProcess) -> None:
    with httpx.Client(base_url=behind_proxy.url, timeout=30) as http:
        statuses = [
            _login(http, f"walker{n}", address=f"2001:db8:aa:bb::{n:x}").status_code
            for n in range(1, 36)
        ]
        assert statuses == [401] * 30 + [429] * 5
        # Another /64 is another client network.
        assert _login(http, "walker", address="2001:db8:aa:bc::1").status_code == 401


@pytest.mark.slow
def test_forwarded_for_is_not_believed_by_default(tmp_path: Path) -> None:
    environment = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "SECRET_KEY": SECRET,
        "AUTH_RATE_LIMIT_PER_ADDRESS": "5",
    }
    with ServerProcess(environment) as server, httpx.Client(base_url=server.url) as http:
        statuses = [
            _login(http, f"spoof{n}", address=f"192.0.2.{n}").status_code for n in range(1, 9)
        ]
    # Every request counted against the real peer (127.0.0.1), whatever the header claimed.
    assert statuses == [401] * 5 + [429] * 3


async def test_a_successful_login_does_not_count(database_url: str, tmp_path: Path) -> None:
    settings = settings_with(
        database_url, tmp_path, auth_rate_limit_per_username=3, auth_rate_limit_per_address=100
    )
    async with client_for(settings) as client:
        await register_pair(client, "regular")

        async def login(password: str) -> int:
            body = {"username": "regular", "password": password}
            return (await client.post("/login/", json=body)).status_code

        assert [await login(WRONG), await login(WRONG)] == [401, 401]
        assert [await login(PASSWORD) for _ in range(5)] == [200] * 5
        assert [await login(WRONG), await login(WRONG)] == [401, 429]


def test_client_networks() -> None:
    assert client_network("203.0.113.9") == "203.0.113.9"
    assert client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_network("2001:db8:1:2::ffff") == client_network("2001:db8:1:2:abcd::1")
    assert client_network("2001:db8:1:3::1") != client_network("2001:db8:1:2::1")
    assert client_network("::ffff:203.0.113.9") == "203.0.113.9"
    assert client_network("unknown") == "unknown"
