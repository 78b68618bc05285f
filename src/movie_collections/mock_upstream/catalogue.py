"""A deterministic generated movie catalogue, shaped like the real upstream's."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

PAGE_SIZE = 10

_OPENERS = ["The", "A", "", "", "", "Return of the", "Last", "Beyond the", "Into the", "Song of"]
_ADJECTIVES = [
    "Silent",
    "Crimson",
    "Lost",
    "Hidden",
    "Broken",
    "Golden",
    "Midnight",
    "Distant",
    "Wild",
    "Frozen",
    "Burning",
    "Secret",
    "Forgotten",
    "Electric",
    "Quiet",
    "Savage",
    "Gentle",
    "Dark",
]
_NOUNS = [
    "River",
    "Empire",
    "Garden",
    "Station",
    "Horizon",
    "Kingdom",
    "Promise",
    "Harbour",
    "Mirror",
    "Summer",
    "Frontier",
    "Letters",
    "Orchard",
    "Shadows",
    "Voyage",
    "Carnival",
    "Witness",
    "Sky",
]
_SUFFIXES = ["", "", "", " II", " Returns", ": Part One", " of Paris", " in Winter", " 1972"]
_GENRES = [
    "Drama",
    "Comedy",
    "Thriller",
    "Romance",
    "Action",
    "Horror",
    "Documentary",
    "Crime",
    "Adventure",
    "Science Fiction",
    "Family",
    "Animation",
    "Mystery",
    "Fantasy",
    "War",
    "History",
    "Music",
    "Western",
    "Foreign",
    "TV Movie",
]
_PEOPLE = [
    "a retired detective",
    "an estranged sister",
    "a young pilot",
    "an exiled prince",
    "a small-town teacher",
    "a jazz pianist",
    "a cartographer",
    "a rookie reporter",
]
_EVENTS = [
    "uncovers a conspiracy",
    "must cross a frozen continent",
    "inherits a haunted hotel",
    "falls for a rival",
    "races against time",
    "returns home after thirty years",
    "is framed for a crime",
    "joins a travelling circus",
]
_TAILS = [
    "in post-war Europe.",
    "on the eve of a revolution.",
    "during the longest night of the year.",
    "while a storm closes every road.",
    "as old secrets come to light.",
    "in a city that never forgives.",
]


@dataclass(frozen=True, slots=True)
class CatalogueMovie:
    title: str
    description: str
    genres: str
    uuid: str


def generate_catalogue(size: int, seed: int = 1) -> list[CatalogueMovie]:
    """The same `size` movies for the same seed: titles, long descriptions, genres, UUIDs."""
    rng = random.Random(seed)  # noqa: S311  (test data, not secrets)
    movies = []
    for _ in range(size):
        title = " ".join(
            part
            for part in (rng.choice(_OPENERS), rng.choice(_ADJECTIVES), rng.choice(_NOUNS))
            if part
        ) + rng.choice(_SUFFIXES)
        sentences = [
            f"{rng.choice(_PEOPLE).capitalize()} {rng.choice(_EVENTS)} {rng.choice(_TAILS)}"
            for _ in range(rng.randint(2, 8))
        ]
        # About a third have no genres at all, as in the real catalogue; others one to four.
        genre_count = 0 if rng.random() < 0.3 else rng.randint(1, 4)
        genres = ",".join(rng.sample(_GENRES, genre_count))
        movies.append(
            CatalogueMovie(
                title=title,
                description=" ".join(sentences),
                genres=genres,
                uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            )
        )
    return movies


def page_count(size: int) -> int:
    return max(1, -(-size // PAGE_SIZE))
