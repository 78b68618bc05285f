"""uvicorn's httptools protocol with a bounded request: a head size cap, read deadlines for
the head and the body, and a deadline for a client that stops reading its answer.

llhttp buffers a header of any size and uvicorn has no read or write timeouts, so without this
one 80 MB header, one byte every few seconds, or an answer never read holds a connection, its
memory and an admission slot.
"""

from __future__ import annotations

import asyncio
import json
from asyncio import TimerHandle
from functools import cache
from typing import Any

from uvicorn._types import ASGI3Application
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from movie_collections.core.errors import PROBLEM_MEDIA_TYPE
from movie_collections.core.settings import Settings

PROTOCOL_PATH = "movie_collections.core.http_edge:BoundedHttpToolsProtocol"


# Bytes are fed to the parser in pieces of at most this many; a body with a Content-Length
# goes in one piece, to its end. A head is charged from the start of the piece it begins in:
# exact when it starts the piece (a request sent alone, or after a body with a length), up to
# one piece too much when other requests came before it in the same piece.
_PIECE_BYTES = 4096
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


@cache
def _limits() -> tuple[int, float, float, float]:
    """Read once per worker process, from the environment `serve` validated at start."""
    settings = Settings()
    return (
        settings.http_max_header_bytes,
        settings.http_header_read_timeout,
        settings.http_body_read_timeout,
        settings.http_write_timeout,
    )


def _closing_problem(status: int, title: str, detail: str) -> bytes:
    """A problem+json answer written straight to the socket, before it is closed."""
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\n"
        f"content-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


def head_too_large_response(max_bytes: int) -> bytes:
    detail = f"The request line and headers are larger than {max_bytes} bytes."
    return _closing_problem(431, "Request Header Fields Too Large", detail)


