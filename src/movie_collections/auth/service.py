"""Registration and login rules.

Unlike the other services these open their own short transactions: an Argon2 hash takes tens
of milliseconds and must not be computed while a pooled connection (or SQLite's write lock)
is held.
"""

from __future__ import annotations

from movie_collections.auth import repository
from movie_collections.auth.passwords import PasswordHashing
from movie_collections.auth.schemas import AccessToken, Credentials
from movie_collections.auth.tokens import TokenService
from movie_collections.db import Database
from movie_collections.errors import Conflict, InvalidCredentials


async def register(
    database: Database, passwords: PasswordHashing, tokens: TokenService, credentials: Credentials
) -> AccessToken:
    password_hash = await passwords.hash(credentials.password)
    try:
        async with database.transaction(write=True) as connection:
            user_id = await repository.insert_user(connection, credentials.username, password_hash)
    except repository.UsernameTaken as error:
        raise Conflict("That username is already taken.") from error
    issued = tokens.issue(user_id)
    return AccessToken(access_token=issued.token, expires_in=issued.expires_in)


async def login(
    database: Database, passwords: PasswordHashing, tokens: TokenService, credentials: Credentials
) -> AccessToken:
    async with database.transaction() as connection:
        found = await repository.find_login(connection, credentials.username)
    stored_hash = found[1] if found is not None else None
    # Verified even for an unknown user (against a decoy) so timing does not reveal names.
    if not await passwords.verify(stored_hash, credentials.password) or found is None:
        raise InvalidCredentials()
    user_id, password_hash = found
    if passwords.needs_rehash(password_hash):
        new_hash = await passwords.hash(credentials.password)
        async with database.transaction(write=True) as connection:
            await repository.update_password_hash(connection, user_id, new_hash)
    issued = tokens.issue(user_id)
    return AccessToken(access_token=issued.token, expires_in=issued.expires_in)
