"""JSON answers serialised once, by pydantic-core, from the response schemas (FastAPI would
validate a returned model against its response_model again before serialising it)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response
from pydantic import BaseModel


def json_response(
    answer: BaseModel | bytes, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    body = answer if isinstance(answer, bytes) else answer.model_dump_json().encode()
    return Response(body, status_code, headers, media_type="application/json")
