"""CPU cost per request of one endpoint, in process, without HTTP or load generator noise.

`python -m bench.profile_app list --requests 3000 [--bare] [--profile out.txt]`: the real app
on a fresh SQLite file, seeded through it, driven as an ASGI callable with `--concurrency`
requests in flight; the process CPU per request. Steadier than req/s on a busy machine, so
A/B comparisons use it; `make bench` gives the real figures."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from asgi_lifespan import LifespanManager

from bench.procstats import cpu_seconds
from bench.run import postgres_database
from bench.seed import collection_body

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def call(
    app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    """One request straight into the ASGI app: the server's part is left out on purpose."""
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if body:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *raw_headers],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of every PostgreSQL process of the machine (backends, WAL writer...): the
    database's share of the work, which runs outside this process."""
    usage = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                name = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if name == "postgres":
                usage[int(entry)] = cpu_seconds([int(entry)])
    return usage


def prepare(arguments: argparse.Namespace, database_url: str | None) -> None:
    """Settings in the environment and a migrated database (before any event loop runs): a
    fresh SQLite file, or `database_url` (an empty PostgreSQL database)."""
    directory = Path(tempfile.mkdtemp(prefix="mc-profile-"))
    os.environ.update(
        {
            "DATABASE_URL": database_url or f"sqlite:///{directory}/p.db",
            "DATA_DIR": str(directory),
            "SECRET_KEY": "profile-secret-key-0123456789abcdef0123456789",
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "8",
            "PASSWORD_HASH_PARALLELISM": "1",
            "LOG_LEVEL": "WARNING",
            # One user, thousands of requests: past the per-user budgets (0: off).
            "WRITES_PER_USER_PER_MINUTE": "0",
            "MOVIES_WRITTEN_PER_USER_PER_MINUTE": "0",
            "MOVIES_PER_USER_PER_MINUTE": "0",
            "MAX_COLLECTIONS_PER_USER": "0",
            **dict(item.split("=", 1) for item in arguments.env),
        }
    )
    from movie_collections.core.migrate import upgrade_to_head
    from movie_collections.core.settings import Settings

    upgrade_to_head(Settings().database_url)


async def main_async(arguments: argparse.Namespace) -> str | None:
    """Drives the scenario; returns the profile's text when one was asked for."""
    from movie_collections.app import create_app

    app = create_app()
    async with LifespanManager(app):
        status, body = await call(
            app, "POST", "/register/", {"content-type": "application/json"},
            json.dumps({"username": "profiler", "password": "profile-password"}).encode(),
        )  # fmt: skip
        assert status == 201, body
        auth = {"authorization": "Bearer " + json.loads(body)["access_token"]}
        writes = {**auth, "content-type": "application/json"}
        ids = []
        for index in range(arguments.collections):
            status, body = await call(
                app, "POST", "/collection/", writes,
                json.dumps(collection_body(index, arguments.movies)).encode(),
            )  # fmt: skip
            assert status == 201, body
            ids.append(json.loads(body)["collection_uuid"])
        # Request i replaces the list of collection i % n with list (i // n) % 8: every pass
        # over the collections sends each one a list other than the one it holds (a re-sent
        # list would measure a no-op as soon as a write skips unchanged rows).
        new_lists = [
            json.dumps({"movies": collection_body(999 - k, 10)["movies"]}).encode()
            for k in range(8)
        ]
        create_body = json.dumps(collection_body(1000, 10)).encode()
        requests: dict[str, Callable[[int], Awaitable[tuple[int, bytes]]]] = {
            "me": lambda i: call(app, "GET", "/me/", auth),
            "list": lambda i: call(app, "GET", "/collection/", auth),
            "detail": lambda i: call(app, "GET", f"/collection/{ids[i % len(ids)]}/", auth),
            "count": lambda i: call(app, "GET", "/request-count/", auth),
            "unauthenticated": lambda i: call(app, "GET", "/collection/", {}),
            "create": lambda i: call(app, "POST", "/collection/", writes, create_body),
            "replace": lambda i: call(
                app,
                "PUT",
                f"/collection/{ids[i % len(ids)]}/",
                writes,
                new_lists[(i // len(ids)) % len(new_lists)],
            ),
        }
        if arguments.bare:
            from bench.bare_app import bare_app

            if arguments.scenario not in ("list", "detail", "count", "create"):
                raise SystemExit("--bare serves list, detail, count and create only")
            app = bare_app(app.state.container)
        make = requests[arguments.scenario]
        for index in range(min(200, arguments.requests)):  # warm-up: caches, pools, JIT-less paths
            await make(index)
        profiler = None
        if arguments.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
        statuses: dict[int, int] = {}
        indexes = iter(range(arguments.requests))

        async def connection() -> None:
            """One client connection: a request, its response, then the next one (like wrk).
            (A semaphore over one task per request would measure the semaphore's wake-ups.)"""
            for index in indexes:
                status, _ = await make(index)
                statuses[status] = statuses.get(status, 0) + 1

        database_start = postgres_cpu() if arguments.postgres else {}
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        await asyncio.gather(*(connection() for _ in range(arguments.concurrency)))
        cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
        database_end = postgres_cpu() if arguments.postgres else {}
        # Backends started during the run (the pool growing) count from zero.
        database_cpu = sum(t - database_start.get(pid, 0.0) for pid, t in database_end.items())
        if profiler is not None:
            profiler.stop()
    database = (
        f", PostgreSQL {1e6 * database_cpu / arguments.requests:,.0f} µs CPU/request"
        if arguments.postgres
        else ""
    )
    print(
        f"{arguments.scenario}: {1e6 * cpu / arguments.requests:,.0f} µs CPU/request{database}, "
        f"{arguments.requests / wall:,.0f} req/s in one process, statuses {statuses}"
    )
    return profiler.output_text(show_all=True) if profiler is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "scenario",
        choices=["me", "list", "detail", "count", "unauthenticated", "create", "replace"],
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--collections", type=int, default=10)
    parser.add_argument("--movies", type=int, default=5)
    parser.add_argument("--profile", help="write a pyinstrument profile (text) to this file")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (as the server)")
    parser.add_argument("--env", action="append", default=[], help="NAME=value setting")
    parser.add_argument(
        "--bare",
        action="store_true",
        help="the same service work without FastAPI (bench/bare_app.py): the framework's share",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="on a private database of the shared PostgreSQL (BENCH_POSTGRES_URL), whose "
        "backends' CPU per request is reported too",
    )
    arguments = parser.parse_args()
    with contextlib.ExitStack() as stack:
        database_url = None
        if arguments.postgres:
            database_url = stack.enter_context(postgres_database(f"profile_{os.getpid()}"))
        prepare(arguments, database_url)
        if arguments.uvloop:
            import uvloop

            profile = uvloop.run(main_async(arguments))
        else:
            profile = asyncio.run(main_async(arguments))
    if profile is not None:
        Path(arguments.profile).write_text(profile)


if __name__ == "__main__":
    main()
