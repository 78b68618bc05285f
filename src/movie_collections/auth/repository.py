"""SQL for users and refresh tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, select, update

from movie_collections.auth.models import RefreshToken, User
from movie_collections.collection.models import Collection
from movie_collections.core.database import Connection, UniqueViolation

users = cast(Table, User.__table__)
refresh_tokens = cast(Table, RefreshToken.__table__)

_INSERT_USER = insert(users)
_FIND_LOGIN = select(users.c.id, users.c.password_hash).where(
    users.c.username_key == bindparam("name_key")
)
_SET_PASSWORD_HASH = (
    update(users).where(users.c.id == bindparam("user_id")).values(password_hash=bindparam("hash"))
)
_USERNAME_KEY = select(users.c.username_key).where(users.c.id == bindparam("user_id"))
_DELETE_USER = delete(users).where(users.c.id == bindparam("user_id"))
# Writes lock a collection or a refresh token, then a row that refers to the user (a KEY SHARE
# lock on it). Deleting the user locks the same rows first, in one order, so it waits for
# those writes instead of holding the user's row while they wait for it (a deadlock).
_collections = cast(Table, Collection.__table__)
_LOCK_ACCOUNT = (
    select(_collections.c.id)
    .where(_collections.c.owner_id == bindparam("user_id"))
    .order_by(_collections.c.id)
    .with_for_update(),
    select(refresh_tokens.c.id)
    .where(refresh_tokens.c.user_id == bindparam("user_id"))
    .order_by(refresh_tokens.c.id)
    .with_for_update(),
)
_INSERT_REFRESH_TOKEN = insert(refresh_tokens)
_THIS_TOKEN = refresh_tokens.c.token_hash == bindparam("hash")
# The condition is re-checked under the row lock, so of two concurrent uses exactly one wins
# (PostgreSQL re-evaluates the WHERE after the lock; SQLite writers are serialised).
_SPEND_REFRESH_TOKEN = (
    update(refresh_tokens)
    .where(
        _THIS_TOKEN,
        refresh_tokens.c.used_at.is_(None),
        refresh_tokens.c.revoked_at.is_(None),
        refresh_tokens.c.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("now"))
)
_FIND_REFRESH_TOKEN = select(
    refresh_tokens.c.user_id,
    refresh_tokens.c.family_id,
    refresh_tokens.c.expires_at,
    refresh_tokens.c.used_at,
    refresh_tokens.c.revoked_at,
).where(_THIS_TOKEN)
# Waits for the family's refreshes in flight (each holds the lock of the token it spends):
# the UPDATE after it, a new snapshot in READ COMMITTED, then sees the tokens they issued.
# In id order, as DELETE /me/ locks them (_LOCK_ACCOUNT): in any other, the two can deadlock.
_LOCK_FAMILY = (
    select(refresh_tokens.c.id)
    .where(refresh_tokens.c.family_id == bindparam("family"))
    .order_by(refresh_tokens.c.id)
    .with_for_update()
)
_REVOKE_FAMILY = (
    update(refresh_tokens)
    .where(refresh_tokens.c.family_id == bindparam("family"), refresh_tokens.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)

# An expired token can never be spent again; its user's next token takes it away. SKIP LOCKED:
# the delete never waits (a row a transaction holds goes next time), so it joins no deadlock.
_DELETE_EXPIRED = delete(refresh_tokens).where(
    refresh_tokens.c.id.in_(
        select(refresh_tokens.c.id)
        .where(
            refresh_tokens.c.user_id == bindparam("user_id"),
            refresh_tokens.c.expires_at <= bindparam("now"),
        )
        .with_for_update(skip_locked=True)
    )
)


class UsernameTaken(Exception):
    pass


async def insert_user(connection: Connection, username: str, password_hash: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    row = {
        "id": user_id,
        "username": username,
        "username_key": username.lower(),
        "password_hash": password_hash,
        "created_at": datetime.now(UTC),
    }
    try:
        await connection.execute(_INSERT_USER, row)
    except UniqueViolation as error:
        raise UsernameTaken(username) from error
    return user_id


async def find_login(connection: Connection, username: str) -> tuple[uuid.UUID, str] | None:
    """The id and password hash of the user with this name (any case), if there is one."""
    row = await connection.fetch_one(_FIND_LOGIN, {"name_key": username.lower()})
    return (row[0], row[1]) if row is not None else None


async def find_username_key(connection: Connection, user_id: uuid.UUID) -> str | None:
    """The lower-cased name of the user with this id, if the user still exists."""
    row = await connection.fetch_one(_USERNAME_KEY, {"user_id": user_id})
    return str(row[0]) if row is not None else None


async def update_password_hash(
    connection: Connection, user_id: uuid.UUID, password_hash: str
) -> None:
    await connection.execute(_SET_PASSWORD_HASH, {"user_id": user_id, "hash": password_hash})


async def delete_user(connection: Connection, user_id: uuid.UUID) -> bool:
    """Deletes the user; their collections and refresh tokens go with them (ON DELETE CASCADE)."""
    for lock in _LOCK_ACCOUNT:
        await connection.fetch(lock, {"user_id": user_id})
    return await connection.execute(_DELETE_USER, {"user_id": user_id}) > 0


async def insert_refresh_token(
    connection: Connection,
    *,
    token_hash: str,
    family_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
    expires_at: datetime,
) -> None:
    await connection.execute(
        _INSERT_REFRESH_TOKEN,
        {
            "id": uuid.uuid4(),
            "token_hash": token_hash,
            "family_id": family_id,
            "user_id": user_id,
            "created_at": now,
            "expires_at": expires_at,
            "used_at": None,
            "revoked_at": None,
        },
    )


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    user_id: uuid.UUID
    family_id: uuid.UUID
    expires_at: datetime
    used: bool
    revoked: bool


async def spend_refresh_token(connection: Connection, token_hash: str, now: datetime) -> bool:
    """Marks an unspent, unrevoked, unexpired token as used; True only for the caller that did."""
    return await connection.execute(_SPEND_REFRESH_TOKEN, {"hash": token_hash, "now": now}) == 1


async def find_refresh_token(connection: Connection, token_hash: str) -> RefreshTokenRecord | None:
    row = await connection.fetch_one(_FIND_REFRESH_TOKEN, {"hash": token_hash})
    if row is None:
        return None
    user_id, family_id, expires_at, used_at, revoked_at = row
    return RefreshTokenRecord(
        user_id, family_id, expires_at, used=used_at is not None, revoked=revoked_at is not None
    )


async def delete_expired_refresh_tokens(
    connection: Connection, user_id: uuid.UUID, now: datetime
) -> None:
    await connection.execute(_DELETE_EXPIRED, {"user_id": user_id, "now": now})


async def revoke_family(connection: Connection, family_id: uuid.UUID, now: datetime) -> None:
    """Every token of the family, including one a refresh running now is issuing."""
    await connection.fetch(_LOCK_FAMILY, {"family": family_id})
    await connection.execute(_REVOKE_FAMILY, {"family": family_id, "now": now})
