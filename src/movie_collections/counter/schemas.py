"""Bodies of the request-count endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RequestCount(BaseModel):
    requests: int = Field(description="Requests served since the last reset.", examples=[42])


class ResetDone(BaseModel):
    message: str = Field("request count reset successfully")
