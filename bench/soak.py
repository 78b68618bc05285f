"""Soak test: many clients, a mixed scenario, a multi-worker server, and an exact checker:
`python -m bench.soak --duration 300 [--faults]` (make soak, soak-ci, soak-faults).

One task per user keeps an exact model: every read, every acknowledged write and delete, the
request count and a flat RSS are checked; with --faults, worker kills, PostgreSQL and Redis
restarts and a full disk are injected (see docs/reliability.md). Exit status 1 on anomalies."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.private_services import PrivatePostgres, SmallTmpfs, postgres_server_available
from tests.processes import PrivateRedis, worker_pids

from bench.procstats import tree
from bench.servers import Server, free_port

PASSWORD = "soak-test-passw0rd"
SECRET_KEY = "soak-secret-key-0123456789abcdef0123456789abcdef"
GENRES = ["Drama", "Comedy", "Action", "Horror", "Sci-Fi", "Western", "Romance", "Documentary"]
UPSTREAM_USERNAME = "soak"
UPSTREAM_PASSWORD = "soak-upstream-password"
UPSTREAM_PATH = "/api/v1/maya/movies/"
# GET /movies/ may answer these when the upstream fails or is too slow: documented, not anomalies.
UPSTREAM_STATUSES = {502, 504}
POSTGRES_ADMIN_URL = os.environ.get(
    "SOAK_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# --------------------------------------------------------------------------- processes


# Clients drop an idle connection well before the server closes it: a request sent on a
# connection as the server closes it is lost (ReadError), on any HTTP/1.1 server.
SERVER_KEEP_ALIVE_SECONDS = 5
CLIENT_KEEP_ALIVE_SECONDS = SERVER_KEEP_ALIVE_SECONDS / 2


def base_environment(overrides: dict[str, str]) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "SECRET_", "MOVIES_API", "COUNTER_"))
    }
    # Every soak client comes from 127.0.0.1 and logs in again and again: the guessing limits
    # on /login/ and /register/ (tested in tests/test_security_rate_limits.py) would turn the
    # mixed scenario into a stream of 429s, so the soak's server runs without them (0 = off);
    # likewise the per-user budgets (tests/test_user_budgets.py), which its few busy users pass.
    environment.update({"AUTH_RATE_LIMIT_PER_USERNAME": "0", "AUTH_RATE_LIMIT_PER_ADDRESS": "0"})
    environment.update(
        {
            "WRITES_PER_USER_PER_MINUTE": "0",
            "MOVIES_WRITTEN_PER_USER_PER_MINUTE": "0",
            "MOVIES_PER_USER_PER_MINUTE": "0",
            "MAX_COLLECTIONS_PER_USER": "0",
        }
    )
    environment.update(overrides)
    environment["HTTP_KEEP_ALIVE_TIMEOUT"] = str(SERVER_KEEP_ALIVE_SECONDS)  # what clients assume
    return environment


def rss_kib(pid: int) -> int:
    with contextlib.suppress(FileNotFoundError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def server_rss(server: Server) -> dict[int, int]:
    return {pid: rss_kib(pid) for pid in tree(server.pid)}


def has_mock_upstream() -> bool:
    result = subprocess.run(
        [sys.executable, "-m", "movie_collections", "mock-upstream", "--help"],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


# --------------------------------------------------------------------------- the checker's model


def catalogue_movie(number: int) -> dict[str, str]:
    """Movie `number` of the soak's own catalogue (posted to collections as clients would)."""
    rng = random.Random(number)
    genres = ",".join(sorted(rng.sample(GENRES, rng.randint(0, 3))))
    return {
        "title": f"Soak movie {number}",
        "description": f"About movie {number}",
        "genres": genres,
        "uuid": str(uuid.UUID(int=number + 1)),
    }


