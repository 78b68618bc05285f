"""The auth rate limits: failures per (username, client network) and per client network."""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from movie_collections.core.errors import TooManyRequests
from movie_collections.core.redis import RedisClient
from movie_collections.core.settings import Settings
from movie_collections.ratelimit.backend import (
    Limit,
    LocalRateLimitStore,
    RateLimitStore,
    RedisRateLimitStore,
    retry_after_seconds,
)

LOCAL_STORE_FILE_NAME = "rate_limits.db"
IPV6_NETWORK_PREFIX = 64


def _digest(value: str) -> str:
    # Keys hold digests, not usernames or addresses, so the store holds no personal data.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def client_network(address: str) -> str:
    """The network a client address stands for: an IPv4 address itself, an IPv6 address's /64
    (one subscriber's, which they can walk freely); anything else (no address) as it is."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_NETWORK_PREFIX), strict=False))
    return str(parsed)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One admitted attempt, recorded on its keys until it is known to have succeeded."""

    limits: Sequence[Limit]
    hit_id: str


class AuthRateLimiter:
    """Only failures throttle a login: a correct password takes its attempt back. So guesses
    at a name from other networks never lock its owner out of theirs (the pair's key), and
    one network cannot guess at many names (the network's key)."""

    def __init__(self, settings: Settings, store: RateLimitStore) -> None:
        self._store = store
        self._per_username = settings.auth_rate_limit_per_username
        self._per_address = settings.auth_rate_limit_per_address
        self._window_ms = int(settings.auth_rate_limit_window.total_seconds() * 1000)

    async def check(self, action: str, username: str, address: str) -> Attempt:
        """Counts one attempt of `action`; TooManyRequests (with Retry-After) when over.
        Counted before the outcome is known, so concurrent guesses can never exceed the limit."""
        network = client_network(address)
        limits = []
        if self._per_username:
            key = f"{action}:user:{_digest(username.lower() + ' ' + network)}"
            limits.append(Limit(key, self._per_username))
        if self._per_address:
            limits.append(Limit(f"{action}:address:{_digest(network)}", self._per_address))
        attempt = Attempt(limits, uuid.uuid4().hex)
        if not limits:
            return attempt
        wait_ms = await self._store.hit(limits, self._window_ms, attempt.hit_id)
        if wait_ms > 0:
            seconds = retry_after_seconds(wait_ms)
            raise TooManyRequests(
                f"Too many {action} attempts; try again in {seconds} seconds.",
                headers={"Retry-After": str(seconds)},
                limit=f"auth_{action}",
            )
        return attempt

    async def release(self, attempt: Attempt) -> None:
        """The attempt was not a failure (it succeeded, or got no answer): it no longer counts."""
        if attempt.limits:
            await self._store.release(attempt.limits, attempt.hit_id)

    def close(self) -> None:
        self._store.close()


def build_rate_limit_store(settings: Settings, redis: RedisClient | None) -> RateLimitStore:
    local = LocalRateLimitStore(settings.resolved_data_dir / LOCAL_STORE_FILE_NAME)
    if redis is None:
        return local
    return RedisRateLimitStore(redis, settings.redis_key_prefix, local)
