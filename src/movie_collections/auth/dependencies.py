"""The bearer-token dependency every protected endpoint uses."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from movie_collections.container import get_container
from movie_collections.core.errors import Unauthorized

AUTHENTICATION_REQUIRED = "Authentication required: send `Authorization: Bearer <token>`."

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="The access token from `POST /register/` or `POST /login/`.",
)


async def current_user_id(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> uuid.UUID:
    """The authenticated user's id. Checked from the signature alone: no database round trip.

    `async def` although it never awaits: a plain `def` dependency would run in the thread pool.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(AUTHENTICATION_REQUIRED)
    return get_container(request).tokens.user_id_from(credentials.credentials)


CurrentUserId = Annotated[uuid.UUID, Depends(current_user_id)]
