"""The OpenAPI document: camelCase operation ids, and the problem+json schema errors refer to."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from movie_collections.core.errors import PROBLEM_MEDIA_TYPE, ProblemDetail

SCHEMA_REF_TEMPLATE = "#/components/schemas/{model}"
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def operation_id(route: APIRoute) -> str:
    """`list_collections` -> `listCollections`: what client generators name their methods by."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def install_problem_schema(app: FastAPI) -> None:
    """Completes the app's OpenAPI once, when it is first asked for: adds ProblemDetail (and
    the models it uses) to the components, which error responses refer to under
    application/problem+json (core/errors.py), and drops the 422 FastAPI documents by itself."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()  # cached by FastAPI as app.openapi_schema, completed here
        _drop_fastapi_validation_errors(schema)
        problem = ProblemDetail.model_json_schema(ref_template=SCHEMA_REF_TEMPLATE)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(problem.pop("$defs", {}))
        components[ProblemDetail.__name__] = problem
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _drop_fastapi_validation_errors(schema: dict[str, Any]) -> None:
    """FastAPI adds a JSON 422 to any operation with a parameter, even a path string that
    cannot fail; an operation that can answer 422 declares its problem+json 422 itself."""
    for item in schema["paths"].values():
        for operation in item.values():
            responses = operation.get("responses", {})
            if "422" in responses and PROBLEM_MEDIA_TYPE not in responses["422"].get("content", {}):
                del responses["422"]
    for name in FASTAPI_VALIDATION_SCHEMAS:
        schema.get("components", {}).get("schemas", {}).pop(name, None)
