"""Write amplification: other users' POST /collection/ while one user posts, nonstop and
ignoring every 429, the heaviest bodies the per-user budgets allow (issue 18).

The heavy bodies are sized from GET /limits/ (most movies, longest titles, the whole genre
budget, the rest of the body limit in descriptions); the others post 10-movie collections at
a steady pace, measured alone, then beside the heavy user (a process of its own)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import secrets
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from bench.procstats import Usage, UsageSampler
from bench.seed import SeededUser, collection_body, register

OTHER_USERS = 16
OTHER_INTERVAL_S = 1.0  # each other user writes once a second: 60 a minute, within budget
HEAVY_BODIES = 6  # cycled; each its own genre names, so the user's genre rows keep growing
BUDGET_WINDOW_S = 60


@dataclass(slots=True)
class Phase:
    latencies_ms: list[float]
    statuses: dict[int, int]
    seconds: float

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 201)


def heavy_bodies(limits: dict[str, Any], count: int = HEAVY_BODIES) -> list[bytes]:
    movies = limits["max_movies_per_collection"]
    per_movie = limits["max_genres_per_movie"]
    pool_size = max(per_movie, limits["max_genres_per_collection"])
    # As long as the genre budget allows and `genres` (per_movie names, commas) can hold.
    name_chars = min(
        limits["max_genre_chars"], (limits["movie_genres_max_chars"] + 1) // per_movie - 1
    )
    bodies = []
    for index in range(count):
        prefix = f"h{index}{secrets.token_hex(3)}g"
        pool = [f"{prefix}{k}".ljust(name_chars, "x") for k in range(pool_size)]
        skeleton = [
            {
                "title": "T" * limits["movie_title_max_chars"],
                "description": "",
                "genres": ",".join(pool[(m * per_movie + j) % pool_size] for j in range(per_movie)),
                "uuid": str(uuid.uuid4()),
            }
            for m in range(movies)
        ]
        body = {"title": f"heavy {index}", "description": "", "movies": skeleton}
        room = limits["max_body_bytes"] - len(json.dumps(body)) - 1024
        description = "d" * min(limits["movie_description_max_chars"], room // movies)
        for movie in skeleton:
            movie["description"] = description
        bodies.append(json.dumps(body).encode())
    return bodies


def _post_heavy(base_url: str, token: str, bodies: list[bytes], until: float, out: Any) -> None:
    """The heavy user, in its own process: post back to back until `until`, never waiting."""
    statuses: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, timeout=60) as http:
        index = 0
        while time.monotonic() < until:
            response = http.post(
                "/collection/", content=bodies[index % len(bodies)], headers=headers
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            index += 1
    out.put(statuses)


async def _others(base_url: str, users: list[SeededUser], seconds: float) -> Phase:
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one_user(http: httpx.AsyncClient, user: SeededUser, offset: float) -> None:
        await asyncio.sleep(offset)
        deadline = time.monotonic() + seconds - offset
        serial = 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            body = collection_body(serial % 8, movies=10)
            response = await http.post("/collection/", json=body, headers=user.authorization)
            latencies.append(1000 * (time.monotonic() - started))
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            serial += 1
            await asyncio.sleep(max(0.0, OTHER_INTERVAL_S - (time.monotonic() - started)))

    started = time.monotonic()
    limits = httpx.Limits(max_connections=len(users))
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        await asyncio.gather(
            *(
                one_user(http, user, i * OTHER_INTERVAL_S / len(users))
                for i, user in enumerate(users)
            )
        )
    return Phase(latencies, statuses, time.monotonic() - started)


async def _register_all(
    base_url: str, prefix: str
) -> tuple[SeededUser, list[SeededUser], dict[str, Any]]:
    """The heavy user, the others, and the server's limits."""
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        heavy = await register(http, prefix, "heavy")
        others = await asyncio.gather(
            *(register(http, prefix, f"other{n}") for n in range(OTHER_USERS))
        )
        limits: dict[str, Any] = (await http.get("/limits/", headers=heavy.authorization)).json()
    return heavy, list(others), limits


@dataclass(slots=True)
class Outcome:
    alone: Phase
    beside_heavy: Phase
    heavy_statuses: dict[int, int]
    heavy_body_bytes: int
    usage: Usage  # the server's, while the heavy user ran


def measure(base_url: str, seconds: float, server_pid: int) -> Outcome:
    """Others alone for `seconds`, then beside the heavy user from its first request for a
    whole budget window at least (its burst, then its refusals), sampling the server."""
    prefix = secrets.token_hex(4)
    heavy, others, limits = asyncio.run(_register_all(base_url, prefix))
    bodies = heavy_bodies(limits)
    alone = asyncio.run(_others(base_url, others, seconds))
    queue: multiprocessing.Queue[dict[int, int]] = multiprocessing.Queue()
    beside_seconds = max(seconds, BUDGET_WINDOW_S + 5)
    process = multiprocessing.Process(
        target=_post_heavy,
        args=(base_url, heavy.token, bodies, time.monotonic() + beside_seconds, queue),
        daemon=True,
    )
    process.start()
    try:
        with UsageSampler(server_pid) as sampler:
            beside = asyncio.run(_others(base_url, others, beside_seconds))
        heavy_statuses = queue.get(timeout=120)
    finally:
        process.join(timeout=120)
    body_bytes = max(len(b) for b in bodies)
    return Outcome(alone, beside, heavy_statuses, body_bytes, sampler.usage)


def describe(outcome: Outcome) -> str:
    heavy = outcome.heavy_statuses
    alone = outcome.alone
    return (
        f"The heavy user posted {sum(heavy.values())} bodies of "
        f"{outcome.heavy_body_bytes / 2**20:.1f} MiB ({heavy.get(201, 0)} created, "
        f"{heavy.get(429, 0)} refused with 429); the other users alone: p50 "
        f"{alone.percentile(0.5):.1f} ms, p99 {alone.percentile(0.99):.1f} ms."
    )


def summary(phase: Phase) -> dict[str, float]:
    return {
        "requests_per_s": len(phase.latencies_ms) / phase.seconds if phase.seconds else 0.0,
        "p50_ms": phase.percentile(0.5),
        "p90_ms": phase.percentile(0.9),
        "p99_ms": phase.percentile(0.99),
        "max_ms": max(phase.latencies_ms, default=0.0),
        "mean_ms": statistics.fmean(phase.latencies_ms) if phase.latencies_ms else 0.0,
    }
