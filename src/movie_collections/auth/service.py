"""Registration, login, refresh-token rotation, logout and account deletion.

Unlike the other services these open their own short transactions: an Argon2 hash takes tens
of milliseconds and must not be computed while a pooled connection (or SQLite's write lock)
is held.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from movie_collections.auth import repository
from movie_collections.auth.passwords import PasswordHashing
from movie_collections.auth.schemas import Credentials, TokenPair
from movie_collections.auth.tokens import TokenService
from movie_collections.core.database import Connection, Database, ForeignKeyViolation
from movie_collections.core.errors import Conflict, InvalidCredentials, Unauthorized

logger = logging.getLogger(__name__)

INVALID_REFRESH_TOKEN = "The refresh token is not valid; log in again."  # noqa: S105


def hash_refresh_token(token: str) -> str:
    """Refresh tokens are 256 random bits: a plain SHA-256 is enough to make a stolen table
    useless (no salt or slow hash is needed for values that cannot be guessed)."""
    return hashlib.sha256(token.encode()).hexdigest()


async def register(
    database: Database,
    passwords: PasswordHashing,
    tokens: TokenService,
    refresh_ttl: timedelta,
    credentials: Credentials,
) -> TokenPair:
    password_hash = await passwords.hash(credentials.password)
    try:
        async with database.transaction(write=True) as connection:
            user_id = await repository.insert_user(connection, credentials.username, password_hash)
            refresh_token = await _new_refresh_token(
                connection, user_id, uuid.uuid4(), refresh_ttl, datetime.now(UTC)
            )
    except repository.UsernameTaken as error:
        raise Conflict("That username is already taken.") from error
    return _pair(tokens, user_id, refresh_token, refresh_ttl)


async def login(
    database: Database,
    passwords: PasswordHashing,
    tokens: TokenService,
    refresh_ttl: timedelta,
    credentials: Credentials,
) -> TokenPair:
    async with database.transaction() as connection:
        found = await repository.find_login(connection, credentials.username)
    stored_hash = found[1] if found is not None else None
    # Verified even for an unknown user (against a decoy) so timing does not reveal names.
    if not await passwords.verify(stored_hash, credentials.password) or found is None:
        raise InvalidCredentials()
    user_id, password_hash = found
    new_hash = None
    if passwords.needs_rehash(password_hash):
        # The Argon2 parameters changed since this hash was made: upgrade it now that the
        # password is known.
        new_hash = await passwords.hash(credentials.password)
    try:
        async with database.transaction(write=True) as connection:
            if new_hash is not None:
                await repository.update_password_hash(connection, user_id, new_hash)
            refresh_token = await _new_refresh_token(
                connection, user_id, uuid.uuid4(), refresh_ttl, datetime.now(UTC)
            )
    except ForeignKeyViolation as error:  # the account was deleted since it was read
        raise InvalidCredentials() from error
    return _pair(tokens, user_id, refresh_token, refresh_ttl)


async def refresh(
    database: Database, tokens: TokenService, refresh_ttl: timedelta, refresh_token: str
) -> TokenPair:
    """Spends the refresh token and returns a new pair in the same family.

    A token that was already spent is a theft signal (either the thief or the owner used it
    first): the whole family is revoked, so both lose it and the owner must log in again.
    """
    token_hash = hash_refresh_token(refresh_token)
    if not await _issued(database, token_hash):
        raise Unauthorized(INVALID_REFRESH_TOKEN)
    now = datetime.now(UTC)
    new_token: str | None = None
    async with database.transaction(write=True) as connection:
        spent = await repository.spend_refresh_token(connection, token_hash, now)
        record = await repository.find_refresh_token(connection, token_hash)
        if spent and record is not None:
            new_token = await _new_refresh_token(
                connection, record.user_id, record.family_id, refresh_ttl, now
            )
    if record is not None and new_token is None and record.used:
        # In a transaction of its own: a spend that waited for another's keeps the token's
        # row locked (PostgreSQL), and the family must be locked in id order from nothing.
        async with database.transaction(write=True) as connection:
            await repository.revoke_family(connection, record.family_id, now)
        # Logged without the token; the family id is enough to investigate.
        logger.warning("refresh token reused: family %s revoked", record.family_id)
    if record is None or new_token is None:
        raise Unauthorized(INVALID_REFRESH_TOKEN)
    return _pair(tokens, record.user_id, new_token, refresh_ttl)


async def logout(database: Database, refresh_token: str) -> None:
    """Revokes the token's whole family. An unknown token is not an error: the outcome the
    client wants (that token no longer works) already holds, and the answer reveals nothing."""
    token_hash = hash_refresh_token(refresh_token)
    if not await _issued(database, token_hash):
        return
    async with database.transaction(write=True) as connection:
        record = await repository.find_refresh_token(connection, token_hash)
        if record is not None:
            await repository.revoke_family(connection, record.family_id, datetime.now(UTC))


async def _issued(database: Database, token_hash: str) -> bool:
    """Whether this refresh token was ever issued, read without the write lock: tokens made up
    by anyone (no authentication is needed to send one) never queue among the writers."""
    async with database.connection() as connection:
        return await repository.find_refresh_token(connection, token_hash) is not None


async def delete_account(database: Database, user_id: uuid.UUID) -> None:
    async with database.transaction(write=True) as connection:
        deleted = await repository.delete_user(connection, user_id)
    if not deleted:
        raise Unauthorized("The user of this access token no longer exists.")


async def _new_refresh_token(
    connection: Connection,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    refresh_ttl: timedelta,
    now: datetime,
) -> str:
    """`now`: a refresh's spend time, so a token it found unexpired is not deleted as expired."""
    token = secrets.token_urlsafe(32)
    await repository.insert_refresh_token(
        connection,
        token_hash=hash_refresh_token(token),
        family_id=family_id,
        user_id=user_id,
        now=now,
        expires_at=now + refresh_ttl,
    )
    # Else every login and refresh would leave a row behind for good.
    await repository.delete_expired_refresh_tokens(connection, user_id, now)
    return token


def _pair(
    tokens: TokenService, user_id: uuid.UUID, refresh_token: str, refresh_ttl: timedelta
) -> TokenPair:
    issued = tokens.issue(user_id)
    return TokenPair(
        access_token=issued.token,
        expires_in=issued.expires_in,
        refresh_token=refresh_token,
        refresh_expires_in=int(refresh_ttl.total_seconds()),
    )
