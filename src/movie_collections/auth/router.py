"""POST /register/ and POST /login/."""

from __future__ import annotations

from fastapi import APIRouter, status

from movie_collections.auth import service
from movie_collections.auth.dependencies import CurrentUserId
from movie_collections.auth.schemas import AccessToken, Credentials, CurrentUser
from movie_collections.container import ContainerDependency
from movie_collections.errors import problem_responses

router = APIRouter(tags=["auth"])


@router.post(
    "/register/",
    status_code=status.HTTP_201_CREATED,
    response_model=AccessToken,
    responses=problem_responses(400, 409, 413, 422),
    summary="Register a user and get an access token",
)
async def register(credentials: Credentials, container: ContainerDependency) -> AccessToken:
    return await service.register(
        container.database, container.passwords, container.tokens, credentials
    )


@router.post(
    "/login/",
    response_model=AccessToken,
    responses=problem_responses(400, 401, 413, 422),
    summary="Get a new access token for an existing user",
)
async def login(credentials: Credentials, container: ContainerDependency) -> AccessToken:
    return await service.login(
        container.database, container.passwords, container.tokens, credentials
    )


@router.get(
    "/me/",
    response_model=CurrentUser,
    responses=problem_responses(401),
    summary="Who the access token belongs to (checked from its signature, no database)",
)
async def me(user_id: CurrentUserId) -> CurrentUser:
    return CurrentUser(user_id=user_id)
