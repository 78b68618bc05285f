"""Request and response bodies of the collection endpoints, with the spec's shapes and limits."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

MAX_MOVIES_PER_COLLECTION = 1000

EXAMPLE_MOVIE: dict[str, JsonValue] = {
    "title": "Queerama",
    "description": "50 years after decriminalisation of homosexuality in the UK...",
    "genres": "Drama,Documentary",
    "uuid": "57baf4f4-c9ef-4197-9e4f-acf04eae5b4d",
}


def _none_as_empty(value: object) -> object:
    return "" if value is None else value


# PostgreSQL text cannot hold U+0000: refused as 422 on every database (never a 500), and the
# pattern is published in the schema so clients and fuzzers know it.
NO_NUL = r"^[^\x00]*$"


class Movie(BaseModel):
    """A movie as the catalogue describes it; stored as given."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_MOVIE]})

    # Constraints before the BeforeValidator, so they are applied to (and published for) the
    # string itself: otherwise pydantic checks them after validation and splits the schema.
    title: Annotated[str, Field(max_length=500, pattern=NO_NUL), BeforeValidator(_none_as_empty)]
    description: Annotated[
        str, Field(max_length=10_000, pattern=NO_NUL), BeforeValidator(_none_as_empty)
    ] = ""
    genres: Annotated[
        str,
        Field(max_length=500, pattern=NO_NUL, description="Comma-separated genres; may be empty."),
        BeforeValidator(_none_as_empty),
    ] = ""
    uuid: uuid.UUID


def _no_repeated_movies(movies: list[Movie] | None) -> list[Movie] | None:
    if movies is None:
        return None
    if len({movie.uuid.int for movie in movies}) == len(movies):  # the usual case, in C
        return movies
    seen: set[uuid.UUID] = set()
    for movie in movies:
        if movie.uuid in seen:
            raise ValueError(f"movie {movie.uuid} appears more than once")
        seen.add(movie.uuid)
    return movies


Title = Annotated[
    str, Field(min_length=1, max_length=200, pattern=NO_NUL, examples=["Weekend classics"])
]
Description = Annotated[
    str, Field(max_length=5000, pattern=NO_NUL, examples=["Films to watch on a rainy weekend."])
]
MovieList = Annotated[list[Movie], Field(max_length=MAX_MOVIES_PER_COLLECTION)]


class CollectionCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Weekend classics",
                    "description": "Films to watch on a rainy weekend.",
                    "movies": [EXAMPLE_MOVIE],
                }
            ]
        }
    )

    title: Title
    description: Description = ""
    movies: MovieList = Field(default_factory=list)

    _unique_movies = field_validator("movies")(_no_repeated_movies)


class CollectionUpdate(BaseModel):
    """Only the fields given change; `movies` replaces the whole list."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "Renamed", "movies": [EXAMPLE_MOVIE]}]}
    )

    # May be omitted but not null (see _not_null), so null is left out of the schema.
    title: Title | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    movies: MovieList | None = None

    _unique_movies = field_validator("movies")(_no_repeated_movies)

    @field_validator("title", "description")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class CollectionCreated(BaseModel):
    collection_uuid: uuid.UUID


class CollectionSummary(BaseModel):
    title: str
    uuid: uuid.UUID
    description: str


class CollectionsOverview(BaseModel):
    collections: list[CollectionSummary]
    favourite_genres: str = Field(
        description="Up to 3 genres, most frequent across my collections first, comma-separated.",
        examples=["Drama,Comedy,Action"],
    )


class CollectionList(BaseModel):
    is_success: Literal[True] = True
    data: CollectionsOverview


class CollectionDetail(BaseModel):
    uuid: uuid.UUID
    title: str
    description: str
    movies: list[Movie]


class MoviesAppend(BaseModel):
    """Movies to add after the last one, in this order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"movies": [EXAMPLE_MOVIE]}]})

    movies: Annotated[list[Movie], Field(min_length=1, max_length=MAX_MOVIES_PER_COLLECTION)]

    _unique_movies = field_validator("movies")(_no_repeated_movies)


class MoviesAppended(CollectionDetail):
    """The collection after the append, and the movies that were in it already (not doubled)."""

    already_present: list[uuid.UUID] = Field(
        description="UUIDs of posted movies the collection already held; they were left as is."
    )
