"""The `movie-collections` command: serve, migrate, and (later) the stand-in upstream."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from movie_collections.config import Settings
from movie_collections.logging_setup import configure_logging

logger = logging.getLogger("movie_collections.cli")


def _load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']).upper() or 'settings'}: {item['msg']}"
            for item in error.errors()
        )
        sys.exit(f"movie-collections: invalid configuration: {problems}")


def _migrate(settings: Settings) -> None:
    from movie_collections.migrate import upgrade_to_head

    upgrade_to_head(settings.database_url)
    logger.info("database schema is up to date")


def command_migrate(_arguments: argparse.Namespace) -> None:
    settings = _load_settings()
    configure_logging(settings.log_level)
    _migrate(settings)


def command_serve(arguments: argparse.Namespace) -> None:
    settings = _load_settings()
    configure_logging(settings.log_level)
    if settings.is_sqlite or arguments.migrate:
        _migrate(settings)
    # Resolve (and if needed create) the signing key once, before workers start.
    _ = settings.signing_key
    run_server(
        "movie_collections.app:create_app_from_environment",
        factory=True,
        arguments=arguments,
        log_level=settings.log_level,
    )


def run_server(app: str, *, factory: bool, arguments: argparse.Namespace, log_level: str) -> None:
    """Serve `app` with the server settings of `serve`.

    The benchmark's ceiling app is served through this same function, so it is measured under
    exactly the server, loop, HTTP parser and logging settings of the service.
    """
    import uvicorn

    uvicorn.run(
        app,
        factory=factory,
        host=arguments.host,
        port=arguments.port,
        workers=arguments.workers,
        log_level=log_level.lower(),
        access_log=arguments.access_log,
        proxy_headers=True,
        forwarded_allow_ips=arguments.forwarded_allow_ips,
        timeout_graceful_shutdown=arguments.graceful_timeout,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="movie-collections",
        description="Movie collections API. Settings come from environment variables "
        "(and a .env file); see README.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "1")),
        help="worker processes (default $WEB_CONCURRENCY or 1)",
    )
    serve.add_argument(
        "--migrate",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="apply migrations before serving (always on for SQLite)",
    )
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="log every request (default off)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies trusted for X-Forwarded-* headers (default 127.0.0.1)",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=int,
        default=20,
        help="seconds to finish in-flight requests on SIGTERM (default 20)",
    )
    serve.set_defaults(handler=command_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(handler=command_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    arguments = build_parser().parse_args(argv)
    arguments.handler(arguments)


if __name__ == "__main__":
    main()
