"""POST /register/, /login/, /token/refresh/, /logout/ and DELETE /me/."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from movie_collections.auth import service
from movie_collections.auth.dependencies import CurrentUserId
from movie_collections.auth.password_policy import check_new_password
from movie_collections.auth.schemas import Credentials, CurrentUser, RefreshRequest, TokenPair
from movie_collections.container import get_container
from movie_collections.core.errors import InvalidCredentials, problem_responses
from movie_collections.core.openapi import operation_id

router = APIRouter(tags=["auth"], generate_unique_id_function=operation_id)

REFRESH_OPERATION = "refreshToken"
LOGOUT_OPERATION = "logout"
# OpenAPI links: a client (or a stateful fuzzer) can follow a token pair to its next uses.
TOKEN_PAIR_LINKS = {
    "Refresh": {
        "operationId": REFRESH_OPERATION,
        "requestBody": {"refresh_token": "$response.body#/refresh_token"},
        "description": "Exchange the refresh token for a new pair.",
    },
    "Logout": {
        "operationId": LOGOUT_OPERATION,
        "requestBody": {"refresh_token": "$response.body#/refresh_token"},
        "description": "Revoke the refresh token's family.",
    },
}


def _with_links(
    status_code: int, *problem_statuses: int, descriptions: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    problems = problem_responses(*problem_statuses, descriptions=descriptions)
    return {status_code: {"links": TOKEN_PAIR_LINKS}, **problems}


def client_address(request: Request) -> str:
    """The peer's address as the server saw it (rewritten from X-Forwarded-For only for the
    proxies of FORWARDED_ALLOW_IPS, empty by default, so a client cannot pick its own)."""
    return request.client.host if request.client is not None else "unknown"


@router.post(
    "/register/",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenPair,
    responses=_with_links(
        201, 400, 409, 413, 422, 429, 503, descriptions={409: "That username is taken."}
    ),
    summary="Register a user and get an access token and a refresh token",
    description="The password needs 8+ characters and must not be easy to guess (common, "
    "or made from the username): a refusal (422) says why.",
)
async def register(credentials: Credentials, request: Request) -> TokenPair:
    """Creates the user (usernames are unique ignoring case) and logs them in: the access
    token authorises every other endpoint as `Authorization: Bearer <access_token>`."""
    # Before the hash: a client over its limit costs no Argon2 work.
    container = get_container(request)
    await container.auth_rate_limiter.check(
        "register", credentials.username, client_address(request)
    )
    await check_new_password(
        credentials.password, credentials.username, container.settings.password_min_score
    )
    return await service.register(
        container.database,
        container.passwords,
        container.tokens,
        container.settings.refresh_token_ttl,
        credentials,
    )


@router.post(
    "/login/",
    response_model=TokenPair,
    responses=_with_links(200, 400, 401, 413, 422, 429, 503),
    summary="Get a new access token and refresh token for an existing user",
)
async def login(credentials: Credentials, request: Request) -> TokenPair:
    """Checks the username and password (401 if either is wrong, without saying which) and
    answers a new token pair."""
    container = get_container(request)
    limiter = container.auth_rate_limiter
    attempt = await limiter.check("login", credentials.username, client_address(request))
    failed = False
    try:
        return await service.login(
            container.database,
            container.passwords,
            container.tokens,
            container.settings.refresh_token_ttl,
            credentials,
        )
    except InvalidCredentials:
        failed = True
        raise
    finally:
        if not failed:  # a success, or no answer (503): no guess was made
            await limiter.release(attempt)


@router.get(
    "/me/",
    response_model=CurrentUser,
    operation_id="getCurrentUser",
    responses=problem_responses(401),
    summary="Who the access token belongs to (checked from its signature, no database)",
)
async def me(user_id: CurrentUserId) -> CurrentUser:
    """The user id the access token names; the cheapest authenticated call."""
    return CurrentUser(user_id=user_id)


@router.post(
    "/token/refresh/",
    operation_id=REFRESH_OPERATION,
    response_model=TokenPair,
    responses=_with_links(200, 400, 401, 413, 422, 503),
    summary="Exchange a refresh token (single use) for a new access and refresh token",
    description="A refresh token works once. Presenting one that was already used revokes "
    "every refresh token of its login (the owner must log in again): it means someone else "
    "has a copy.",
)
async def refresh_token(payload: RefreshRequest, request: Request) -> TokenPair:
    container = get_container(request)
    return await service.refresh(
        container.database,
        container.tokens,
        container.settings.refresh_token_ttl,
        payload.refresh_token,
    )


@router.post(
    "/logout/",
    operation_id=LOGOUT_OPERATION,
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(400, 413, 422, 503),
    summary="Revoke a refresh token and every token rotated from the same login",
    description="Always 204 for a well-formed body, whether or not the token was known. "
    "Access tokens already issued stay valid until they expire (ACCESS_TOKEN_TTL).",
)
async def logout(payload: RefreshRequest, request: Request) -> Response:
    container = get_container(request)
    await service.logout(container.database, payload.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/me/",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="deleteAccount",
    responses=problem_responses(401, 503),
    summary="Delete my account, my collections and my refresh tokens",
)
async def delete_me(user_id: CurrentUserId, request: Request) -> Response:
    """Deletes the user with their collections (204); their refresh tokens stop working."""
    container = get_container(request)
    await service.delete_account(container.database, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
