"""All SQL of idempotency keys; every statement is scoped by (owner, key)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, select, update

from movie_collections.core.database import Connection
from movie_collections.idempotency.models import IdempotencyKey

idempotency_keys = cast(Table, IdempotencyKey.__table__)

_KEY = (idempotency_keys.c.owner_id == bindparam("owner_id")) & (
    idempotency_keys.c.key == bindparam("idempotency_key")
)
_IN_FLIGHT = idempotency_keys.c.response_status.is_(None)
_HELD = _KEY & (idempotency_keys.c.attempt_id == bindparam("attempt_id")) & _IN_FLIGHT
_ABANDONED = idempotency_keys.c.claimed_at < bindparam("abandoned_before")
_EXPIRED = idempotency_keys.c.created_at < bindparam("expired_before")

# The clock comparisons run in SQL, so no time zone is lost on the way.
_FIND = select(
    idempotency_keys.c.request_hash,
    idempotency_keys.c.response_status,
    idempotency_keys.c.response_body,
    _EXPIRED.label("expired"),
    _ABANDONED.label("abandoned"),
).where(_KEY)
_INSERT = insert(idempotency_keys)
_TAKE_OVER = (
    update(idempotency_keys)
    .where(_KEY & _IN_FLIGHT & _ABANDONED)
    .values(attempt_id=bindparam("new_attempt_id"), claimed_at=bindparam("now"))
)
_RECORD = (
    update(idempotency_keys)
    .where(_HELD)
    .values(response_status=bindparam("status"), response_body=bindparam("body"))
)
_RELEASE = delete(idempotency_keys).where(_HELD)
_DELETE_ONE = delete(idempotency_keys).where(_KEY)
_DELETE_EXPIRED = delete(idempotency_keys).where(_EXPIRED)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    request_hash: str
    response_status: int | None
    response_body: str | None
    expired: bool
    abandoned: bool


async def find(
    connection: Connection,
    owner_id: uuid.UUID,
    key: str,
    expired_before: datetime,
    abandoned_before: datetime,
) -> KeyRecord | None:
    row = await connection.fetch_one(
        _FIND,
        {
            "owner_id": owner_id,
            "idempotency_key": key,
            "expired_before": expired_before,
            "abandoned_before": abandoned_before,
        },
    )
    if row is None:
        return None
    request_hash, status, body, expired, abandoned = row
    return KeyRecord(request_hash, status, body, bool(expired), bool(abandoned))


async def insert_claim(
    connection: Connection,
    owner_id: uuid.UUID,
    key: str,
    request_hash: str,
    attempt_id: uuid.UUID,
    now: datetime,
) -> None:
    await connection.execute(
        _INSERT,
        {
            "owner_id": owner_id,
            "key": key,
            "request_hash": request_hash,
            "attempt_id": attempt_id,
            "response_status": None,
            "response_body": None,
            "created_at": now,
            "claimed_at": now,
        },
    )


async def take_over(
    connection: Connection,
    owner_id: uuid.UUID,
    key: str,
    attempt_id: uuid.UUID,
    now: datetime,
    abandoned_before: datetime,
) -> bool:
    """Claim a key whose request never finished; False if someone else got there first."""
    changed = await connection.execute(
        _TAKE_OVER,
        {
            "owner_id": owner_id,
            "idempotency_key": key,
            "abandoned_before": abandoned_before,
            "new_attempt_id": attempt_id,
            "now": now,
        },
    )
    return changed == 1


async def record_response(
    connection: Connection,
    owner_id: uuid.UUID,
    key: str,
    attempt_id: uuid.UUID,
    status: int,
    body: str,
) -> bool:
    """Store the answer; False when this attempt no longer holds the key."""
    changed = await connection.execute(
        _RECORD,
        {
            "owner_id": owner_id,
            "idempotency_key": key,
            "attempt_id": attempt_id,
            "status": status,
            "body": body,
        },
    )
    return changed == 1


async def release(
    connection: Connection, owner_id: uuid.UUID, key: str, attempt_id: uuid.UUID
) -> None:
    await connection.execute(
        _RELEASE, {"owner_id": owner_id, "idempotency_key": key, "attempt_id": attempt_id}
    )


async def delete_one(connection: Connection, owner_id: uuid.UUID, key: str) -> None:
    await connection.execute(_DELETE_ONE, {"owner_id": owner_id, "idempotency_key": key})


async def delete_expired(connection: Connection, expired_before: datetime) -> int:
    return await connection.execute(_DELETE_EXPIRED, {"expired_before": expired_before})
