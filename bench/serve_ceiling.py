"""Serves the ceiling app with `movie-collections serve`'s server settings (same options)."""

from __future__ import annotations

import sys

from movie_collections.cli import build_parser, run_server


def main() -> None:
    arguments = build_parser().parse_args(["serve", *sys.argv[1:]])
    run_server("bench.ceiling:app", factory=False, arguments=arguments, log_level="WARNING")


if __name__ == "__main__":
    main()
