"""Access tokens: HS256 JWTs with a key id, checked from the signature and claims alone.

The header's `kid` names the key that signed the token, so during a key rotation tokens
signed with a previous key (PREVIOUS_SECRET_KEYS) still verify while new ones are signed with
SECRET_KEY. The algorithm is pinned on decode: `alg=none` or any other algorithm is refused.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from movie_collections.core.errors import Unauthorized
from movie_collections.core.settings import Settings

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "iat", "nbf", "exp", "jti", "iss", "aud"]
# Clock skew tolerated between hosts for `nbf`/`exp`/`iat`.
LEEWAY_SECONDS = 5
# Verified tokens remembered per process (a client sends the same token many times).
VERIFIED_CACHE_SIZE = 10_000


def key_id(key: str) -> str:
    """A public, stable name for a key: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int


class TokenService:
    """Issues and verifies access tokens.

    A successful verification is remembered (token string -> user id and expiry), so a token
    seen before costs a dict lookup and an expiry check instead of an HMAC and claim checks.
    That is exact: the outcome for a given string depends only on the keys, fixed for the
    life of the process, and on the clock, and only `exp` can turn a valid token invalid
    later, which is re-checked on every use. Failures are not remembered.
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._verified: dict[str, tuple[uuid.UUID, float]] = {}
        self._key = settings.signing_key
        self._key_id = key_id(self._key)
        # Every key that may verify, by id; the current key wins a (2^-32) id collision.
        self._verification_keys = {key_id(key): key for key in settings.previous_signing_keys}
        self._verification_keys[self._key_id] = self._key
        self._ttl = int(settings.access_token_ttl.total_seconds())
        self._issuer = settings.token_issuer
        self._audience = settings.token_audience

    @property
    def ttl(self) -> int:
        return self._ttl

    def issue(self, user_id: uuid.UUID) -> IssuedToken:
        now = int(self._clock())
        claims = {
            "sub": str(user_id),
            "iat": now,
            "nbf": now,
            "exp": now + self._ttl,
            "jti": secrets.token_urlsafe(16),
            "iss": self._issuer,
            "aud": self._audience,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._key_id})
        return IssuedToken(token, self._ttl)

    def user_id_from(self, token: str) -> uuid.UUID:
        """The user the token was issued to; Unauthorized for anything not valid and current."""
        remembered = self._verified.get(token)
        if remembered is not None:
            user_id, expires_at = remembered
            if self._clock() < expires_at + LEEWAY_SECONDS:
                return user_id
            del self._verified[token]
            raise Unauthorized("The access token has expired.")
        user_id, expires_at = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()  # crude but O(1) amortised; misses only cost a verification
        self._verified[token] = (user_id, expires_at)
        return user_id

    def _verify(self, token: str) -> tuple[uuid.UUID, float]:
        try:
            header = jwt.get_unverified_header(token)
            key = self._verification_keys.get(str(header.get("kid", "")))
            if key is None:
                raise Unauthorized("The access token was not signed with a known key.")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
            return uuid.UUID(claims["sub"]), float(claims["exp"])
        except jwt.ExpiredSignatureError as error:
            raise Unauthorized("The access token has expired.") from error
        except (jwt.InvalidTokenError, ValueError, TypeError, AttributeError) as error:
            raise Unauthorized("The access token is not valid.") from error
