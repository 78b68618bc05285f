"""The API's limits, gathered from the settings and from the request models themselves.

Field sizes are read from the models' JSON schema, which is what validation enforces and what
/openapi.json publishes, so the three can never disagree.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from movie_collections.auth.schemas import Credentials
from movie_collections.collection.schemas import CollectionCreate, Movie
from movie_collections.core.settings import Settings
from movie_collections.limits.schemas import Limits


@functools.cache
def _property(model: type[BaseModel], name: str) -> dict[str, Any]:
    # Cached: the models never change while the process runs.
    schema = model.model_json_schema()
    found: dict[str, Any] = schema["properties"][name]
    return found


def _bound(model: type[BaseModel], name: str, keyword: str) -> int:
    value = _property(model, name)[keyword]
    return int(value)


def api_limits(settings: Settings) -> Limits:
    schema_movies_max = _bound(CollectionCreate, "movies", "maxItems")
    return Limits(
        max_body_bytes=settings.max_body_bytes,
        username_max_chars=_bound(Credentials, "username", "maxLength"),
        password_min_chars=_bound(Credentials, "password", "minLength"),
        password_max_chars=_bound(Credentials, "password", "maxLength"),
        collection_title_max_chars=_bound(CollectionCreate, "title", "maxLength"),
        collection_description_max_chars=_bound(CollectionCreate, "description", "maxLength"),
        max_movies_per_collection=min(settings.max_movies_per_collection, schema_movies_max),
        movie_title_max_chars=_bound(Movie, "title", "maxLength"),
        movie_description_max_chars=_bound(Movie, "description", "maxLength"),
        movie_genres_max_chars=_bound(Movie, "genres", "maxLength"),
        max_movies_page=settings.movies_max_page,
        upstream_concurrency=settings.movies_api_max_connections,
        auth_attempts_per_username=settings.auth_rate_limit_per_username,
        auth_attempts_per_address=settings.auth_rate_limit_per_address,
        auth_window_seconds=int(settings.auth_rate_limit_window.total_seconds()),
        password_min_score=settings.password_min_score,
        max_collections_per_user=settings.max_collections_per_user,
        max_genres_per_movie=settings.max_genres_per_movie,
        max_genre_chars=settings.max_genre_chars,
        max_genres_per_collection=settings.max_genres_per_collection,
        writes_per_user_per_minute=settings.writes_per_user_per_minute,
        movies_written_per_user_per_minute=settings.movies_written_per_user_per_minute,
        movies_per_user_per_minute=settings.movies_per_user_per_minute,
    )


def describe_limits(settings: Settings) -> str:
    """A Markdown table of the limits, for the OpenAPI description."""
    limits = api_limits(settings)
    rows = [
        f"| `{name}` | {value} | {Limits.model_fields[name].description} |"
        for name, value in limits.model_dump().items()
    ]
    return "\n".join(["| Limit | Value | Meaning |", "| --- | --- | --- |", *rows])
