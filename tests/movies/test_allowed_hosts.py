"""Only allowed Host names are answered, so no link or redirect ever names another host."""

from __future__ import annotations

import httpx
import pytest

from movie_collections.core.admission import host_name
from movie_collections.core.settings import Settings
from tests.conftest import register
from tests.movies.conftest import MakeClient
from tests.movies.upstream import MockUpstreamProcess

EVIL = "evil.example"


def assert_refused_without_reflection(response: httpx.Response) -> None:
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert EVIL not in response.text
    assert all(EVIL not in value for value in response.headers.values())


async def test_another_host_is_refused_and_never_reflected(
    make_client: MakeClient, upstream: MockUpstreamProcess
) -> None:
    async with make_client() as client:
        auth = await register(client)
        evil = {"host": f"{EVIL}:8000"}
        assert_refused_without_reflection(
            await client.get("/movies/?page=2", headers={**auth, **evil})
        )
        # Starlette's trailing-slash redirect would build its Location from the Host.
        assert_refused_without_reflection(await client.get("/collection", headers={**auth, **evil}))
        assert_refused_without_reflection(await client.get("/", headers=evil))
        # The health probes answer orchestrators calling by address, whatever the Host.
        assert (await client.get("/health/live", headers=evil)).status_code == 200
        movies = await client.get("/movies/?page=2", headers=auth)
    assert movies.json()["next"] == "http://testserver/movies/?page=3"


async def test_allowed_names_with_ports_brackets_and_subdomain_patterns(
    make_client: MakeClient, upstream: MockUpstreamProcess
) -> None:
    allowed = "testserver,api.example.org.,::1,*.example.net"  # a name may be written with its dot
    async with make_client(allowed_hosts=allowed) as client:
        hosts = ("api.example.org:8443", "API.example.org.", "[::1]:8000", "eu.example.net.")
        for host in hosts:
            response = await client.get("/limits/", headers={"host": host})
            assert response.status_code == 401, host  # past the Host check, at the auth
        for host in ("example.net", "api.example.org.evil", "", "[::2]:8000"):
            response = await client.get("/limits/", headers={"host": host})
            assert response.status_code == 400, host


async def test_two_host_lines_are_refused_whichever_comes_first(
    make_client: MakeClient, upstream: MockUpstreamProcess
) -> None:
    """RFC 9112 section 3.2: a request with more than one Host line is 400; serving it by one
    of them would let a proxy in front and this service disagree on the target."""
    async with make_client(allowed_hosts="*") as client:
        for hosts in (["testserver", EVIL], [EVIL, "testserver"], ["testserver", "testserver"]):
            response = await client.get("/limits/", headers=[("host", h) for h in hosts])
            assert_refused_without_reflection(response)
        assert (await client.get("/limits/", headers={"host": EVIL})).status_code == 401


async def test_a_star_allows_every_host(
    make_client: MakeClient, upstream: MockUpstreamProcess
) -> None:
    async with make_client(allowed_hosts="*") as client:
        auth = await register(client)
        movies = await client.get("/movies/?page=2", headers={**auth, "host": "anything.example"})
    assert movies.json()["next"] == "http://anything.example/movies/?page=3"


@pytest.mark.parametrize(
    ("header", "name"),
    [
        (b"a.example", "a.example"),
        (b"A.Example:80", "a.example"),
        (b"[::1]:8000", "::1"),
        (b"localhost:", "localhost"),
        (b"LocalHost.:8000", "localhost"),  # fully qualified: the same name
        (b"", ""),
        # Not `host[:port]`: no name (RFC 3986 3.2.2; IPv6 only in brackets).
        *((bad, None) for bad in (b"::1", b"[::1", b"[zz::1]:80", b"[::1]x", b"a b")),
        *((bad, None) for bad in (b"localhost:8000/evil", b"a:8000:1", b"a:abc", b"a:65536")),
        (b"a:" + b"1" * 5000, None),  # past int()'s 4,300 digits: not a 500
        (b"a:" + b"0" * 5000 + b"80", "a"),
    ],
)
def test_host_names_lose_port_brackets_and_case(header: bytes, name: str | None) -> None:
    assert host_name(header) == name


async def test_a_host_that_is_not_host_and_port_is_refused_even_when_any_host_is_allowed(
    make_client: MakeClient, upstream: MockUpstreamProcess
) -> None:
    async with make_client(allowed_hosts="*") as client:
        for host in ("localhost:8000/evil", "127.0.0.1:abc", "::1", "localhost:99999999"):
            response = await client.get("/limits/", headers={"host": host})
            assert response.status_code == 400, host
            assert response.headers["content-type"] == "application/problem+json"
        for host in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
            assert (await client.get("/limits/", headers={"host": host})).status_code == 401


def test_the_default_allows_only_this_machine() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert defaults.allowed_host_names == frozenset({"localhost", "127.0.0.1", "::1"})
