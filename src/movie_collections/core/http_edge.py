"""uvicorn's httptools protocol with a bounded request head: a size cap and a read deadline.

llhttp buffers a header of any size and uvicorn has no header-read timeout, so without this
one 80 MB header, or one header byte every few seconds, holds a connection and its memory.
"""

from __future__ import annotations

import asyncio
import json
from asyncio import TimerHandle
from functools import cache
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from movie_collections.core.errors import PROBLEM_MEDIA_TYPE
from movie_collections.core.settings import Settings

PROTOCOL_PATH = "movie_collections.core.http_edge:BoundedHttpToolsProtocol"


@cache
def _head_limits() -> tuple[int, float]:
    """Read once per worker process, from the environment `serve` validated at start."""
    settings = Settings()
    return settings.http_max_header_bytes, settings.http_header_read_timeout


def head_too_large_response(max_bytes: int) -> bytes:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Request Header Fields Too Large",
            "status": 431,
            "detail": f"The request line and headers are larger than {max_bytes} bytes.",
        }
    ).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        f"content-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Closes a connection whose request head is over `HTTP_MAX_HEADER_BYTES` (after a 431)
    or not complete `HTTP_HEADER_READ_TIMEOUT` seconds after the connection or its first byte."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_head_bytes, self.head_timeout = _head_limits()
        self.reading_head = True
        self.head_bytes = 0
        self.head_timer: TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.reading_head:
            super().data_received(data)
            return
        self.head_bytes += len(data)
        if self.head_bytes <= self.max_head_bytes:
            super().data_received(data)
            return
        # Feed what the limit allows: the head may end within it, the rest being body.
        within = len(data) - (self.head_bytes - self.max_head_bytes)
        super().data_received(data[:within])
        if self.transport.is_closing():
            return
        if self.reading_head:
            self.transport.write(head_too_large_response(self.max_head_bytes))
            self.transport.close()
            return
        self.data_received(data[within:])

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self.head_bytes = 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.reading_head = True

    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.reading_head and not self.transport.is_closing():
            self.transport.close()
