"""Realistic data, created through the API itself (concurrent requests, so seeding is quick)."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

GENRES = [
    "Drama", "Comedy", "Action", "Thriller", "Romance", "Horror", "Documentary",
    "Animation", "Crime", "Science Fiction", "Fantasy", "Adventure", "Mystery", "Family",
]  # fmt: skip
WORDS = [
    "a",
    "quiet",
    "town",
    "hides",
    "a",
    "secret",
    "that",
    "two",
    "estranged",
    "sisters",
    "must",
    "uncover",
    "before",
    "the",
    "winter",
    "storm",
    "cuts",
    "them",
    "off",
    "from",
    "the",
    "rest",
    "of",
    "the",
    "world",
    "while",
    "an",
    "old",
    "friend",
    "returns",
    "with",
    "news",
]
PASSWORD = "bench-password-0123"


def make_movie(rng: random.Random) -> dict[str, str]:
    """A movie shaped like the catalogue's: a title, a paragraph, 1-3 genres, a UUID."""
    return {
        "title": " ".join(rng.choice(WORDS).capitalize() for _ in range(rng.randint(1, 4))),
        "description": " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 45))) + ".",
        "genres": ",".join(rng.sample(GENRES, rng.randint(1, 3))),
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    }


def make_collection(rng: random.Random, index: int, movies: int) -> dict[str, Any]:
    return {
        "title": f"Collection {index}: " + " ".join(rng.choice(WORDS) for _ in range(3)),
        "description": " ".join(rng.choice(WORDS) for _ in range(15)),
        "movies": [make_movie(rng) for _ in range(movies)],
    }


@dataclass(slots=True)
class SeededUser:
    username: str
    token: str
    collection_ids: list[str] = field(default_factory=list)

    @property
    def authorization(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(client: httpx.AsyncClient, prefix: str, role: str) -> SeededUser:
    username = f"{prefix}_{role}"
    response = await client.post("/register/", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return SeededUser(username, response.json()["access_token"])


async def add_collections(
    client: httpx.AsyncClient,
    user: SeededUser,
    count: int,
    movies_each: int,
    seed: int,
    concurrency: int = 16,
) -> None:
    rng = random.Random(seed)
    bodies = [make_collection(rng, index, movies_each) for index in range(count)]
    slots = asyncio.Semaphore(concurrency)

    async def create(body: dict[str, Any]) -> str:
        async with slots:
            for attempt in range(5):
                response = await client.post("/collection/", json=body, headers=user.authorization)
                if response.status_code == 201:
                    return str(response.json()["collection_uuid"])
                if response.status_code < 500 or attempt == 4:
                    response.raise_for_status()
                await asyncio.sleep(0.2 * (attempt + 1))
            raise AssertionError("unreachable")

    user.collection_ids.extend(await asyncio.gather(*(create(b) for b in bodies)))


@dataclass(slots=True)
class Dataset:
    small: SeededUser  # 10 collections x 5 movies: the typical reader
    large: SeededUser  # 1,000 collections x 20 movies
    writer: SeededUser  # POSTs new collections
    editor: SeededUser  # PUTs movie lists over 64 collections of its own
    replacement_movies: list[list[dict[str, str]]]
    # Every page of the large user's collections, 20 a page, in each sort order and for a
    # search: the paths `next` links to (their cursors are signed by the server).
    page_paths: list[str] = field(default_factory=list)


PAGE_SORTS = ("-created", "created", "title", "-updated")


async def page_paths(client: httpx.AsyncClient, user: SeededUser) -> list[str]:
    """Follow `next` through every page of each sort, and of a search, from the first page."""
    starts = [f"/collection/?limit=20&sort={sort}" for sort in PAGE_SORTS]
    starts.append("/collection/?limit=20&q=secret")
    paths: list[str] = []
    for start in starts:
        url: str | None = start
        while url is not None:
            parsed = httpx.URL(url)
            paths.append(parsed.raw_path.decode())
            response = await client.get(url, headers=user.authorization)
            response.raise_for_status()
            url = response.json()["data"]["next"]
    return paths


async def seed(base_url: str, prefix: str, large_collections: int = 1000) -> Dataset:
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        small, large, writer, editor = await asyncio.gather(
            *(register(client, prefix, role) for role in ("small", "large", "writer", "editor"))
        )
        await add_collections(client, small, 10, 5, seed=1)
        await add_collections(client, editor, 64, 10, seed=2)
        paths: list[str] = []
        if large_collections:
            await add_collections(client, large, large_collections, 20, seed=3)
            paths = await page_paths(client, large)
    rng = random.Random(4)
    replacements = [[make_movie(rng) for _ in range(10)] for _ in range(8)]
    return Dataset(small, large, writer, editor, replacements, paths)


def collection_body(seed_value: int, movies: int = 10) -> dict[str, Any]:
    return make_collection(random.Random(seed_value), seed_value, movies)
