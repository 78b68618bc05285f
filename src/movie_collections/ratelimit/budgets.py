"""Per-user rate budgets (collection writes, movies written, GET /movies/) over the auth
limits' store, so they hold across worker processes (local file) and hosts (Redis)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum

from movie_collections.core.errors import TooManyRequests, Unprocessable
from movie_collections.core.settings import Settings
from movie_collections.ratelimit.backend import Limit, RateLimitStore, retry_after_seconds

WINDOW_MS = 60_000


class Budget(Enum):
    """Each value is the budget's name in GET /limits/ (and the `limit` of its 429)."""

    WRITES = "writes_per_user_per_minute"
    MOVIES_WRITTEN = "movies_written_per_user_per_minute"
    MOVIES = "movies_per_user_per_minute"


_WHAT = {
    Budget.WRITES: "collection writes",
    Budget.MOVIES_WRITTEN: "movies written to collections",
    Budget.MOVIES: "catalogue requests (GET /movies/)",
}


@dataclass(frozen=True, slots=True)
class UserBudgets:
    store: RateLimitStore
    per_minute: dict[Budget, int]

    @classmethod
    def from_settings(cls, settings: Settings, store: RateLimitStore) -> UserBudgets:
        return cls(
            store,
            {
                Budget.WRITES: settings.writes_per_user_per_minute,
                Budget.MOVIES_WRITTEN: settings.movies_written_per_user_per_minute,
                Budget.MOVIES: settings.movies_per_user_per_minute,
            },
        )

    async def spend(self, budget: Budget, user_id: uuid.UUID, cost: int = 1) -> None:
        """Takes `cost` from the user's budget; 429 with Retry-After when it has not that much,
        422 when the whole budget is less."""
        allowed = self.per_minute[budget]
        if not allowed or cost <= 0:
            return
        if cost > allowed:  # never within a minute's budget: waiting would not help
            raise Unprocessable(
                f"This request asks for {cost} {_WHAT[budget]}; at most {allowed} fit in a "
                f"minute ({budget.value}): send it in parts.",
                limit=budget.value,
            )
        limit = Limit(f"{budget.value}:{user_id.hex}", allowed, cost)
        wait_ms = await self.store.hit([limit], WINDOW_MS)
        if wait_ms > 0:
            seconds = retry_after_seconds(wait_ms)
            raise TooManyRequests(
                f"At most {allowed} {_WHAT[budget]} per user per minute ({budget.value}); "
                f"try again in {seconds} seconds.",
                headers={"Retry-After": str(seconds)},
                limit=budget.value,
            )
