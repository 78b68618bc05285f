"""The stand-in upstream: a small ASGI app serving the generated catalogue, with faults.

It speaks like the real catalogue (basic auth, pages of 10, absolute DRF-style links) and can
be told to be slow or to fail; `GET /__stats` and `POST /__control` (no auth) are the
test-double endpoints.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hmac
import json
import logging
import random
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal
from urllib.parse import parse_qs

from movie_collections.mock_upstream.catalogue import (
    PAGE_SIZE,
    generate_catalogue,
    page_count,
)

logger = logging.getLogger(__name__)

FAILURE_KINDS = ("5xx", "reset", "html", "hang", "429", "badjson", "huge", "gzipbomb")
HUGE_BYTES = 32 * 1024 * 1024  # the body of "huge" and, decompressed, of "gzipbomb"
DEFAULT_PATH = "/api/v1/maya/movies/"

Scope = dict[str, Any]
Message = dict[str, Any]


@dataclass(slots=True)
class Behaviour:
    """What the stand-in does; every field can be changed with POST /__control."""

    latency: float = 0.0  # seconds added to every catalogue call
    failure_rate: float = 0.0  # share of calls that fail, with a kind drawn from failure_kinds
    failure_kinds: list[str] = field(default_factory=lambda: ["5xx", "reset", "html", "badjson"])
    fail_next: int = 0  # the next N calls fail (kinds in turn), whatever failure_rate says
    list_key: Literal["data", "results"] = "data"
    retry_after: str = "1"  # the Retry-After header sent with 429
    hang_seconds: float = 60.0  # how long a "hang" keeps the request open
    sparse: bool = False  # some movies lack `genres`, have a null `description` or no `uuid`

    def update(self, changes: dict[str, Any]) -> None:
        names = {item.name for item in fields(self)}
        for name, value in changes.items():
            if name not in names:
                raise ValueError(f"unknown setting {name!r}")
            setattr(self, name, value)
        self.validate()

    def validate(self) -> None:
        unknown = set(self.failure_kinds) - set(FAILURE_KINDS)
        if unknown or not self.failure_kinds:
            raise ValueError(f"failure kinds must be some of {', '.join(FAILURE_KINDS)}")
        if self.list_key not in ("data", "results"):
            raise ValueError("list_key must be data or results")
        if not 0 <= self.failure_rate <= 1:
            raise ValueError("failure_rate must be between 0 and 1")


class MockUpstream:
    """The ASGI app. Page bodies are pre-rendered; a call costs a dict lookup and a join."""

    def __init__(
        self,
        *,
        public_url: str,
        path: str = DEFAULT_PATH,
        username: str = "",
        password: str = "",
        movies: int = 4500,
        seed: int = 1,
        behaviour: Behaviour | None = None,
    ) -> None:
        self.path = path
        self.public_url = public_url.rstrip("/") + path
        self.behaviour = behaviour or Behaviour()
        self.behaviour.validate()
        self.stats: Counter[str] = Counter()
        # Client (address, port) pairs seen: how many TCP connections the callers opened.
        self._peers: set[tuple[str, int]] = set()
        self._random = random.Random(seed)  # noqa: S311  (fault draws, not secrets)
        self._failures_served = 0
        self._expected_authorization: bytes | None = None
        if username or password:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._expected_authorization = f"Basic {token}".encode()
        catalogue = generate_catalogue(movies, seed)
        self.count = len(catalogue)
        self.pages = page_count(self.count)
        items = [
            {"title": m.title, "description": m.description, "genres": m.genres, "uuid": m.uuid}
            for m in catalogue
        ]
        self._page_items = _render_pages(items)
        self._sparse_page_items = _render_pages(
            [_sparse(i % PAGE_SIZE, item) for i, item in enumerate(items)]
        )

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == self.path:
            await self._catalogue(scope, send)
        elif path == "/__stats":
            await _send_json(send, 200, self._stats())
        elif path == "/__control" and scope["method"] == "POST":
            await self._control(receive, send)
        else:
            await _send_json(send, 404, {"detail": "Not found."})

    def _stats(self) -> dict[str, Any]:
        return {
            "calls": self.stats["calls"],
            "connections": len(self._peers),
            "outcomes": dict(self.stats),
        }

    async def _control(self, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            changes = json.loads(body or b"{}")
            if changes.pop("reset_stats", False):
                self.stats.clear()
                self._peers.clear()
            self.behaviour.update(changes)
            if "fail_next" in changes:
                self._failures_served = 0  # the kinds are served in turn from the first
        except (ValueError, TypeError, AttributeError) as error:
            await _send_json(send, 400, {"detail": str(error)})
            return
        await _send_json(send, 200, {"behaviour": asdict(self.behaviour), **self._stats()})

    def _failure_kind(self) -> str | None:
        behaviour = self.behaviour
        if behaviour.fail_next > 0:
            behaviour.fail_next -= 1
            kind = behaviour.failure_kinds[self._failures_served % len(behaviour.failure_kinds)]
            self._failures_served += 1
            return kind
        if behaviour.failure_rate and self._random.random() < behaviour.failure_rate:
            return self._random.choice(behaviour.failure_kinds)
        return None

    async def _catalogue(self, scope: Scope, send: Any) -> None:
        self.stats["calls"] += 1
        client = scope.get("client")
        if client:
            self._peers.add((client[0], client[1]))
        behaviour = self.behaviour
        if behaviour.latency > 0:
            await asyncio.sleep(behaviour.latency)
        kind = self._failure_kind()
        if kind is not None:
            self.stats[f"failed:{kind}"] += 1
            await self._fail(kind, send)
            return
        if self._expected_authorization is not None:
            given = _header(scope, b"authorization")
            if given is None or not hmac.compare_digest(given, self._expected_authorization):
                self.stats["unauthorized"] += 1
                await _send_json(
                    send,
                    401,
                    {"detail": "Invalid username/password."},
                    [(b"www-authenticate", b'Basic realm="api"')],
                )
                return
        page_value = parse_qs(scope["query_string"].decode("latin-1")).get("page", ["1"])[0]
        page = int(page_value) if page_value.isdigit() else 0
        if not 1 <= page <= self.pages:
            self.stats["not_found"] += 1
            await _send_json(send, 404, {"detail": "Invalid page."})
            return
        self.stats["ok"] += 1
        await _send(send, 200, self._page_body(page), b"application/json")

    def _page_body(self, page: int) -> bytes:
        next_link = f"{self.public_url}?page={page + 1}" if page < self.pages else None
        if page == 1:
            previous_link = None
        elif page == 2:
            previous_link = self.public_url  # as Django REST framework writes it
        else:
            previous_link = f"{self.public_url}?page={page - 1}"
        head = json.dumps({"count": self.count, "next": next_link, "previous": previous_link})
        key = self.behaviour.list_key
        items = self._sparse_page_items if self.behaviour.sparse else self._page_items
        return b"".join((head[:-1].encode(), b', "', key.encode(), b'": ', items[page - 1], b"}"))

    async def _fail(self, kind: str, send: Any) -> None:
        if kind == "5xx":
            status = (500, 502, 503)[self.stats[f"failed:{kind}"] % 3]
            await _send(send, status, b"upstream error", b"text/plain")
        elif kind == "429":
            await _send_json(
                send,
                429,
                {"detail": "Request was throttled."},
                [(b"retry-after", self.behaviour.retry_after.encode())],
            )
        elif kind == "html":
            body = b"<html><head><title>502</title></head><body>Bad Gateway</body></html>"
            await _send(send, 200, body, b"text/html")
        elif kind == "badjson":
            await _send_json(send, 200, {"message": "Service temporarily busy"})
        elif kind == "huge":  # a page padded to HUGE_BYTES, streamed
            await _send_padded_page(send)
        elif kind == "gzipbomb":  # a valid page that takes HUGE_BYTES once decompressed
            await _send(
                send, 200, _gzip_bomb(), b"application/json", [(b"content-encoding", b"gzip")]
            )
        elif kind == "hang":
            await asyncio.sleep(self.behaviour.hang_seconds)
            await _send(send, 504, b"gateway timeout", b"text/plain")
        else:  # reset: promise a body, send part of it, and drop the connection
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"4096"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"count": ', "more_body": True})
            # Returning mid-body makes the server close the connection.


def _render_pages(items: list[dict[str, Any]]) -> list[bytes]:
    return [
        json.dumps(items[start : start + PAGE_SIZE]).encode()
        for start in range(0, max(len(items), 1), PAGE_SIZE)
    ]


def _sparse(index: int, item: dict[str, Any]) -> dict[str, Any]:
    """The movie with one field missing or null, in turn (the real catalogue is untidy)."""
    changed = dict(item)
    if index % 3 == 0:
        del changed["genres"]
    elif index % 3 == 1:
        changed["description"] = None
    else:
        del changed["uuid"]
    return changed


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _send(
    send: Any,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_PADDED_HEAD = b'{"count": 0, "next": null, "previous": null, "data": [], "padding": "'
_CHUNK = 1024 * 1024


async def _send_padded_page(send: Any) -> None:
    start = {"status": 200, "headers": [(b"content-type", b"application/json")]}
    await send({"type": "http.response.start", **start})
    await send({"type": "http.response.body", "body": _PADDED_HEAD, "more_body": True})
    for _ in range(HUGE_BYTES // _CHUNK):
        await send({"type": "http.response.body", "body": b" " * _CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": b'"}'})


@functools.cache
def _gzip_bomb() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip format
    parts = [compressor.compress(_PADDED_HEAD)]
    parts += [compressor.compress(b" " * _CHUNK) for _ in range(HUGE_BYTES // _CHUNK)]
    return b"".join([*parts, compressor.compress(b'"}'), compressor.flush()])


async def _send_json(
    send: Any, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _send(send, status, json.dumps(payload).encode(), b"application/json", headers)


def run(
    *,
    host: str,
    port: int,
    public_url: str | None,
    path: str,
    username: str,
    password: str,
    movies: int,
    seed: int,
    behaviour: Behaviour,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> None:
    import uvicorn

    scheme = "https" if ssl_certfile else "http"

    app = MockUpstream(
        public_url=public_url or f"{scheme}://{host}:{port}",
        path=path,
        username=username,
        password=password,
        movies=movies,
        seed=seed,
        behaviour=behaviour,
    )
    logger.info(
        "stand-in upstream: %d movies, %d pages at %s", app.count, app.pages, app.public_url
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=4096,
        timeout_graceful_shutdown=1,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
