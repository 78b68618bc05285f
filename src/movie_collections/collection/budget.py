"""The size budgets of collections: how many a user may have, how many movies each holds, and
how many genres (and how long) their movies may carry. Each refusal is a 422 naming its
GET /limits/ entry."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from movie_collections.collection import repository
from movie_collections.collection.schemas import Movie
from movie_collections.core.database import Connection
from movie_collections.core.errors import Unprocessable
from movie_collections.core.settings import Settings


def check_movie_count(count: int, limit: int, where: str = "") -> None:
    """MAX_MOVIES_PER_COLLECTION (it may be set below the schema's maximum): `count` movies in
    one collection, checked before any SQL; `where` names the collection in a document."""
    if count > limit:
        raise Unprocessable(
            f"{where}A collection holds at most {limit} movies (max_movies_per_collection); "
            f"this would make {count}.",
            limit="max_movies_per_collection",
        )


@dataclass(frozen=True, slots=True)
class CollectionBudget:
    max_collections_per_user: int
    max_genres_per_movie: int
    max_genre_chars: int
    max_genres_per_collection: int

    @classmethod
    def from_settings(cls, settings: Settings) -> CollectionBudget:
        return cls(
            max_collections_per_user=settings.max_collections_per_user,
            max_genres_per_movie=settings.max_genres_per_movie,
            max_genre_chars=settings.max_genre_chars,
            max_genres_per_collection=settings.max_genres_per_collection,
        )

    async def ensure_room(self, connection: Connection, owner_id: uuid.UUID, adding: int) -> None:
        """May this user create `adding` more collections? 422 if not. Call inside the write
        transaction that creates them: the owner stays locked until it ends, so concurrent
        creates never exceed the budget. Several at once (an import) take the genre-count
        locks of several collections on PostgreSQL: they lock the owner even with no budget,
        or two could deadlock; a single create takes one such lock and need not wait."""
        if not self.max_collections_per_user:
            if adding > 1:
                await repository.lock_owner(connection, owner_id)
            return
        await repository.lock_owner(connection, owner_id)
        have = await repository.count_collections(connection, owner_id)
        if have + adding > self.max_collections_per_user:
            raise Unprocessable(
                f"A user may have at most {self.max_collections_per_user} collections "
                f"(max_collections_per_user); you have {have}.",
                limit="max_collections_per_user",
            )

    def check_movies(
        self, movies: Sequence[Movie] | None, present: Iterable[str] = (), where: str = ""
    ) -> None:
        """The genres of these movies, added to a collection whose genres are `present`;
        `where` names the collection in a document."""
        if not movies:
            return
        names = set(present)
        for index, movie in enumerate(movies):
            genres = repository.split_genres(movie.genres)
            if len(genres) > self.max_genres_per_movie:
                raise Unprocessable(
                    f"{where}movies[{index}].genres: {len(genres)} genres; a movie may have "
                    f"at most {self.max_genres_per_movie} (max_genres_per_movie).",
                    limit="max_genres_per_movie",
                )
            for genre in genres:
                if len(genre) > self.max_genre_chars:
                    raise Unprocessable(
                        f"{where}movies[{index}].genres: a genre of {len(genre)} characters; "
                        f"a genre may have at most {self.max_genre_chars} (max_genre_chars).",
                        limit="max_genre_chars",
                    )
            names.update(genres)
        if len(names) > self.max_genres_per_collection:
            raise Unprocessable(
                f"{where}movies: {len(names)} distinct genres in the collection; a collection "
                f"may have at most {self.max_genres_per_collection} (max_genres_per_collection).",
                limit="max_genres_per_collection",
            )
