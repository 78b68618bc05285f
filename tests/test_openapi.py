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

from movie_collections.app import create_app
from movie_collections.core.errors import ProblemDetail
from movie_collections.core.settings import Settings
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


def can_fail_validation(operation: dict[str, Any]) -> bool:
    """A body, a parameter that is not a string, or a required one outside the path: FastAPI
    may answer 422 (a path string cannot fail; core/openapi.py drops FastAPI's 422 there)."""
    return "requestBody" in operation or any(
        parameter["schema"].get("type") != "string"
        or (parameter.get("required") and parameter["in"] != "path")
        for parameter in operation.get("parameters", [])
    )


def contract_violations(schema: dict[str, Any]) -> list[str]:
    """What a client generator would trip on, operation by operation."""
    violations: list[str] = []
    seen: set[str] = set()
    for method, path, operation in operations(schema):
        where = f"{method.upper()} {path}"
        operation_id = operation.get("operationId", "")
        if not CAMEL_CASE.match(operation_id):
            violations.append(f"{where}: operationId {operation_id!r} is not camelCase")
        if operation_id in seen:
            violations.append(f"{where}: operationId {operation_id} used twice")
        seen.add(operation_id)
        for part in ("summary", "description"):
            if not operation.get(part, "").strip():
                violations.append(f"{where}: no {part}")
        responses = operation["responses"]
        if can_fail_validation(operation) and "422" not in responses:
            violations.append(f"{where}: can answer 422 but does not document it")
        for status in ("500", "503"):  # an unexpected error, the concurrency cap: anywhere
            if status not in responses:
                violations.append(f"{where}: no {status} (use core.errors.problem_responses)")
        for parameter in operation.get("parameters", []):
            if {"ge", "le", "gt", "lt"} & set(parameter["schema"]):  # pydantic's, not JSON Schema's
                violations.append(f"{where} {parameter['name']}: bounds not as minimum/maximum")
        for status, response in responses.items():
            if status.startswith("2") and status != "204" and "content" not in response:
                violations.append(f"{where} {status}: no content")
        for status, response in responses.items():
            if int(status) >= 400 and response.get("content") != {
                PROBLEM: {"schema": PROBLEM_SCHEMA}
            }:
                violations.append(f"{where} {status}: not a ProblemDetail under {PROBLEM} only")
    # FastAPI's own 422 (HTTPValidationError under application/json) is documented nowhere.
    if "HTTPValidationError" in schema.get("components", {}).get("schemas", {}):
        violations.append("FastAPI's HTTPValidationError is in the components")
    return violations


def test_every_operation_keeps_the_contract(schema: dict[str, Any]) -> None:
    """Ids, summaries, descriptions, and errors as problem+json only, on every operation."""
    assert contract_violations(schema) == []


def test_an_operation_declared_without_care_breaks_the_contract(settings: Settings) -> None:
    """What the test above catches on an endpoint added later without its declarations."""
    app = create_app(settings)

    async def careless(page: int) -> dict[str, int]:
        return {"page": page}

    app.add_api_route(
        "/careless/",
        careless,
        operation_id="careless_page",
        responses={404: {"description": "Missing"}},
    )
    assert contract_violations(app.openapi()) == [
        "GET /careless/: operationId 'careless_page' is not camelCase",
        "GET /careless/: no description",
        "GET /careless/: can answer 422 but does not document it",
        "GET /careless/: no 500 (use core.errors.problem_responses)",
        "GET /careless/: no 503 (use core.errors.problem_responses)",
        "GET /careless/ 404: not a ProblemDetail under application/problem+json only",
    ]


def test_operation_ids_are_stable(schema: dict[str, Any]) -> None:
    found = {(method, path): op["operationId"] for method, path, op in operations(schema)}
    assert {key: found.get(key) for key in OPERATION_IDS} == OPERATION_IDS


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
    for method, path in [
        ("get", COLLECTION),
        ("put", COLLECTION),
        ("delete", COLLECTION),
        ("delete", MOVIE),
    ]:
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
