"""The bearer-token dependency every protected endpoint uses."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from movie_collections.auth.repository import find_username_key
from movie_collections.container import get_container
from movie_collections.core.errors import Forbidden, Unauthorized

AUTHENTICATION_REQUIRED = "Authentication required: send `Authorization: Bearer <token>`."


class BearerUser(HTTPBearer):
    """The HTTP bearer security scheme (as documented in OpenAPI), resolved straight to the
    caller's user id: checked from the token's signature alone, no database round trip."""

    async def __call__(self, request: Request) -> uuid.UUID:  # type: ignore[override]
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip(" \t")  # `Bearer 1*SP token` (RFC 6750), the field's OWS (RFC 9110)
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(AUTHENTICATION_REQUIRED)
        return get_container(request).tokens.user_id_from(token)


bearer_user = BearerUser(
    auto_error=False,
    description="The access token from `POST /register/` or `POST /login/`.",
)
CurrentUserId = Annotated[uuid.UUID, Depends(bearer_user)]


async def operator_user(request: Request, user_id: CurrentUserId) -> uuid.UUID:
    """The caller, if OPERATOR_USERNAMES names them (or is empty: every user is then one)."""
    container = get_container(request)
    operators = container.settings.operator_username_keys
    if operators is None:
        return user_id
    async with container.database.connection() as connection:
        name_key = await find_username_key(connection, user_id)
    if name_key is None:
        raise Unauthorized()  # the token outlived its user (DELETE /me/)
    if name_key not in operators:
        raise Forbidden("Only operators (OPERATOR_USERNAMES) may do this.")
    return user_id


CurrentOperatorId = Annotated[uuid.UUID, Depends(operator_user)]
