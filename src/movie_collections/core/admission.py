"""Which requests are served at all: a concurrency cap per process, and allowed Host names."""

from __future__ import annotations

import ipaddress
import re
from http import HTTPStatus

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from movie_collections.core.errors import problem_response

# Distinct Host headers whose verdict is remembered (a client sending endless new names only
# costs the parse again).
_KNOWN_HOSTS = 256


class AdmissionMiddleware:
    """Beyond `max_requests` in flight in this process, answers 503 with Retry-After at once
    rather than queueing work the process cannot finish in time. With `allowed_hosts` (names,
    or `*.domain` for its subdomains), answers 400 to any other Host, so links and redirects,
    built from the Host, only ever name this service; `exempt_paths` (the probes and the
    scrape, which come by address) are served whatever the Host. `uncapped_paths` (the
    liveness probe: no I/O) are served beyond the cap, or a busy process would be restarted.
    Two Host or Authorization lines are 400; a transfer coding besides chunked is 501."""

    def __init__(
        self,
        app: ASGIApp,
        max_requests: int,
        allowed_hosts: frozenset[str] | None = None,
        exempt_paths: frozenset[str] = frozenset(),
        uncapped_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_requests = max_requests
        self.in_flight = 0
        self.check_hosts = allowed_hosts is not None
        allowed = allowed_hosts or frozenset()
        self.names = frozenset(name for name in allowed if not name.startswith("*."))
        self.suffixes = tuple(name[1:] for name in allowed if name.startswith("*."))
        self.exempt_paths = exempt_paths
        self.uncapped_paths = uncapped_paths
        self.verdicts: dict[bytes, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host, refusal = _read_head(scope["headers"])
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["path"] not in self.exempt_paths:
            allowed = self.verdicts.get(host)
            if allowed is None:
                name = host_name(host)
                allowed = name is not None and (not self.check_hosts or self.allows(name))
                if len(self.verdicts) < _KNOWN_HOSTS:
                    self.verdicts[host] = allowed
            if not allowed:
                # The refused name is not echoed: the answer must not reflect the Host either.
                response = problem_response(
                    HTTPStatus.BAD_REQUEST,
                    "The Host header names no host this service answers for.",
                )
                await response(scope, receive, send)
                return
        if self.in_flight >= self.max_requests and scope["path"] not in self.uncapped_paths:
            response = problem_response(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "The server is at its concurrency limit; try again shortly.",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def allows(self, name: str) -> bool:
        return name in self.names or (bool(name) and name.endswith(self.suffixes))


# Fields a request carries at most once: serving it by one of two would let a proxy in front
# and this service disagree on the target or the caller (RFC 9112 3.2, RFC 9110 11.6.2).
_SINGLE_FIELDS = frozenset({b"host", b"authorization"})


def _read_head(headers: list[tuple[bytes, bytes]]) -> tuple[bytes, Response | None]:
    """The Host header (empty if none), and the answer to a head that cannot be served."""
    host = b""
    seen: set[bytes] = set()
    for name, value in headers:
        if name in _SINGLE_FIELDS:
            if name in seen:
                detail = f"A request has at most one {name.decode().title()} header."
                return host, problem_response(HTTPStatus.BAD_REQUEST, detail)
            seen.add(name)
            if name == b"host":
                host = value
        elif name == b"transfer-encoding" and any(
            coding.strip().lower() not in (b"chunked", b"") for coding in value.split(b",")
        ):
            # Else the body would reach the app still encoded (RFC 9112 6.1). The parser
            # refuses any coding after `chunked`, so the body's end is known: the connection
            # stays usable.
            detail = "The only transfer coding this server knows is chunked."
            return host, problem_response(HTTPStatus.NOT_IMPLEMENTED, detail)
    return host, None


def host_name(host_header: bytes) -> str | None:
    """The name of a Host header, lower-case, without port, IPv6 brackets or the trailing dot
    of a fully qualified name; None when the value is not `host[:port]` (RFC 9110 7.2,
    RFC 3986 3.2.2), which is 400 (RFC 9112 3.2)."""
    host = host_header.decode("latin-1").strip().lower()
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        valid = bool(bracket) and _is_ipv6(name)
    else:
        name = host.split(":", 1)[0]
        rest = host[len(name) :]
        valid = _REG_NAME.fullmatch(name) is not None
        name = name.removesuffix(".")  # `localhost.` is `localhost` (RFC 1034 3.1)
    return name if valid and _is_port(rest) else None


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_port(text: str) -> bool:
    """Nothing, or `:` and an optional number of a port (RFC 3986 allows it empty)."""
    digits = text[1:]
    if not text or text == ":":
        return True
    if text[0] != ":" or not (digits.isascii() and digits.isdigit()):
        return False
    number = digits.lstrip("0")  # int() refuses past 4,300 digits: read no more than needed
    return len(number) <= 5 and int(number or "0") <= 65535


# A registered name or IPv4 address: unreserved, percent-encoded and sub-delimiter characters.
_REG_NAME = re.compile(r"[a-z0-9\-._~%!$&'()*+,;=]*")
