"""SQL for users."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from movie_collections.auth.models import User

users = cast(Table, User.__table__)


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
