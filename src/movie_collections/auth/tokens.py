"""Access tokens: HS256 JWTs whose subject is the user's UUID; the algorithm is pinned on decode."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from movie_collections.config import Settings
from movie_collections.errors import Unauthorized

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int


class TokenService:
    def __init__(self, settings: Settings) -> None:
        self._key = settings.signing_key
        self._ttl = int(settings.access_token_ttl.total_seconds())

    def issue(self, user_id: uuid.UUID) -> IssuedToken:
        now = int(time.time())
        claims = {"sub": str(user_id), "iat": now, "exp": now + self._ttl}
        return IssuedToken(jwt.encode(claims, self._key, algorithm=ALGORITHM), self._ttl)

    def user_id_from(self, token: str) -> uuid.UUID:
        """The user the token was issued to; Unauthorized for anything not valid and current."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "iat", "exp"]},
            )
            return uuid.UUID(claims["sub"])
        except jwt.ExpiredSignatureError as error:
            raise Unauthorized("The access token has expired.") from error
        except (jwt.InvalidTokenError, ValueError, TypeError) as error:
            raise Unauthorized("The access token is not valid.") from error