def body_too_slow_response(seconds: float) -> bytes:
    detail = f"The request body did not arrive within {seconds:g} seconds."
    return _closing_problem(408, "Request Timeout", detail)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Closes a connection whose request head is over `HTTP_MAX_HEADER_BYTES` (431) or not
    complete `HTTP_HEADER_READ_TIMEOUT` seconds after the connection or its first byte, whose
    body is not complete `HTTP_BODY_READ_TIMEOUT` seconds after its head, time it waits unread
    not counted (408, if no answer has started), or whose client reads nothing of its answer
    for `HTTP_WRITE_TIMEOUT` seconds while the buffer for it is full. Requests sent back to back
    are parsed no faster than they are answered (at most one piece ahead), and a refusal (431,
    400) waits for the answers to the requests before it."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_head_bytes, self.head_timeout, self.body_timeout, self.write_timeout = _limits()
        self.reading_head = True
        self.head_bytes = 0
        self.piece_bytes = 0  # of the piece being parsed; 0: one that ends with a body
        self.body_left = 0  # of a body with a Content-Length; 0: none, or chunked
        self.held = memoryview(b"")  # received, not yet parsed: requests wait to be answered
        self.refusal: bytes | None = None  # a closing answer, waiting for the ones before it
        self.running: RequestResponseCycle | None = None  # the request being answered
        self.head_timer: TimerHandle | None = None
        self.body_timer: TimerHandle | None = None
        self.write_timer: TimerHandle | None = None
        self.write_buffered = 0  # bytes buffered when the write timer was armed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.held = memoryview(b"")
        self._disarm_head_timer()
        self._disarm_body_timer()
        self._disarm_write_timer()
        # uvicorn tells only the last request read; one answered before it is told too.
        running = self.running
        if running is not None and running is not self.cycle and not running.response_complete:
            running.disconnected = True
            running.message_event.set()
        super().connection_lost(exc)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        self.running = cycle
        super()._start_asgi_task(cycle, app)

    # -- reading: a piece at a time, no faster than answers go out

    def data_received(self, data: bytes) -> None:
        self.held = memoryview(bytes(self.held) + data) if self.held else memoryview(data)
        self._parse()

    def _parse(self) -> None:
        """Feeds the parser what is held: pieces of at most `_PIECE_BYTES`, a head within its
        limit, a body with a Content-Length to its end; not past the end of a request while
        another waits for its turn."""
        while self.held and self.refusal is None and not (self.pipeline and self.reading_head):
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                self.held = memoryview(b"")  # closed, or upgraded: nothing more to parse here
                return
            if self.body_left and not self.reading_head:
                size = min(self.body_left, len(self.held))
                self.piece_bytes = 0
            else:
                room = self.max_head_bytes - self.head_bytes if self.reading_head else _PIECE_BYTES
                if room <= 0:
                    self._refuse(head_too_large_response(self.max_head_bytes))
                    break
                size = self.piece_bytes = min(room, _PIECE_BYTES, len(self.held))
                self.head_bytes += size
                if self.reading_head:  # blank lines before a head begin no message
                    self._arm_head_timer()
            piece, self.held = self.held[:size], self.held[size:]
            super().data_received(piece)  # type: ignore[arg-type]  # httptools reads buffers
        if self.held or self.refusal is not None:
            # uvicorn's flow control resumes reading when an answer completes: paused again.
            self.transport.pause_reading()
        elif not self.flow.read_paused:
            self.transport.resume_reading()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_bytes = self.piece_bytes  # strict: the head began somewhere in this piece
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self.head_bytes = 0
        self._disarm_head_timer()
        self.body_left = 0
        framing = [(name, value) for name, value in self.headers if name in _BODY_HEADERS]
        if framing:
            self.body_timer = self.loop.call_later(self.body_timeout, self._body_timed_out)
        if framing and framing[0][0] == b"content-length" and len(framing) == 1:
            self.body_left = int(framing[0][1])  # llhttp checked it: digits, and only one
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self.body_left = max(0, self.body_left - len(body))
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm_body_timer()
        super().on_message_complete()
        self.reading_head = True

    def on_response_complete(self) -> None:
        super().on_response_complete()  # starts the next request waiting, if there is one
        if self.transport.is_closing():  # an answer with `Connection: close`
            self._bound_the_close()
            return
        if self.refusal is not None:
            if self._answered():
                self._close_with(self.refusal)
        else:
            self._parse()

    def _answered(self) -> bool:
        """Every request read so far is answered: none waits, and the last one started is."""
        return not self.pipeline and (self.running is None or self.running.response_complete)

    # -- refusals

    def _refuse(self, answer: bytes) -> None:
        """Answer and close, once the requests before are answered: they were read whole, and
        may have been carried out."""
        self.refusal = answer
        self.held = memoryview(b"")
        self._disarm_head_timer()
        if self._answered():
            self._close_with(answer)

    def _close_with(self, answer: bytes) -> None:
        self.transport.write(answer)
        self.transport.close()
        self._bound_the_close()

    def _bound_the_close(self) -> None:
        """A close waits for the buffer to drain: one the client never reads is aborted."""
        if self.write_timer is None and self.transport.get_write_buffer_size():
            self._arm_write_timer()

    def timeout_keep_alive_handler(self) -> None:
        super().timeout_keep_alive_handler()
        self._bound_the_close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's own refusal of a malformed request, as problem+json like every answer, after
        the answers to the requests before it. A request broken after its head never starts
        if it waits its turn; if it runs (its body broke), it is closed at once, as uvicorn does."""
        answer = _closing_problem(400, "Bad Request", msg)
        if not self.reading_head and self.pipeline and self.pipeline[0][0] is self.cycle:
            self.pipeline.popleft()  # the newest waits at the left
        if self.reading_head or self.running is not self.cycle:
            self._refuse(answer)
        else:
            self._close_with(answer)

    # -- timers

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.write_timer is None:
            self._arm_write_timer()

    def resume_writing(self) -> None:
        if not self.transport.is_closing():  # closing, the rest must still drain in time
            self._disarm_write_timer()
        super().resume_writing()

    def _arm_write_timer(self) -> None:
        self.write_buffered = self.transport.get_write_buffer_size()
        self.write_timer = self.loop.call_later(self.write_timeout, self._write_timed_out)

    def _disarm_write_timer(self) -> None:
        if self.write_timer is not None:
            self.write_timer.cancel()
            self.write_timer = None

    def _write_timed_out(self) -> None:
        """Aborted, not closed (a close waits for the buffer to drain, which it never will),
        unless the client read some since: nothing is added to the buffer while it is full."""
        self.write_timer = None
        buffered = self.transport.get_write_buffer_size()
        if buffered and buffered < self.write_buffered:
            self._arm_write_timer()
        elif buffered:
            self.transport.abort()

    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.held or self.flow.read_paused or not self._answered():
            self._arm_head_timer()  # it waits unread, or behind the client's own earlier request
        elif self.reading_head and not self.transport.is_closing():
            self.transport.close()

    def _disarm_body_timer(self) -> None:
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def _body_timed_out(self) -> None:
        """The app, waiting for the body, is told the client left (FastAPI: a 400 to nobody)."""
        self.body_timer = None
        if self.pipeline or self.flow.read_paused:  # the body waits unread: not the client's fault
            self.body_timer = self.loop.call_later(self.body_timeout, self._body_timed_out)
            return
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_started:
            self.transport.write(body_too_slow_response(self.body_timeout))
        self.transport.close()
