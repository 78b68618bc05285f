"""The Redis counter's own connection: pipelined RESP2 over an asyncio protocol.

The counter sends one small script call per batch. Through redis-py's pool that costs
~100-130 µs of client CPU per call (pool checkout, retry and health-check wrappers, stream
reader); written straight to a transport and parsed from `data_received` it is ~20-30 µs.
Commands are pipelined (the next batch goes out before the previous reply is back) and
replies come back in order, so each command's future is resolved first in, first out.

A dedicated connection also tells the counter at once when Redis goes away:
`connection_lost` fires on the peer's close even while nothing is being sent, and an idle
connection is probed with PING, so every process knows when its store was unreachable.

Only what the counter needs is parsed: simple strings, errors, integers and bulk strings.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from dataclasses import dataclass
from typing import Any, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

Reply = bytes | int | None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to connect: taken from the redis-py client's connection settings."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None  # a unix socket instead of host and port
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_ca_certs: str | None = None
    tls_check_hostname: bool = True
    tls_verify: bool = True

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any], tls: bool) -> Endpoint:
        return cls(
            host=str(kwargs.get("host") or "127.0.0.1"),
            port=int(kwargs.get("port") or 6379),
            path=kwargs.get("path"),
            db=int(kwargs.get("db") or 0),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            tls=tls,
            tls_ca_certs=kwargs.get("ssl_ca_certs"),
            tls_check_hostname=bool(kwargs.get("ssl_check_hostname", True)),
            # redis-py's `ssl_cert_reqs` ("none", "optional", "required" or an ssl constant)
            tls_verify=kwargs.get("ssl_cert_reqs", "required") not in ("none", ssl.CERT_NONE),
        )


def pack(*arguments: bytes | str | int) -> bytes:
    parts = [b"*%d\r\n" % len(arguments)]
    for argument in arguments:
        data = argument if isinstance(argument, bytes) else str(argument).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class WireConnection(asyncio.Protocol):
    """One pipelined connection; `lost` resolves (never raises) when it is gone."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiting: collections.deque[asyncio.Future[Reply]] = collections.deque()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_activity = asyncio.get_running_loop().time()

    @classmethod
    async def open(cls, endpoint: Endpoint, limit: float) -> WireConnection:
        loop = asyncio.get_running_loop()
        context = None
        if endpoint.tls:
            context = ssl.create_default_context(cafile=endpoint.tls_ca_certs)
            context.check_hostname = endpoint.tls_check_hostname and endpoint.tls_verify
            if not endpoint.tls_verify:
                context.verify_mode = ssl.CERT_NONE
        if endpoint.path is not None:
            opening = loop.create_unix_connection(cls, endpoint.path, ssl=context)
        else:
            opening = loop.create_connection(cls, endpoint.host, endpoint.port, ssl=context)
        _, connection = await asyncio.wait_for(opening, limit)
        try:
            if endpoint.password is not None:
                credentials = [endpoint.username] if endpoint.username else []
                await connection.call(limit, "AUTH", *credentials, endpoint.password)
            if endpoint.db:
                await connection.call(limit, "SELECT", endpoint.db)
        except BaseException:
            connection.close()
            raise
        return connection

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self.last_activity = asyncio.get_running_loop().time()
        try:
            while self._waiting:
                parsed = _parse(self._buffer)
                if parsed is None:
                    return
                reply, used = parsed
                del self._buffer[:used]
                waiter = self._waiting.popleft()
                if waiter.done():
                    continue
                if isinstance(reply, ResponseError):
                    waiter.set_exception(reply)
                else:
                    waiter.set_result(reply)
        except ValueError as error:  # not RESP we understand: the stream cannot be trusted
            self._fail(RedisConnectionError(f"unexpected reply from Redis: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed by peer'}"))

    # --- use ----------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return not self.lost.done()

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    def send(self, packed: bytes) -> asyncio.Future[Reply]:
        """Write one command now; its reply (or error) resolves the returned future."""
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        if self._transport is None or self.lost.done():
            waiter.set_exception(RedisConnectionError("connection to Redis is closed"))
            return waiter
        if not self._waiting:
            self.last_activity = asyncio.get_running_loop().time()
        self._waiting.append(waiter)
        self._transport.write(packed)
        return waiter

    async def call(self, limit: float, *arguments: bytes | str | int) -> Reply:
        """Send and wait at most `limit` seconds; a timeout closes the connection (replies would be
        matched to the wrong commands otherwise)."""
        waiter = self.send(pack(*arguments))
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), limit)
        except TimeoutError:
            self._fail(RedisConnectionError("Redis did not answer in time"))
            raise RedisConnectionError("Redis did not answer in time") from None

    def oldest_wait(self, now: float) -> float:
        """Seconds the oldest unanswered command has waited (0 when none is waiting)."""
        return now - self.last_activity if self._waiting else 0.0

    def close(self) -> None:
        self._fail(RedisConnectionError("connection to Redis closed by the counter"))

    def _fail(self, error: Exception) -> None:
        if self._transport is not None:
            self._transport.abort()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if not self.lost.done():
            self.lost.set_result(None)


def _parse(buffer: bytearray) -> tuple[Reply | ResponseError, int] | None:
    """One reply from the start of `buffer` and the bytes it used; None if incomplete."""
    end = buffer.find(b"\r\n")
    if end < 0:
        return None
    kind, line = buffer[:1], bytes(buffer[1:end])
    if kind == b"+":
        return line, end + 2
    if kind == b"-":
        return ResponseError(line.decode(errors="replace")), end + 2
    if kind == b":":
        return int(line), end + 2
    if kind == b"$":
        length = int(line)
        if length < 0:
            return None, end + 2
        start = end + 2
        if len(buffer) < start + length + 2:
            return None
        return bytes(buffer[start : start + length]), start + length + 2
    if kind == b"_":  # RESP3 null
        return None, end + 2
    raise ValueError(f"reply type {bytes(kind)!r}")
