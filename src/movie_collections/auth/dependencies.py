"""The bearer-token dependency every protected endpoint uses."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from movie_collections.container import get_container
from movie_collections.core.errors import Unauthorized

AUTHENTICATION_REQUIRED = "Authentication required: send `Authorization: Bearer <token>`."


class BearerUser(HTTPBearer):
    """The HTTP bearer security scheme (as documented in OpenAPI), resolved straight to the
    caller's user id: checked from the token's signature alone, no database round trip."""

    async def __call__(self, request: Request) -> uuid.UUID:  # type: ignore[override]
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(AUTHENTICATION_REQUIRED)
        return get_container(request).tokens.user_id_from(token)


bearer_user = BearerUser(
    auto_error=False,
    description="The access token from `POST /register/` or `POST /login/`.",
)
CurrentUserId = Annotated[uuid.UUID, Depends(bearer_user)]
