"""The per-process objects the app is built from, opened and closed by the lifespan."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import Request

from movie_collections.auth.passwords import PasswordHashing
from movie_collections.auth.tokens import TokenService
from movie_collections.collection.service import Versions
from movie_collections.core.database import Database
from movie_collections.core.redis import RedisClient
from movie_collections.core.settings import Settings
from movie_collections.core.versioned_cache import VersionedCache
from movie_collections.counter.backend import RequestCounter
from movie_collections.idempotency.service import IdempotencyKeys
from movie_collections.movies.answers import PageBodies
from movie_collections.movies.client import MoviesClient
from movie_collections.ratelimit.budgets import UserBudgets
from movie_collections.ratelimit.limiter import AuthRateLimiter


@dataclass(slots=True)
class Container:
    settings: Settings
    database: Database
    passwords: PasswordHashing
    tokens: TokenService
    counter: RequestCounter
    movies: MoviesClient
    movie_pages: PageBodies
    redis: RedisClient | None
    auth_rate_limiter: AuthRateLimiter
    user_budgets: UserBudgets
    idempotency: IdempotencyKeys
    # The list per owner, its pages per (owner, URL): None with LIST_ANSWERS_BYTES=0
    list_answers: VersionedCache[uuid.UUID | tuple[uuid.UUID, str]] | None
    # (owner, collection): None with DETAIL_ANSWERS_BYTES=0
    detail_answers: VersionedCache[tuple[uuid.UUID, uuid.UUID]] | None
    versions: Versions  # what the answers kept above are checked against

    async def start(self) -> None:
        await self.database.start()
        await self.counter.start()
        await self.movies.start()

    async def close(self) -> None:
        """Flush and release everything, in reverse order of dependence."""
        await self.movies.close()
        await self.counter.stop()
        self.auth_rate_limiter.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.database.close()


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container
