"""New passwords as NIST SP 800-63B asks: 8+ characters, not common, not derived from the
username or the service's name, judged by zxcvbn's guess estimate; the refusal says why."""

from __future__ import annotations

import re

import anyio.to_thread
from zxcvbn import zxcvbn

from movie_collections.core.errors import Unprocessable

# zxcvbn's cost grows faster than the length; a password whose first 32 characters are strong
# is strong (judging fewer only ever refuses more).
JUDGED_CHARS = 32
SERVICE_WORDS = ("movie", "movies", "collection", "collections", "movie-collections")
TOO_WEAK = "This password is too easy to guess."
DERIVED = "Most of it is your username or this service's name."


def _shortcomings(password: str, known: list[str], min_score: int) -> list[str] | None:
    """zxcvbn's warning and suggestions when the password scores below `min_score`."""
    if not password:  # zxcvbn cannot judge nothing: nothing is weak
        return []
    verdict = zxcvbn(password, user_inputs=known)
    if verdict["score"] >= min_score:
        return None
    feedback = verdict["feedback"]
    return [reason for reason in (feedback["warning"], *feedback["suggestions"]) if reason]


def weakness(password: str, username: str, min_score: int) -> str | None:
    """Why the password is too weak, in plain words; None when it is strong enough.

    What is left once the username and the service's name are taken out must be strong too
    (zxcvbn alone rates "MovieCollections2024" hard to guess)."""
    known = sorted({username, *SERVICE_WORDS}, key=len, reverse=True)
    judged = password[:JUDGED_CHARS]
    shortcomings = _shortcomings(judged, known, min_score)
    if shortcomings is None:
        rest = re.sub("|".join(map(re.escape, known)), "", judged, flags=re.IGNORECASE)
        if rest == judged:
            return None
        shortcomings = _shortcomings(rest, known, min_score)
        if shortcomings is None:
            return None
        shortcomings = [DERIVED, *shortcomings]
    return " ".join([TOO_WEAK, *shortcomings])


async def check_new_password(password: str, username: str, min_score: int) -> None:
    """422 naming the reason when the password is too weak (zxcvbn runs in a thread)."""
    reason = await anyio.to_thread.run_sync(weakness, password, username, min_score)
    if reason is not None:
        raise Unprocessable(reason, limit="password_min_score")
