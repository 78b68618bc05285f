"""One error hierarchy, and the handlers that turn every failure into RFC 9457 problem+json."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from movie_collections.core.database import DatabaseUnavailable
from movie_collections.core.logs import Throttled
from movie_collections.core.metrics import REFUSALS
from movie_collections.core.request_id import current_request_id

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """One bad field of a request that failed validation."""

    field: str = Field(examples=["body.title"], description="Where: location parts joined by dots.")
    message: str = Field(examples=["Field required"])
    type: str | None = Field(None, examples=["missing"], description="Pydantic's error type.")


class ProblemDetail(BaseModel):
    """RFC 9457 problem details, as every error of this API is answered."""

    type: str = Field("about:blank", examples=["about:blank"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["Collection not found."])
    request_id: str | None = Field(None, description="Quote it when reporting a problem.")
    errors: list[FieldError] | None = Field(
        None, description="For validation errors: one entry per bad field."
    )
    limit: str | None = Field(
        None,
        description="For an answer enforcing a limit (422, 429): its name in GET /limits/.",
        examples=["writes_per_user_per_minute"],
    )


class AppError(Exception):
    """Base of every error the service raises on purpose; carries its HTTP status."""

    status_code: int = HTTPStatus.INTERNAL_SERVER_ERROR
    title: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        limit: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.limit = limit


class BadRequest(AppError):
    status_code = HTTPStatus.BAD_REQUEST


class Unauthorized(AppError):
    status_code = HTTPStatus.UNAUTHORIZED

    def __init__(self, detail: str = "Missing or invalid access token.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class InvalidCredentials(Unauthorized):
    def __init__(self) -> None:
        super().__init__("Invalid username or password.")


class Forbidden(AppError):
    status_code = HTTPStatus.FORBIDDEN


class NotFound(AppError):
    status_code = HTTPStatus.NOT_FOUND


class Conflict(AppError):
    status_code = HTTPStatus.CONFLICT


class PreconditionFailed(AppError):
    status_code = HTTPStatus.PRECONDITION_FAILED


class PayloadTooLarge(AppError):
    status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class Unprocessable(AppError):
    status_code = HTTPStatus.UNPROCESSABLE_ENTITY


class TooManyRequests(AppError):
    """A rate limit or budget refused the request; `limit` names it in the refusals metric."""

    status_code = HTTPStatus.TOO_MANY_REQUESTS


class ServiceUnavailable(AppError):
    status_code = HTTPStatus.SERVICE_UNAVAILABLE


class BadGateway(AppError):
    status_code = HTTPStatus.BAD_GATEWAY


class GatewayTimeout(AppError):
    status_code = HTTPStatus.GATEWAY_TIMEOUT


class UpstreamUnavailable(BadGateway):
    """The movie catalogue could not be reached or kept failing."""

    title = "Upstream Unavailable"


class UpstreamBadAnswer(BadGateway):
    """The movie catalogue answered with something that is not its documented JSON."""

    title = "Bad Upstream Answer"


class UpstreamCredentialsRefused(BadGateway):
    """The movie catalogue refused our credentials (its 401/403): an operator must act."""

    title = "Upstream Credentials Refused"


class UpstreamTimeout(GatewayTimeout):
    """The movie catalogue did not answer within the deadline."""

    title = "Upstream Timeout"


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    limit: str | None = None,
) -> JSONResponse:
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        # Every 429 is made here, so every rate limit and budget is counted, by its name.
        REFUSALS.labels(limit or "unnamed").inc()
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "request_id": current_request_id(),
    }
    if errors is not None:
        body["errors"] = list(errors)
    if limit is not None:
        body["limit"] = limit
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


# The OpenAPI of error answers: every one is a ProblemDetail under problem+json (the schema
# is registered by core/openapi.py), with the headers that status carries.
PROBLEM_SCHEMA_REF = "#/components/schemas/ProblemDetail"
RETRY_AFTER = {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
_PROBLEM_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}}},
    409: {
        "Retry-After": {
            **RETRY_AFTER,
            "description": "When the conflict is a request still "
            "in flight: seconds to wait before retrying.",
        }
    },
    429: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
}
_PROBLEM_DESCRIPTIONS = {
    400: "The body is not JSON, or a header is malformed.",
    401: "The access token (or the credentials) is missing, expired or invalid.",
    404: "Not found; an id that is not a UUID, or another user's, is not found either.",
    409: "Conflict with the current state.",
    412: "A precondition (If-Match) does not hold.",
    413: "The request body is larger than MAX_BODY_BYTES.",
    422: "The request is not valid; `errors` names each bad field.",
    429: "Too many attempts; retry after `Retry-After` seconds.",
    502: "The movie catalogue failed on every attempt, or refused our credentials.",
    503: "A store (the database, or Redis) is unavailable, or the server is at its concurrency "
    "limit; retry after `Retry-After` seconds.",
    504: "The movie catalogue did not answer within the deadline.",
}
UNEXPECTED_ERROR_DESCRIPTION = "An unexpected error, with a request id to quote."
AT_CAPACITY_DESCRIPTION = (
    "The server is at its concurrency limit; retry after `Retry-After` seconds."
)


def problem_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` of an operation's problem+json answers: the statuses it gives, and
    those possible anywhere: 500 (an unexpected error), 503 (HTTP_MAX_CONCURRENT_REQUESTS)."""
    descriptions = {**_PROBLEM_DESCRIPTIONS, **(descriptions or {})}
    responses: dict[int | str, dict[str, Any]] = {
        status: _problem_response(
            descriptions.get(status, HTTPStatus(status).phrase), _PROBLEM_HEADERS.get(status)
        )
        for status in statuses
    }
    responses[500] = _problem_response(UNEXPECTED_ERROR_DESCRIPTION, None)
    if 503 not in responses:
        responses[503] = _problem_response(AT_CAPACITY_DESCRIPTION, _PROBLEM_HEADERS[503])
    return responses


