"""`python -m movie_collections` is the `movie-collections` command."""

from movie_collections.cli import main

main()
