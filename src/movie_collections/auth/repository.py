"""SQL for users."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from movie_collections.auth.models import RefreshToken, User

users = cast(Table, User.__table__)
refresh_tokens = cast(Table, RefreshToken.__table__)


class UsernameTaken(Exception):
    pass


async def insert_user(connection: AsyncConnection, username: str, password_hash: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    statement = insert(users).values(
        id=user_id,
        username=username,
        username_key=username.lower(),
        password_hash=password_hash,
        created_at=datetime.now(UTC),
    )
    try:
        await connection.execute(statement)
    except IntegrityError as error:
        raise UsernameTaken(username) from error
    return user_id


async def find_login(connection: AsyncConnection, username: str) -> tuple[uuid.UUID, str] | None:
    """The id and password hash of the user with this name (any case), if there is one."""
    row = (
        await connection.execute(
            select(users.c.id, users.c.password_hash).where(
                users.c.username_key == username.lower()
            )
        )
    ).first()
    return (row.id, row.password_hash) if row is not None else None


async def update_password_hash(
    connection: AsyncConnection, user_id: uuid.UUID, password_hash: str
) -> None:
    await connection.execute(
        users.update().where(users.c.id == user_id).values(password_hash=password_hash)
    )


async def user_exists(connection: AsyncConnection, user_id: uuid.UUID) -> bool:
    found = await connection.execute(select(users.c.id).where(users.c.id == user_id))
    return found.first() is not None


async def delete_user(connection: AsyncConnection, user_id: uuid.UUID) -> bool:
    """Deletes the user; their collections and refresh tokens go with them (ON DELETE CASCADE)."""
    result = await connection.execute(delete(users).where(users.c.id == user_id))
    return result.rowcount > 0


async def insert_refresh_token(
    connection: AsyncConnection,
    *,
    token_hash: str,
    family_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
    expires_at: datetime,
) -> None:
    await connection.execute(
        insert(refresh_tokens).values(
            id=uuid.uuid4(),
            token_hash=token_hash,
            family_id=family_id,
            user_id=user_id,
            created_at=now,
            expires_at=expires_at,
        )
    )


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    user_id: uuid.UUID
    family_id: uuid.UUID
    expires_at: datetime
    used: bool
    revoked: bool


async def spend_refresh_token(connection: AsyncConnection, token_hash: str, now: datetime) -> bool:
    """Marks an unspent, unrevoked, unexpired token as used. True only for the one caller that
    did: the condition is re-checked under the row lock, so of two concurrent uses exactly one
    wins (PostgreSQL re-evaluates the WHERE after the lock; SQLite writers are serialised)."""
    result = await connection.execute(
        update(refresh_tokens)
        .where(
            refresh_tokens.c.token_hash == token_hash,
            refresh_tokens.c.used_at.is_(None),
            refresh_tokens.c.revoked_at.is_(None),
            refresh_tokens.c.expires_at > now,
        )
        .values(used_at=now)
    )
    return result.rowcount == 1


async def find_refresh_token(
    connection: AsyncConnection, token_hash: str
) -> RefreshTokenRecord | None:
    row = (
        await connection.execute(
            select(
                refresh_tokens.c.user_id,
                refresh_tokens.c.family_id,
                refresh_tokens.c.expires_at,
                refresh_tokens.c.used_at,
                refresh_tokens.c.revoked_at,
            ).where(refresh_tokens.c.token_hash == token_hash)
        )
    ).first()
    if row is None:
        return None
    return RefreshTokenRecord(
        user_id=row.user_id,
        family_id=row.family_id,
        expires_at=row.expires_at,
        used=row.used_at is not None,
        revoked=row.revoked_at is not None,
    )


async def revoke_family(connection: AsyncConnection, family_id: uuid.UUID, now: datetime) -> None:
    await connection.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
