"""Idempotency-Key rules: claim a key, replay its answer, refuse a reused key or one in flight.

The claim is committed before the work starts (a duplicate elsewhere gets 409); the answer is
recorded in the work's own transaction; a failed attempt drops its claim, a dead process's
claim is taken over after IDEMPOTENCY_IN_FLIGHT_TIMEOUT.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel

from movie_collections.core.database import (
    Connection,
    Database,
    ForeignKeyViolation,
    UniqueViolation,
)
from movie_collections.core.errors import BadRequest, Conflict, Unauthorized, Unprocessable
from movie_collections.core.settings import Settings
from movie_collections.idempotency import repository

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255
USER_GONE = "The user of this access token no longer exists."
# Expired keys are deleted in bulk at most this often per process (and always on reuse).
CLEANUP_INTERVAL_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Claim:
    """This request holds the key and must do the work."""

    owner_id: uuid.UUID
    key: str
    attempt_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The key's first request finished: answer exactly as it was answered."""

    status: int
    body: str


@dataclass(frozen=True, slots=True)
class AnsweredKey:
    """A key whose first request finished: the hash of that request's body, and its answer."""

    request_hash: str
    response: StoredResponse

    def replay(self, body_hash: str) -> StoredResponse:
        """The answer to send again; 422 if this request's body is another one."""
        _check_same_body(self.request_hash, body_hash)
        return self.response


@dataclass(frozen=True, slots=True)
class InFlight:
    """A key whose first request has not answered yet: a retry with its body gets 409 (with
    another, 422), or takes the key over once that request is abandoned."""

    request_hash: str
    abandoned: bool

    def check(self, body_hash: str) -> None:
        """Raises the retry's answer unless it may take the key over (claim it)."""
        _check_same_body(self.request_hash, body_hash)
        if not self.abandoned:
            raise _still_running()


def _still_running() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still in progress; retry shortly.",
        headers={"Retry-After": "1"},
    )


def _check_same_body(stored_hash: str, body_hash: str) -> None:
    if stored_hash != body_hash:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request body; "
            "use a new key for a new request."
        )


def _state(record: repository.KeyRecord | None) -> AnsweredKey | InFlight | None:
    """What a stored key says to a request with it; None: nothing (no key, or expired)."""
    if record is None or record.expired:
        return None
    if record.response_status is None or record.response_body is None:
        return InFlight(record.request_hash, record.abandoned)
    return AnsweredKey(
        record.request_hash, StoredResponse(record.response_status, record.response_body)
    )


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= MAX_KEY_LENGTH and all("!" <= c <= "~" for c in key)


def validate_key(key: str) -> str:
    """1-255 visible ASCII characters (a UUID is the usual choice)."""
    if not _valid_key(key):
        raise BadRequest(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} visible ASCII characters, "
            "for example a UUID."
        )
    return key


def request_hash(payload: BaseModel) -> str:
    """Hash of the parsed body, so spacing and key order do not make two requests differ.
    Unset optional fields (a movie's note) are left out: older bodies hash as they did."""
    canonical = json.dumps(
        payload.model_dump(mode="json", exclude_none=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    """Per-process handle on the idempotency_keys table."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.ttl = settings.idempotency_key_ttl
        self.in_flight_timeout = settings.idempotency_in_flight_timeout
        self._next_cleanup = 0.0

    async def find(self, owner_id: uuid.UUID, key: str) -> AnsweredKey | InFlight | None:
        """What became of the key, read without the write lock; None if it is new (or
        invalid: the claim says why)."""
        if not _valid_key(key):
            return None
        now = datetime.now(UTC)
        async with self.database.connection() as connection:
            record = await repository.find(
                connection, owner_id, key, now - self.ttl, now - self.in_flight_timeout
            )
        return _state(record)

    async def claim(self, owner_id: uuid.UUID, key: str, body_hash: str) -> Claim | StoredResponse:
        validate_key(key)
        try:
            return await self._claim_once(owner_id, key, body_hash)
        except UniqueViolation:
            # Another request inserted the same key between our read and our insert (possible
            # on PostgreSQL); read again and answer as for any duplicate.
            return await self._claim_once(owner_id, key, body_hash)

    async def _claim_once(
        self, owner_id: uuid.UUID, key: str, body_hash: str
    ) -> Claim | StoredResponse:
        now = datetime.now(UTC)
        expired_before = now - self.ttl
        abandoned_before = now - self.in_flight_timeout
        attempt = Claim(owner_id, key, uuid.uuid4())
        async with self.database.transaction(write=True) as connection:
            await self._cleanup_now_and_then(connection, expired_before)
            record = await repository.find(
                connection, owner_id, key, expired_before, abandoned_before
            )
            state = _state(record)
            if state is None:
                if record is not None:  # expired
                    await repository.delete_one(connection, owner_id, key)
                try:
                    await repository.insert_claim(
                        connection, owner_id, key, body_hash, attempt.attempt_id, now
                    )
                except ForeignKeyViolation as error:
                    # The key row references its user: a deleted user's token still verifies.
                    raise Unauthorized(USER_GONE) from error
                return attempt
            if isinstance(state, AnsweredKey):
                return state.replay(body_hash)
            _check_same_body(state.request_hash, body_hash)
            if state.abandoned and await repository.take_over(
                connection, owner_id, key, attempt.attempt_id, now, abandoned_before
            ):
                logger.warning("took over an abandoned idempotency key of user %s", owner_id)
                return attempt
        raise _still_running()

    async def record(self, connection: Connection, claim: Claim, status: int, body: str) -> None:
        """Store the answer inside the work's own transaction (committed together)."""
        if not await repository.record_response(
            connection, claim.owner_id, claim.key, claim.attempt_id, status, body
        ):
            # Our claim was taken over (we ran past the in-flight timeout): the other attempt
            # answers for the key, and raising here rolls our work back.
            raise Conflict(
                "This request took too long and another one with the same Idempotency-Key "
                "took over; retry to get its answer.",
                headers={"Retry-After": "1"},
            )

    @asynccontextmanager
    async def holding(self, claim: Claim | None) -> AsyncIterator[None]:
        """Run the work; if it fails, drop the claim (if any) so the client can retry."""
        if claim is None:
            yield
            return
        try:
            yield
        except BaseException:
            await self._release(claim)
            raise

    async def _release(self, claim: Claim) -> None:
        try:
            async with self.database.transaction(write=True) as connection:
                await repository.release(connection, claim.owner_id, claim.key, claim.attempt_id)
        except Exception:
            # The database is likely down; the claim is taken over after the in-flight timeout.
            logger.warning("could not release an idempotency key", exc_info=True)

    async def _cleanup_now_and_then(self, connection: Connection, expired_before: datetime) -> None:
        now = time.monotonic()
        if now < self._next_cleanup:
            return
        self._next_cleanup = now + CLEANUP_INTERVAL_SECONDS
        removed = await repository.delete_expired(connection, expired_before)
        if removed:
            logger.info("deleted %d expired idempotency keys", removed)
