"""Serves a benchmark app with `movie-collections serve`'s server settings (same options):
`python -m bench.serve_app ceiling|bare [serve options]`."""

from __future__ import annotations

import sys

from movie_collections.cli import build_parser, run_server

APPS = {"ceiling": ("bench.ceiling:app", False), "bare": ("bench.bare_app:served", True)}


def main() -> None:
    target, factory = APPS[sys.argv[1]]
    arguments = build_parser().parse_args(["serve", *sys.argv[2:]])
    run_server(target, factory=factory, arguments=arguments, log_level="WARNING")


if __name__ == "__main__":
    main()
