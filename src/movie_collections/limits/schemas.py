"""The body of GET /limits/."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Limits(BaseModel):
    max_body_bytes: int = Field(description="Larger request bodies get 413, before parsing.")
    username_max_chars: int = Field(description="Longest username (422 beyond).")
    password_min_chars: int = Field(description="Shortest password (422 below).")
    password_max_chars: int = Field(description="Longest password (422 beyond).")
    collection_title_max_chars: int = Field(description="Longest collection title (422).")
    collection_description_max_chars: int = Field(description="Longest description (422).")
    max_movies_per_collection: int = Field(description="Most movies in one collection (422).")
    movie_title_max_chars: int = Field(description="Longest movie title (422).")
    movie_description_max_chars: int = Field(description="Longest movie description (422).")
    movie_genres_max_chars: int = Field(description="Longest movie genres string (422).")
    max_movies_page: int = Field(
        description="Highest `page` of GET /movies/ (422 beyond); MOVIES_MAX_PAGE."
    )
    upstream_concurrency: int = Field(
        description="Catalogue connections per worker process (further calls wait); "
        "MOVIES_API_MAX_CONNECTIONS."
    )
    auth_attempts_per_username: int = Field(
        description="Failed logins (and, separately, registrations) per username from one "
        "client network per window (429 beyond); 0: no limit."
    )
    auth_attempts_per_address: int = Field(
        description="Failed logins (and, separately, registrations) per client network (an "
        "IPv4 address or an IPv6 /64) per window (429 beyond); 0: no limit."
    )
    auth_window_seconds: int = Field(description="The sliding window of the attempt limits.")
    password_min_score: int = Field(
        description="Least zxcvbn strength score (0-4) of a new password (422 below)."
    )
    max_collections_per_user: int = Field(
        description="Collections one user may have (422 beyond); 0: no limit."
    )
    max_genres_per_movie: int = Field(description="Distinct genres of one movie (422 beyond).")
    max_genre_chars: int = Field(description="Longest single genre name (422 beyond).")
    max_genres_per_collection: int = Field(
        description="Distinct genres across one collection's movies (422 beyond)."
    )
    writes_per_user_per_minute: int = Field(
        description="Collection writes per user per sliding minute (429 beyond); 0: no limit."
    )
    movies_written_per_user_per_minute: int = Field(
        description="Movies written (create, PUT, append) per user per sliding minute (429 "
        "beyond); 0: no limit."
    )
    movies_per_user_per_minute: int = Field(
        description="GET /movies/ per user per sliding minute (429 beyond); 0: no limit."
    )
