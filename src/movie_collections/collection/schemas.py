"""Request and response bodies of the collection endpoints, with the spec's shapes and limits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from movie_collections.core.query import DecimalDigits

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


def _empty_as_none(value: str | None) -> str | None:
    return value or None


MAX_NOTE_LENGTH = 1000
Note = Annotated[
    Annotated[str, Field(max_length=MAX_NOTE_LENGTH, pattern=NO_NUL)] | None,
    AfterValidator(_empty_as_none),
    Field(
        description="The owner's note on this movie in this collection; empty or null is no "
        "note. Answers carry the key only when there is a note.",
        examples=["Watch the director's cut."],
    ),
]


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
    note: Note = None


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


ListSort = Literal["-created", "created", "title", "-updated"]
DEFAULT_PAGE_SIZE = 20


class ListQuery(BaseModel):
    """The query of GET /collection/ that turns paging on (any of these fields given)."""

    limit: Annotated[
        int, Field(ge=1, le=100, description="Collections per page."), DecimalDigits
    ] = DEFAULT_PAGE_SIZE
    cursor: Annotated[
        str | None,
        Field(max_length=2000, description="Opaque: the `cursor` of `data.next`."),
    ] = None
    sort: Annotated[
        ListSort,
        Field(
            description="`-created` newest first, `created` oldest first, `title` A to Z "
            "(case-insensitive), `-updated` most recently changed first."
        ),
    ] = "-created"
    q: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=200,
            pattern=NO_NUL,
            description="Only collections whose title contains this text (case-insensitive).",
        ),
    ] = None


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


class CollectionsPage(CollectionsOverview):
    next: str | None = Field(description="URL of the next page, or null on the last one.")
    count: int = Field(description="How many collections match (all pages).")


class CollectionPage(BaseModel):
    """GET /collection/ with any of limit, cursor, sort or q: the list's shape plus paging."""

    is_success: Literal[True] = True
    data: CollectionsPage


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


class MovieChange(BaseModel):
    """A movie's note and/or its place in the collection; what is left out stays."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"note": "Watch this one first.", "position": 0}]}
    )

    note: Note = None
    position: (
        Annotated[
            int,
            Field(
                ge=0,
                lt=MAX_MOVIES_PER_COLLECTION,
                strict=True,  # a JSON integer: not `true`, `"1"` or `1.0`
                description="0-based; the movie moves here and the others shift.",
            ),
        ]
        | SkipJsonSchema[None]
    ) = None

    @model_validator(mode="after")
    def _something_to_change(self) -> MovieChange:
        if not self.model_fields_set & {"note", "position"}:
            raise ValueError("give a note, a position or both")
        if "position" in self.model_fields_set and self.position is None:
            raise ValueError("position may be omitted but not null")
        return self


class Share(BaseModel):
    token: str = Field(description="The link's secret: whoever has it (signed in) may read.")
    url: str = Field(description="Path of the shared collection: GET to read, POST …/copy/.")
    collection_uuid: uuid.UUID
    created_at: datetime


class ShareAnswer(BaseModel):
    data: Share


class SharedCollection(BaseModel):
    """A collection as its share link shows it, read-only."""

    title: str
    description: str
    owner: str = Field(description="The owner's username.")
    movies: list[Movie]


EXPORT_FORMAT: Literal["movie-collections/v1"] = "movie-collections/v1"


class ExportedCollection(BaseModel):
    uuid: uuid.UUID
    title: str
    description: str
    created_at: datetime
    updated_at: datetime
    movies: list[Movie]


class CollectionsExport(BaseModel):
    """All of a user's collections, oldest first, with their movies in order (notes as null
    when there is none). POST /collection/import/ takes it back."""

    format: Literal["movie-collections/v1"] = EXPORT_FORMAT
    exported_at: datetime
    collections: list[ExportedCollection]


class CollectionsImport(BaseModel):
    """An export document: `uuid`, `created_at`, `updated_at` and `exported_at` are ignored."""

    format: Literal["movie-collections/v1"]
    collections: list[CollectionCreate]


class CollectionsImported(BaseModel):
    collection_uuids: list[uuid.UUID] = Field(description="The new collections, in order.")
