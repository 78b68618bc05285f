"""Dependencies that resolve the caller and spend one request of a per-user budget."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from movie_collections.auth.dependencies import CurrentUserId
from movie_collections.container import get_container
from movie_collections.ratelimit.budgets import Budget


async def _writer(request: Request, user_id: CurrentUserId) -> uuid.UUID:
    await get_container(request).user_budgets.spend(Budget.WRITES, user_id)
    return user_id


async def _movies_reader(request: Request, user_id: CurrentUserId) -> uuid.UUID:
    await get_container(request).user_budgets.spend(Budget.MOVIES, user_id)
    return user_id


# Resolved before the body is validated: a user over budget costs no validation or SQL.
WritingUserId = Annotated[uuid.UUID, Depends(_writer)]
MoviesUserId = Annotated[uuid.UUID, Depends(_movies_reader)]