def _problem_response(description: str, headers: dict[str, Any] | None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
    }
    if headers:
        response["headers"] = dict(headers)
    return response


def app_error_response(error: AppError) -> JSONResponse:
    return problem_response(
        error.status_code,
        error.detail,
        title=error.title,
        headers=error.headers,
        limit=error.limit,
    )


async def _app_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AppError)
    return app_error_response(error)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    headers = error.headers
    if error.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return problem_response(error.status_code, str(error.detail), headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route of this path answers. Starlette's 405 names only the methods
    of the first route whose path matched (GET for /collection/, which POST serves too), so
    each method is tried against the routes through their public `matches`."""
    allowed = set()
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.add(method)
    if "GET" in allowed:
        allowed.add("HEAD")  # core/middleware.py HeadMiddleware
    return ", ".join(sorted(allowed))


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _describe_validation_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per bad field. A value refused by both branches of `X | None` is reported as
    X refused it (`body.title`), without the branches' names or "Input should be None"."""
    optional = {
        tuple(error["loc"][:-1])
        for error in errors
        if error.get("type") == "none_required" and error.get("loc", ())[-1:] == ("none",)
    }
    described = []
    for error in errors:
        location = tuple(error.get("loc", ()))
        branch = next((len(p) for p in optional if location[: len(p)] == p != location), None)
        if branch is not None:
            if error.get("type") == "none_required" and location[branch:] == ("none",):
                continue
            location = location[:branch] + location[branch + 1 :]
        field = ".".join(str(part) for part in location)
        described.append(
            {"field": field, "message": error.get("msg", ""), "type": error.get("type")}
        )
    return described


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = _describe_validation_errors(error.errors())
    if any(item["type"] == "json_invalid" for item in details):
        return problem_response(
            HTTPStatus.BAD_REQUEST, "The request body is not valid JSON.", errors=details
        )
    return problem_response(
        HTTPStatus.UNPROCESSABLE_ENTITY, "The request is not valid.", errors=details
    )


_UNAVAILABLE_LOG = Throttled(logger, seconds=5)


async def _database_unavailable(_request: Request, error: Exception) -> JSONResponse:
    _UNAVAILABLE_LOG.error("database unavailable: %s", error)
    return problem_response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "The database is unavailable; try again shortly.",
        headers={"Retry-After": "1"},
    )


def unexpected_error_response(error: BaseException) -> JSONResponse:
    logger.error("unhandled error (request id %s)", current_request_id(), exc_info=error)
    return problem_response(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "An unexpected error occurred; quote the request id when reporting it.",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # The executor classifies driver errors by type (core/database.py).
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    # Anything else is caught by UnhandledErrorMiddleware, which (unlike Starlette's
    # ServerErrorMiddleware) answers without re-raising into the server.