def favourite_genres(collections: dict[str, CollectionState]) -> str:
    """What GET /collection/ must say, computed independently of the server."""
    counts: Counter[str] = Counter()
    for state in collections.values():
        for movie in state.movies:
            names = {name.strip() for name in movie["genres"].split(",") if name.strip()}
            counts.update(names)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].encode()))
    return ",".join(name for name, _count in ranked[:3])


@dataclass
class CollectionState:
    title: str
    description: str
    movies: list[dict[str, str]]
    etag: str | None = None

    def body(self, collection_id: str) -> dict[str, Any]:
        return {
            "uuid": collection_id,
            "title": self.title,
            "description": self.description,
            "movies": self.movies,
        }


@dataclass
class User:
    username: str
    headers: dict[str, str]
    collections: dict[str, CollectionState] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    # Collections whose state is unknown after a failed write; left out of the final check.
    uncertain: set[str] = field(default_factory=set)
    uncertain_list: bool = False


@dataclass
class Results:
    faults: bool = False  # 503 with Retry-After and cut connections are allowed
    refused: int = 0
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    operations: Counter[str] = field(default_factory=Counter)
    anomalies: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def anomaly(self, message: str) -> None:
        if len(self.anomalies) < 200:
            self.anomalies.append(message)
        else:
            self.anomalies[-1] = f"... and more (last: {message})"


class Unexpected(Exception):
    """A response the checker did not allow."""


class Refused(Unexpected):
    """With --faults: a 503 problem+json with Retry-After, or a cut connection."""


# --------------------------------------------------------------------------- the scenario


class SoakClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        results: Results,
        rng: random.Random,
        movies_enabled: bool,
        think_time: float,
    ) -> None:
        self.http = http
        self.results = results
        self.rng = rng
        self.movies_enabled = movies_enabled
        self.think_time = think_time
        self.users: list[User] = []

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.results.sent += 1
        started = time.perf_counter()
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            self.results.statuses["transport error"] += 1
            kind = Refused if self.results.faults else Unexpected
            raise kind(f"{method} {path}: {type(error).__name__}") from error
        self.results.latencies.append(time.perf_counter() - started)
        self.results.statuses[str(response.status_code)] += 1
        if self.results.faults and response.status_code == 503:
            if response.headers.get(
                "content-type"
            ) != "application/problem+json" or not response.headers.get("Retry-After"):
                raise Unexpected(f"{method} {path}: 503 without problem+json and Retry-After")
            raise Refused(f"{method} {path}: 503")
        return response

    def expect(self, response: httpx.Response, *statuses: int) -> None:
        if response.status_code not in statuses:
            raise Unexpected(
                f"{response.request.method} {response.request.url.path}: "
                f"{response.status_code} (wanted {statuses}) {response.text[:200]}"
            )

    async def run(self, deadline: float) -> None:
        await self.new_user()
        while time.monotonic() < deadline:
            user = self.rng.choice(self.users)
            operation = self.pick(user)
            self.results.operations[operation] += 1
            try:
                await getattr(self, operation)(user)
            except Refused:
                self.results.refused += 1
            except Unexpected as error:
                self.results.anomaly(str(error))
            if self.think_time:
                await asyncio.sleep(self.rng.uniform(0, 2 * self.think_time))

    def pick(self, user: User) -> str:
        weights = {
            "new_user": 1 if len(self.users) < 4 else 0,
            "login": 2,
            "create": 12 if len(user.collections) < 15 else 2,
            "create_idempotent": 4,
            "read": 20,
            "not_modified": 4,
            "list": 12,
            "update": 10,
            "stale_update": 2,
            "append": 8,
            "remove": 6,
            "delete": 4 if len(user.collections) > 3 else 1,
            "movies": 8 if self.movies_enabled else 0,
            "count": 2,
        }
        names = list(weights)
        return self.rng.choices(names, weights=[weights[n] for n in names])[0]

    def some_movies(self, count: int) -> list[dict[str, str]]:
        return [catalogue_movie(n) for n in self.rng.sample(range(5000), count)]

    def pick_collection(self, user: User) -> tuple[str, CollectionState] | None:
        known = [c for c in user.collections if c not in user.uncertain]
        if not known:
            return None
        collection_id = self.rng.choice(known)
        return collection_id, user.collections[collection_id]

    # -- operations

    async def new_user(self, _user: User | None = None) -> None:
        username = f"soak_{uuid.uuid4().hex[:16]}"
        response = await self.request(
            "POST", "/register/", json={"username": username, "password": PASSWORD}
        )
        self.expect(response, 201)
        token = response.json()["access_token"]
        self.users.append(User(username, {"Authorization": f"Bearer {token}"}))

    async def login(self, user: User) -> None:
        response = await self.request(
            "POST", "/login/", json={"username": user.username, "password": PASSWORD}
        )
        self.expect(response, 200)
        user.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def create(self, user: User) -> None:
        state = CollectionState(
            title=f"Soak {uuid.uuid4().hex[:8]}",
            description=self.rng.choice(["", "a description"]),
            movies=self.some_movies(self.rng.randint(0, 12)),
        )
        payload = {"title": state.title, "description": state.description, "movies": state.movies}
        try:
            response = await self.request(
                "POST", "/collection/", json=payload, headers=user.headers
            )
        except Unexpected:
            user.uncertain_list = True
            raise
        if response.status_code != 201:
            user.uncertain_list = True
        self.expect(response, 201)
        user.collections[response.json()["collection_uuid"]] = state

    async def create_idempotent(self, user: User) -> None:
        """A create retried with the same key (as after a timeout) creates once."""
        key = str(uuid.uuid4())
        state = CollectionState(title=f"Idem {key[:8]}", description="", movies=self.some_movies(3))
        payload = {"title": state.title, "description": "", "movies": state.movies}
        headers = {**user.headers, "Idempotency-Key": key}
        answers = []
        for _attempt in range(2):
            try:
                response = await self.request("POST", "/collection/", json=payload, headers=headers)
            except Unexpected:
                user.uncertain_list = True
                raise
            if response.status_code != 201:
                user.uncertain_list = True
            self.expect(response, 201)
            answers.append(response.json()["collection_uuid"])
        if answers[0] != answers[1]:
            user.uncertain_list = True
            raise Unexpected(f"idempotent create answered {answers[0]} then {answers[1]}")
        user.collections[answers[0]] = state

    async def read(self, user: User) -> None:
        picked = self.pick_collection(user)
        if picked is None:
            return
        collection_id, state = picked
        response = await self.request("GET", f"/collection/{collection_id}/", headers=user.headers)
        self.expect(response, 200)
        if response.json() != state.body(collection_id):
            raise Unexpected(f"GET {collection_id} differs from what was acknowledged")
        state.etag = response.headers.get("ETag")

    async def not_modified(self, user: User) -> None:
        picked = self.pick_collection(user)
        if picked is None or picked[1].etag is None:
            return
        collection_id, state = picked
        assert state.etag is not None
        response = await self.request(
            "GET",
            f"/collection/{collection_id}/",
            headers={**user.headers, "If-None-Match": state.etag},
        )
        self.expect(response, 304)

    async def list(self, user: User) -> None:
        response = await self.request("GET", "/collection/", headers=user.headers)
        self.expect(response, 200)
        if user.uncertain_list or user.uncertain:
            return
        data = response.json()["data"]
        listed = {c["uuid"] for c in data["collections"]}
        if listed != set(user.collections):
            raise Unexpected(
                f"list of {user.username}: missing {set(user.collections) - listed}, "
                f"unexpected {listed - set(user.collections)}"
            )
        if data["favourite_genres"] != favourite_genres(user.collections):
            raise Unexpected(
                f"favourite genres of {user.username}: {data['favourite_genres']!r}, "
                f"expected {favourite_genres(user.collections)!r}"
            )

    async def write(
        self, user: User, collection_id: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        """A write whose outcome is unknown if it fails: mark the collection uncertain."""
        try:
            response = await self.request(method, path, headers=kwargs.pop("headers"), **kwargs)
        except Unexpected:
            user.uncertain.add(collection_id)
            raise
        if response.status_code >= 500:
            user.uncertain.add(collection_id)
        return response

    async def update(self, user: User, picked: tuple[str, CollectionState] | None = None) -> None:
        picked = picked or self.pick_collection(user)
        if picked is None:
            return
        collection_id, state = picked
        headers = dict(user.headers)
        if state.etag is not None:
            headers["If-Match"] = state.etag
        change: dict[str, Any] = {"title": f"Renamed {uuid.uuid4().hex[:6]}"}
        if self.rng.random() < 0.5:
            change["movies"] = self.some_movies(self.rng.randint(0, 10))
        response = await self.write(
            user,
            collection_id,
            "PUT",
            f"/collection/{collection_id}/",
            json=change,
            headers=headers,
        )
        self.expect(response, 200)
        state.title = change["title"]
        state.movies = change.get("movies", state.movies)
        state.etag = response.headers.get("ETag")
        if response.json() != state.body(collection_id):
            raise Unexpected(f"PUT {collection_id} answered another state")

    async def stale_update(self, user: User) -> None:
        """Another device wrote in between: the write with the old ETag must be refused."""
        picked = self.pick_collection(user)
        if picked is None or picked[1].etag is None:
            return
        collection_id, state = picked
        stale = state.etag
        await self.update(user, picked)
        response = await self.write(
            user,
            collection_id,
            "PUT",
            f"/collection/{collection_id}/",
            json={"title": "must not win"},
            headers={**user.headers, "If-Match": stale},
        )
        self.expect(response, 412)
        if response.headers.get("ETag") != state.etag:
            raise Unexpected(f"412 for {collection_id} did not carry the current ETag")

    async def append(self, user: User) -> None:
        picked = self.pick_collection(user)
        if picked is None:
            return
        collection_id, state = picked
        movies = self.some_movies(self.rng.randint(1, 3))
        if state.movies and self.rng.random() < 0.5:
            again = self.rng.choice(state.movies)
            # One already in the collection (reported back, not doubled); never one twice in a
            # request, which is a 422 by design.
            if again["uuid"] not in {m["uuid"] for m in movies}:
                movies.append(again)
        present = {m["uuid"] for m in state.movies}
        response = await self.write(
            user,
            collection_id,
            "POST",
            f"/collection/{collection_id}/movies/",
            json={"movies": movies},
            headers=user.headers,
        )
        self.expect(response, 200)
        expected_present = [m["uuid"] for m in movies if m["uuid"] in present]
        state.movies = state.movies + [m for m in movies if m["uuid"] not in present]
        state.etag = response.headers.get("ETag")
        body = response.json()
        if body["already_present"] != expected_present or body["movies"] != state.movies:
            raise Unexpected(f"append to {collection_id} answered another state")

    async def remove(self, user: User) -> None:
        picked = self.pick_collection(user)
        if picked is None or not picked[1].movies:
            return
        collection_id, state = picked
        movie = self.rng.choice(state.movies)
        response = await self.write(
            user,
            collection_id,
            "DELETE",
            f"/collection/{collection_id}/movies/{movie['uuid']}/",
            headers=user.headers,
        )
        self.expect(response, 204)
        state.movies = [m for m in state.movies if m["uuid"] != movie["uuid"]]
        state.etag = response.headers.get("ETag")

    async def delete(self, user: User) -> None:
        picked = self.pick_collection(user)
        if picked is None:
            return
        collection_id, _state = picked
        response = await self.write(
            user, collection_id, "DELETE", f"/collection/{collection_id}/", headers=user.headers
        )
        self.expect(response, 204)
        del user.collections[collection_id]
        user.deleted.add(collection_id)
        after = await self.request("GET", f"/collection/{collection_id}/", headers=user.headers)
        self.expect(after, 404)

    async def movies(self, user: User) -> None:
        page = self.rng.randint(1, 20)
        response = await self.request(
            "GET", "/movies/", params={"page": page}, headers=user.headers
        )
        self.expect(response, 200, *UPSTREAM_STATUSES)
        if response.status_code == 200 and not isinstance(response.json().get("data"), list):
            raise Unexpected("GET /movies/ without a data list")

    async def count(self, user: User) -> None:
        response = await self.request("GET", "/request-count/", headers=user.headers)
        self.expect(response, 200)

    async def final_check(self) -> int:
        """Every acknowledged write present, every acknowledged delete gone; checks made."""
        checks = 0
        for user in self.users:
            try:
                await self.login(user)
                response = await self.request("GET", "/collection/", headers=user.headers)
                self.expect(response, 200)
                listed = {c["uuid"] for c in response.json()["data"]["collections"]}
                certain = set(user.collections) - user.uncertain
                missing = certain - listed
                if missing:
                    raise Unexpected(f"acknowledged collections missing: {sorted(missing)}")
                resurrected = (user.deleted - user.uncertain) & listed
                if resurrected:
                    raise Unexpected(f"deleted collections still listed: {sorted(resurrected)}")
                for collection_id in sorted(certain):
                    detail = await self.request(
                        "GET", f"/collection/{collection_id}/", headers=user.headers
                    )
                    self.expect(detail, 200)
                    if detail.json() != user.collections[collection_id].body(collection_id):
                        raise Unexpected(
                            f"{collection_id} differs from its last acknowledged write"
                        )
                    checks += 1
                for collection_id in sorted(user.deleted - user.uncertain):
                    gone = await self.request(
                        "GET", f"/collection/{collection_id}/", headers=user.headers
                    )
                    self.expect(gone, 404)
                    checks += 1
            except Unexpected as error:
                self.results.anomaly(f"final check: {error}")
        return checks


# --------------------------------------------------------------------------- the run


@contextlib.contextmanager
def services(arguments: argparse.Namespace, directory: Path) -> Iterator[tuple[Server, bool]]:
    upstream: Server | None = None
    environment = {
        "DATABASE_URL": arguments.database_url or f"sqlite:///{directory / 'soak.db'}",
        "DATA_DIR": str(directory / "data"),
        "SECRET_KEY": SECRET_KEY,
        "LOG_LEVEL": "WARNING",
        # Cheaper password hashing: the soak is about the service, not Argon2 on 2 cores.
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "8192",
        "PASSWORD_HASH_PARALLELISM": "1",
    }
    if arguments.redis_url:
        environment["REDIS_URL"] = arguments.redis_url
        environment["REDIS_KEY_PREFIX"] = f"soak-{uuid.uuid4().hex[:8]}:"
    movies_enabled = has_mock_upstream()
    try:
        if movies_enabled:
            port = free_port()
            upstream = Server(
                "mock-upstream",
                [
                    sys.executable,
                    "-m",
                    "movie_collections",
                    "mock-upstream",
                    "--port",
                    str(port),
                    "--username",
                    UPSTREAM_USERNAME,
                    "--password",
                    UPSTREAM_PASSWORD,
                    "--failure-rate",
                    str(arguments.upstream_failure_rate),
                    "--hang-seconds",
                    "30",
                ],
                port,
                base_environment({"LOG_LEVEL": "WARNING"}),
                "/__stats",
            ).start()
            environment.update(
                {
                    "MOVIES_API_URL": f"http://127.0.0.1:{port}{UPSTREAM_PATH}",
                    "MOVIES_API_USERNAME": UPSTREAM_USERNAME,
                    "MOVIES_API_PASSWORD": UPSTREAM_PASSWORD,
                }
            )
        port = free_port()
        server = Server(
            "movie-collections serve",
            [
                sys.executable,
                "-m",
                "movie_collections",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(arguments.workers),
                "--migrate",
            ],
            port,
            base_environment(environment),
            "/openapi.json",
        ).start()
        try:
            yield server, movies_enabled
        finally:
            server.stop()
            output = server.output()
            if "Traceback" in output:
                print(output[-4000:], file=sys.stderr)
    finally:
        if upstream is not None:
            upstream.stop()


# Injects faults into a running leg: (server, start of load, leg length, event log).
Faults = Callable[[Server, float, float, list[dict[str, Any]]], Awaitable[None]]


async def soak(
    arguments: argparse.Namespace,
    server: Server,
    movies_enabled: bool,
    faults: Faults | None = None,
) -> dict[str, Any]:
    results = Results(faults=faults is not None)
    events: list[dict[str, Any]] = []
    base_url = server.url
    limits = httpx.Limits(
        max_connections=arguments.clients,
        max_keepalive_connections=arguments.clients,
        keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS,
    )
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        # Warm every worker up, then count from zero: from here on the checker counts too.
        for _ in range(4 * arguments.workers):
            await http.get("/openapi.json")
        registered = await http.post(
            "/register/", json={"username": f"soak_{uuid.uuid4().hex[:12]}", "password": PASSWORD}
        )
        registered.raise_for_status()
        operator = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        reset = await http.post("/request-count/reset/", headers=operator)
        if reset.status_code != 200:
            raise RuntimeError(
                f"cannot reset the request counter: {reset.status_code} {reset.text}"
            )
        rss_before_load = server_rss(server)
        rng = random.Random(arguments.seed)
        clients = [
            SoakClient(
                http,
                results,
                random.Random(rng.random()),
                movies_enabled,
                arguments.think_time,
            )
            for _ in range(arguments.clients)
        ]
        started = time.monotonic()
        deadline = started + arguments.duration
        # RSS is measured from the end of warm-up: pools, caches and arenas fill up first.
        warm_until = started + min(30.0, arguments.duration / 5)
        tasks = [asyncio.create_task(client.run(deadline)) for client in clients]
        if faults is not None:
            tasks.append(asyncio.create_task(faults(server, started, arguments.duration, events)))
        await asyncio.sleep(max(0.0, warm_until - time.monotonic()))
        rss_start = server_rss(server)
        rss_samples = [sum(rss_start.values())]
        # (seconds since the start, total RSS) about every 30 s: a leak climbs steadily, caches
        # filling up level off.
        rss_series = [(round(time.monotonic() - started), sum(rss_start.values()))]
        while time.monotonic() < deadline:
            await asyncio.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
            rss_samples.append(sum(server_rss(server).values()))
            if time.monotonic() - started - rss_series[-1][0] >= 30:
                rss_series.append((round(time.monotonic() - started), rss_samples[-1]))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
        rss_end = server_rss(server)
        sent_during_load = results.sent
        checks = 0
        for client in clients:
            checks += await client.final_check()
        # The counter must have seen every request sent since the reset, plus this one.
        for _ in range(150 if faults else 1):  # after faults: until the count is back
            count = await http.get("/request-count/", headers=operator)
            results.sent += 1
            if count.status_code == 200:
                break
            await asyncio.sleep(0.2)
        counted = count.json().get("requests") if count.status_code == 200 else None
        # With faults, a request whose connection was cut may or may not have reached the
        # server; without, the count must be exact.
        cut = results.statuses["transport error"] if faults else 0
        if counted is None or not results.sent - cut <= counted <= results.sent:
            results.anomaly(
                f"request count {counted}, requests sent {results.sent} ({cut} of them cut)"
            )

    latencies = sorted(results.latencies)
    allowed = UPSTREAM_STATUSES | ({503} if faults else set())  # 503s checked as they came
    server_errors = {
        status: n
        for status, n in results.statuses.items()
        if status.isdigit() and int(status) >= 500 and int(status) not in allowed
    }
    if server_errors:
        results.anomaly(f"5xx answers: {server_errors}")
    growth = (sum(rss_end.values()) - sum(rss_start.values())) / max(1, sum(rss_start.values()))
    # With faults a worker is replaced: its successor's memory is no growth.
    if faults is None and growth > arguments.max_rss_growth:
        results.anomaly(
            f"server RSS grew {growth:.0%} (over {arguments.max_rss_growth:.0%}) during the soak"
        )
    return {
        "duration_seconds": round(elapsed, 1),
        "clients": arguments.clients,
        "workers": arguments.workers,
        "database": "postgresql" if arguments.database_url else "sqlite",
        "redis": bool(arguments.redis_url),
        "movies_endpoint_exercised": movies_enabled,
        "requests_sent": results.sent,
        "requests_during_load": sent_during_load,
        "requests_per_second": round(sent_during_load / elapsed, 1),
        "request_counter": counted,
        "statuses": dict(sorted(results.statuses.items())),
        "operations": dict(sorted(results.operations.items())),
        "latency_ms": {
            "p50": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
            "p99": round(1000 * latencies[int(len(latencies) * 0.99)], 1) if latencies else None,
            "max": round(1000 * latencies[-1], 1) if latencies else None,
        },
        "final_checks": checks,
        "users": sum(len(client.users) for client in clients),
        "collections_alive": sum(
            len(user.collections) for client in clients for user in client.users
        ),
        "rss_kib_before_load": sum(rss_before_load.values()),
        "rss_kib_start": sum(rss_start.values()),
        "rss_kib_end": sum(rss_end.values()),
        "rss_kib_peak": max(rss_samples),
        "rss_growth": round(growth, 3),
        "rss_kib_series": rss_series,
        "rss_kib_by_process": {
            str(pid): [rss_start.get(pid, 0), rss_end.get(pid, 0)]
            for pid in sorted(set(rss_start) | set(rss_end))
        },
        "server_processes": len(rss_end),
        "faults": events,
        "refused_during_faults": results.refused,
        "anomalies": results.anomalies,
    }


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, default=300, help="seconds of load (default 300)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--workers", type=int, default=2, help="server workers (default 2)")
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL URL of an empty database (default SQLite)"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="run on a fresh database on the machine's PostgreSQL ($SOAK_POSTGRES_URL's server)",
    )
    parser.add_argument("--redis-url", default=None, help="use the Redis backends at this URL")
    parser.add_argument(
        "--think-time", type=float, default=0.01, help="mean pause between a client's requests"
    )
    parser.add_argument(
        "--upstream-failure-rate",
        type=float,
        default=0.05,
        help="share of stand-in upstream calls that fail (default 0.05)",
    )
    parser.add_argument(
        "--max-rss-growth",
        type=float,
        default=0.25,
        help="RSS growth from the end of warm-up to the end that counts as a leak (default 0.25)",
    )
    parser.add_argument(
        "--faults",
        action="store_true",
        help="two legs with faults injected (private PostgreSQL and Redis, a tmpfs; root)",
    )
    parser.add_argument(
        "--tmpfs-size", default="128m", help="size of the faults leg's tmpfs (default 128m)"
    )
    parser.add_argument("--seed", type=int, default=7, help="scenario seed (default 7)")
    parser.add_argument("--report", type=Path, default=None, help="also write the JSON here")
    return parser.parse_args(argv)


