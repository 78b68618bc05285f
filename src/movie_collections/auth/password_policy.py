"""New passwords as NIST SP 800-63B asks: 8+ characters, not common, not derived from the
username or the service's name, judged by zxcvbn's guess estimate; the refusal says why."""

from __future__ import annotations

import anyio.to_thread
from zxcvbn import zxcvbn

from movie_collections.core.errors import Unprocessable

# zxcvbn's cost grows faster than the length; a password whose first 32 characters are strong
# is strong (judging fewer only ever refuses more).
JUDGED_CHARS = 32
SERVICE_WORDS = ("movie", "movies", "collection", "collections", "movie-collections")
TOO_WEAK = "This password is too easy to guess."


def weakness(password: str, username: str, min_score: int) -> str | None:
    """Why the password is too weak, in plain words; None when it is strong enough."""
    verdict = zxcvbn(password[:JUDGED_CHARS], user_inputs=[username, *SERVICE_WORDS])
    if verdict["score"] >= min_score:
        return None
    feedback = verdict["feedback"]
    reasons = [feedback["warning"], *feedback["suggestions"]]
    return " ".join([TOO_WEAK, *(reason for reason in reasons if reason)])


async def check_new_password(password: str, username: str, min_score: int) -> None:
    """422 naming the reason when the password is too weak (zxcvbn runs in a thread)."""
    reason = await anyio.to_thread.run_sync(weakness, password, username, min_score)
    if reason is not None:
        raise Unprocessable(reason, limit="password_min_score")
