"""All SQL of idempotency keys; every statement is scoped by (owner, key)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from movie_collections.idempotency.models import IdempotencyKey

idempotency_keys = cast(Table, IdempotencyKey.__table__)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    request_hash: str
    response_status: int | None
    response_body: str | None
    expired: bool
    abandoned: bool


def _key(owner_id: uuid.UUID, key: str) -> ColumnElement[bool]:
    return (idempotency_keys.c.owner_id == owner_id) & (idempotency_keys.c.key == key)


async def find(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    key: str,
    expired_before: datetime,
    abandoned_before: datetime,
) -> KeyRecord | None:
    """The key's row; the clock comparisons run in SQL, so no time zone is lost on the way."""
    row = (
        await connection.execute(
            select(
                idempotency_keys.c.request_hash,
                idempotency_keys.c.response_status,
                idempotency_keys.c.response_body,
                (idempotency_keys.c.created_at < expired_before).label("expired"),
                (idempotency_keys.c.claimed_at < abandoned_before).label("abandoned"),
            ).where(_key(owner_id, key))
        )
    ).first()
    if row is None:
        return None
    return KeyRecord(
        request_hash=row.request_hash,
        response_status=row.response_status,
        response_body=row.response_body,
        expired=bool(row.expired),
        abandoned=bool(row.abandoned),
    )


async def insert_claim(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    key: str,
    request_hash: str,
    attempt_id: uuid.UUID,
    now: datetime,
) -> None:
    await connection.execute(
        insert(idempotency_keys).values(
            owner_id=owner_id,
            key=key,
            request_hash=request_hash,
            attempt_id=attempt_id,
            response_status=None,
            response_body=None,
            created_at=now,
            claimed_at=now,
        )
    )


async def take_over(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    key: str,
    attempt_id: uuid.UUID,
    now: datetime,
    abandoned_before: datetime,
) -> bool:
    """Claim a key whose request never finished; False if someone else got there first."""
    result = await connection.execute(
        update(idempotency_keys)
        .where(
            _key(owner_id, key)
            & idempotency_keys.c.response_status.is_(None)
            & (idempotency_keys.c.claimed_at < abandoned_before)
        )
        .values(attempt_id=attempt_id, claimed_at=now)
    )
    return result.rowcount == 1


async def record_response(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    key: str,
    attempt_id: uuid.UUID,
    status: int,
    body: str,
) -> bool:
    """Store the answer; False when this attempt no longer holds the key."""
    result = await connection.execute(
        update(idempotency_keys)
        .where(
            _key(owner_id, key)
            & (idempotency_keys.c.attempt_id == attempt_id)
            & idempotency_keys.c.response_status.is_(None)
        )
        .values(response_status=status, response_body=body)
    )
    return result.rowcount == 1


async def release(
    connection: AsyncConnection, owner_id: uuid.UUID, key: str, attempt_id: uuid.UUID
) -> None:
    await connection.execute(
        delete(idempotency_keys).where(
            _key(owner_id, key)
            & (idempotency_keys.c.attempt_id == attempt_id)
            & idempotency_keys.c.response_status.is_(None)
        )
    )


async def delete_one(connection: AsyncConnection, owner_id: uuid.UUID, key: str) -> None:
    await connection.execute(delete(idempotency_keys).where(_key(owner_id, key)))


async def delete_expired(connection: AsyncConnection, expired_before: datetime) -> int:
    result = await connection.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < expired_before)
    )
    return int(result.rowcount)
