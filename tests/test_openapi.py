"""The OpenAPI contract a client generator relies on, checked on every operation (present and
future): stable camelCase ids, a summary and description, errors as problem+json only, and the
statuses and headers the service really answers."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from movie_collections.core.errors import ProblemDetail
from tests.conftest import sqlite_copy

PROBLEM = "application/problem+json"
PROBLEM_SCHEMA = {"$ref": "#/components/schemas/ProblemDetail"}
COLLECTION = "/collection/{collection_uuid}/"
MOVIE = "/collection/{collection_uuid}/movies/{movie_uuid}/"

# Generated clients name their methods after these: changing one breaks every client.
OPERATION_IDS = {
    ("post", "/register/"): "register",
    ("post", "/login/"): "login",
    ("post", "/token/refresh/"): "refreshToken",
    ("post", "/logout/"): "logout",
    ("get", "/me/"): "getCurrentUser",
    ("delete", "/me/"): "deleteAccount",
    ("get", "/limits/"): "getLimits",
    ("get", "/movies/"): "listMovies",
    ("get", "/collection/"): "listCollections",
    ("post", "/collection/"): "createCollection",
    ("get", COLLECTION): "getCollection",
    ("put", COLLECTION): "updateCollection",
    ("delete", COLLECTION): "deleteCollection",
    ("post", "/collection/{collection_uuid}/movies/"): "addMovies",
    ("delete", MOVIE): "removeMovie",
    ("get", "/request-count/"): "getRequestCount",
    ("post", "/request-count/reset/"): "resetRequestCount",
    ("get", "/health/live"): "getLiveness",
    ("get", "/health/ready"): "getReadiness",
}
CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z0-9]*$")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """The contract does not depend on the database: SQLite only."""
    return sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture
async def schema(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_every_operation_has_a_camel_case_unique_id_a_summary_and_a_description(
    schema: dict[str, Any],
) -> None:
    seen: set[str] = set()
    for method, path, operation in operations(schema):
        where = f"{method.upper()} {path}"
        operation_id = operation.get("operationId", "")
        assert CAMEL_CASE.match(operation_id), f"{where}: operationId {operation_id!r}"
        assert operation_id not in seen, f"{where}: operationId {operation_id} used twice"
        seen.add(operation_id)
        assert operation.get("summary", "").strip(), f"{where}: no summary"
        assert operation.get("description", "").strip(), f"{where}: no description"


def test_operation_ids_are_stable(schema: dict[str, Any]) -> None:
    found = {(method, path): op["operationId"] for method, path, op in operations(schema)}
    assert {key: found.get(key) for key in OPERATION_IDS} == OPERATION_IDS


def test_every_error_response_is_problem_json_and_nothing_else(schema: dict[str, Any]) -> None:
    for method, path, operation in operations(schema):
        responses = operation["responses"]
        assert "500" in responses, f"{method.upper()} {path}: no 500 response"
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"] == {PROBLEM: {"schema": PROBLEM_SCHEMA}}, (
                    f"{method.upper()} {path} {status}: {response.get('content')}"
                )
    # FastAPI's own 422 (HTTPValidationError under application/json) is documented nowhere.
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_the_problem_schema_is_a_component(schema: dict[str, Any]) -> None:
    problem = schema["components"]["schemas"]["ProblemDetail"]
    assert set(problem["required"]) == {"title", "status", "detail"}
    assert set(problem["properties"]) >= {"type", "title", "status", "detail", "request_id"}
    items = problem["properties"]["errors"]["anyOf"][0]["items"]
    assert items == {"$ref": "#/components/schemas/FieldError"}
    assert "FieldError" in schema["components"]["schemas"]


def headers_of(schema: dict[str, Any], method: str, path: str, status: str) -> set[str]:
    return set(schema["paths"][path][method]["responses"][status].get("headers", {}))


def test_status_headers_are_documented(schema: dict[str, Any]) -> None:
    for path in ("/register/", "/login/"):
        assert "Retry-After" in headers_of(schema, "post", path, "429")
    for method, path in [("get", "/request-count/"), ("post", "/collection/"), ("get", COLLECTION)]:
        assert "Retry-After" in headers_of(schema, method, path, "503")
    assert "Retry-After" in headers_of(schema, "post", "/collection/", "409")
    assert "WWW-Authenticate" in headers_of(schema, "get", "/collection/", "401")
    assert "Idempotent-Replayed" in headers_of(schema, "post", "/collection/", "201")
    assert "ETag" in headers_of(schema, "get", COLLECTION, "304")
    assert "ETag" in headers_of(schema, "get", COLLECTION, "200")
    for method, path in [("put", COLLECTION), ("delete", COLLECTION), ("delete", MOVIE)]:
        assert "ETag" in headers_of(schema, method, path, "412")


async def test_a_malformed_id_is_documented_and_answered_as_404(
    client: httpx.AsyncClient, auth: dict[str, str], schema: dict[str, Any]
) -> None:
    for method, path in [("get", COLLECTION), ("delete", COLLECTION), ("delete", MOVIE)]:
        responses = schema["paths"][path][method]["responses"]
        assert "404" in responses
        assert "422" not in responses, f"{method.upper()} {path}: a 422 it never answers"
    for method, url in [
        ("GET", "/collection/not-a-uuid/"),
        ("DELETE", "/collection/not-a-uuid/"),
        ("DELETE", f"/collection/{uuid.uuid4()}/movies/not-a-uuid/"),
    ]:
        response = await client.request(method, url, headers=auth)
        assert response.status_code == 404, (method, url)
        assert response.headers["content-type"] == PROBLEM
        ProblemDetail.model_validate(response.json())


async def test_a_validation_answer_matches_the_documented_schema(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post("/collection/", json={"description": 5}, headers=auth)
    assert response.status_code == 422
    problem = ProblemDetail.model_validate(response.json())
    assert problem.errors is not None
    assert {error.field for error in problem.errors} == {"body.title", "body.description"}
