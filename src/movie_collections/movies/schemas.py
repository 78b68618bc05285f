"""Bodies of GET /movies/, and the upstream catalogue's page as we accept it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _as_text(value: object) -> object:
    """A missing or null field becomes "": one odd movie must not sink the whole page."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_as_text)]


class CatalogueMovie(BaseModel):
    """One movie of the catalogue, passed through as the upstream gives it."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "title": "Queerama",
                    "description": "50 years after decriminalisation of homosexuality...",
                    "genres": "Drama,Documentary",
                    "uuid": "57baf4f4-c9ef-4197-9e4f-acf04eae5b4d",
                }
            ]
        },
    )

    title: Text = ""
    description: Text = ""
    genres: Text = Field("", description="Comma-separated genres; often empty.")
    uuid: Text = ""


class UpstreamPage(BaseModel):
    """The upstream's page: the list under `data` or (as seen in the wild) `results`."""

    model_config = ConfigDict(extra="ignore")

    count: int = Field(ge=0)
    next: str | None = None
    previous: str | None = None
    data: list[CatalogueMovie]

    @model_validator(mode="before")
    @classmethod
    def _results_as_data(cls, value: Any) -> Any:
        if isinstance(value, dict) and "data" not in value and "results" in value:
            return {**value, "data": value["results"]}
        return value


class MoviePage(BaseModel):
    """GET /movies/: one upstream page, with links pointing at this service."""

    count: int = Field(description="Movies in the whole catalogue.", examples=[45466])
    next: str | None = Field(
        description="This service's link to the next page; null on the last.",
        examples=["http://localhost:8000/movies/?page=3"],
    )
    previous: str | None = Field(
        description="This service's link to the previous page; null on the first.",
        examples=["http://localhost:8000/movies/?page=1"],
    )
    data: list[CatalogueMovie]
