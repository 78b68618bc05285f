"""Access tokens: HS256 JWTs whose subject is the user's UUID; the algorithm is pinned on decode."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from movie_collections.config import Settings
from movie_collections.errors import Unauthorized

ALGORITHM = "HS256"
# Verified tokens remembered per process. At ~300 bytes each this is about 1 MB at most.
VERIFIED_TOKEN_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int


class TokenService:
    def __init__(self, settings: Settings) -> None:
        self._key = settings.signing_key
        self._ttl = int(settings.access_token_ttl.total_seconds())
        # token string -> (user id, exp). Decoding and checking an HS256 JWT costs ~30 us per
        # request; a repeat of the same token skips it. This cannot answer stale or foreign
        # data: the key never changes within a process, so a token string that verified once
        # verifies again with the same claims (the check is a pure function of the string),
        # the entry gives exactly the user id that token names, and `exp` is checked again on
        # every use below. Only tokens that verified are stored, so garbage cannot fill it.
        self._verified: dict[str, tuple[uuid.UUID, int]] = {}

    def issue(self, user_id: uuid.UUID) -> IssuedToken:
        now = int(time.time())
        claims = {"sub": str(user_id), "iat": now, "exp": now + self._ttl}
        return IssuedToken(jwt.encode(claims, self._key, algorithm=ALGORITHM), self._ttl)

    def user_id_from(self, token: str) -> uuid.UUID:
        """The user the token was issued to; Unauthorized for anything not valid and current."""
        cached = self._verified.get(token)
        if cached is not None:
            user_id, expires_at = cached
            # PyJWT's own rule: a token is expired once now >= exp.
            if time.time() < expires_at:
                return user_id
            del self._verified[token]
            raise Unauthorized("The access token has expired.")
        user_id, expires_at = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKEN_CACHE_SIZE:
            # Forget the oldest entry (dicts keep insertion order): a bounded, cheap LRU-ish.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (user_id, expires_at)
        return user_id

    def _verify(self, token: str) -> tuple[uuid.UUID, int]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "iat", "exp"]},
            )
            return uuid.UUID(claims["sub"]), int(claims["exp"])
        except jwt.ExpiredSignatureError as error:
            raise Unauthorized("The access token has expired.") from error
        except (jwt.InvalidTokenError, ValueError, TypeError) as error:
            raise Unauthorized("The access token is not valid.") from error