async def _postgres_admin(statement: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new database on the machine's PostgreSQL for this soak, dropped afterwards."""
    name = f"mc_soak_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --------------------------------------------------------------------------- faults


def _at(started: float, duration: float, fraction: float) -> Awaitable[None]:
    return asyncio.sleep(max(0.0, started + fraction * duration - time.monotonic()))


def _noter(started: float, events: list[dict[str, Any]]) -> Callable[[str], None]:
    def note(what: str) -> None:
        events.append({"at_s": round(time.monotonic() - started, 1), "fault": what})

    return note


def _kill_a_worker(server: Server) -> str:
    victim = worker_pids(server.pid)[0]
    os.kill(victim, signal.SIGKILL)
    return f"worker {victim} SIGKILLed"


def postgres_and_redis_faults(postgres: PrivatePostgres, redis_server: PrivateRedis) -> Faults:
    async def inject(
        server: Server, started: float, duration: float, events: list[dict[str, Any]]
    ) -> None:
        note = _noter(started, events)
        await _at(started, duration, 0.2)
        note(_kill_a_worker(server))
        await _at(started, duration, 0.35)
        await asyncio.to_thread(postgres.stop, "fast")
        note("PostgreSQL stopped (pg_ctl stop -m fast)")
        await asyncio.sleep(3)
        await asyncio.to_thread(postgres.start)
        note("PostgreSQL started")
        await _at(started, duration, 0.6)
        redis_server.kill()
        note("Redis SIGKILLed")
        await asyncio.sleep(3)
        await asyncio.to_thread(redis_server.start)
        note("Redis started (same append-only file)")

    return inject


def disk_faults(tmpfs: SmallTmpfs) -> Faults:
    async def inject(
        server: Server, started: float, duration: float, events: list[dict[str, Any]]
    ) -> None:
        note = _noter(started, events)
        await _at(started, duration, 0.25)
        written = await asyncio.to_thread(tmpfs.fill)
        note(f"disk filled ({written / 2**20:.1f} MiB written)")
        await _at(started, duration, 0.35)
        note(_kill_a_worker(server) + " (its replacement starts on the full disk)")
        await _at(started, duration, 0.55)
        tmpfs.free()
        note("disk freed")

    return inject


def run_with_faults(arguments: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """The two legs of --faults; one summary holding both."""
    if not (
        postgres_server_available() and shutil.which("redis-server") and SmallTmpfs.available()
    ):
        raise SystemExit("--faults needs root, PostgreSQL's server binaries and redis-server")
    legs: list[dict[str, Any]] = []
    leg = argparse.Namespace(**{**vars(arguments), "duration": arguments.duration / 2})
    with PrivatePostgres() as postgres:
        redis_server = PrivateRedis(directory / "redis").start()
        try:
            leg.database_url, leg.redis_url = postgres.url, redis_server.url
            with services(leg, directory / "postgres-redis") as (server, movies_enabled):
                faults = postgres_and_redis_faults(postgres, redis_server)
                legs.append(asyncio.run(soak(leg, server, movies_enabled, faults)))
        finally:
            redis_server.kill()
    with SmallTmpfs(arguments.tmpfs_size) as tmpfs:
        leg.database_url, leg.redis_url = None, None
        with services(leg, tmpfs.path) as (server, movies_enabled):
            legs.append(asyncio.run(soak(leg, server, movies_enabled, disk_faults(tmpfs))))
    legs[0]["leg"] = "PostgreSQL + Redis (private servers)"
    legs[1]["leg"] = f"SQLite + local counter on a {arguments.tmpfs_size} tmpfs"
    return {
        "legs": legs,
        "anomalies": [f"{leg['leg']}: {anomaly}" for leg in legs for anomaly in leg["anomalies"]],
    }


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    directory = Path(tempfile.mkdtemp(prefix="mc-soak-"))
    try:
        if arguments.faults:
            summary = run_with_faults(arguments, directory)
        else:
            with contextlib.ExitStack() as stack:
                if arguments.postgres:
                    arguments.database_url = stack.enter_context(fresh_postgres_database())
                server, movies_enabled = stack.enter_context(services(arguments, directory))
                summary = asyncio.run(soak(arguments, server, movies_enabled))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    text = json.dumps(summary, indent=2)
    print(text)
    if arguments.report is not None:
        arguments.report.parent.mkdir(parents=True, exist_ok=True)
        arguments.report.write_text(text + "\n")
    return 1 if summary["anomalies"] else 0


if __name__ == "__main__":
    sys.exit(main())
