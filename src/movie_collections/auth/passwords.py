"""Argon2id password hashing, run in worker threads so the event loop never stalls on it."""

from __future__ import annotations

import asyncio

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from movie_collections.core.settings import Settings


class PasswordHashing:
    """Hashes and verifies passwords; at most `concurrency` hashes run at once per process.

    Argon2 costs ~64 MiB and tens of milliseconds of CPU each: the bound keeps a burst of
    registrations from exhausting memory or starving the other requests of CPU.
    """

    def __init__(self, settings: Settings, concurrency: int = 4) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.password_hash_time_cost,
            memory_cost=settings.password_hash_memory_kib,
            parallelism=settings.password_hash_parallelism,
        )
        self._slots = asyncio.Semaphore(concurrency)
        # Verified against when a username is unknown, so both paths cost the same time.
        self._decoy_hash = self._hasher.hash("decoy password, never matches anything")

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await anyio.to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        async with self._slots:
            return await anyio.to_thread.run_sync(
                self._verify_sync, password_hash or self._decoy_hash, password, password_hash
            )

    def _verify_sync(self, stored_hash: str, password: str, real_hash: str | None) -> bool:
        try:
            matched = self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return matched and real_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
