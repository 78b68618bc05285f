"""The `movie-collections` command: serve, migrate, the stand-in upstream (mock-upstream), and
the settings reference (settings-doc)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from movie_collections import __version__
from movie_collections.core.logs import configure_logging
from movie_collections.core.settings import Settings

logger = logging.getLogger("movie_collections.cli")


def _load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']).upper() or 'settings'}: {item['msg']}"
            for item in error.errors()
        )
        _refuse(problems)
    except ValueError as error:  # a .env file not in UTF-8
        _refuse(f".env: {error}")


def _refuse(problems: object) -> NoReturn:
    sys.exit(f"movie-collections: invalid configuration: {problems}")


def _migrate(settings: Settings) -> None:
    from sqlalchemy.exc import DBAPIError

    from movie_collections.core.migrate import upgrade_to_head

    try:
        upgrade_to_head(settings.database_url)
    except (DBAPIError, OSError) as error:  # unreachable, a full disk, a missing folder
        reason = error.orig if isinstance(error, DBAPIError) else error
        sys.exit(f"movie-collections: cannot bring the database schema up to date: {reason}")
    logger.info("database schema is up to date")


def _configure_logging(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format, settings.access_log)


def command_migrate(_arguments: argparse.Namespace) -> None:
    settings = _load_settings()
    _configure_logging(settings)
    _migrate(settings)


def command_serve(arguments: argparse.Namespace) -> None:
    if arguments.access_log:
        os.environ["ACCESS_LOG"] = "true"  # the workers read their settings from it
    settings = _load_settings()
    _configure_logging(settings)
    if settings.metrics_token is not None:
        # Before anything imports prometheus_client, which picks its mode once, at import.
        _prepare_metrics_directory(settings)
    if settings.is_sqlite or arguments.migrate:
        _migrate(settings)
    try:  # resolved (created if need be) once, before workers start
        _ = settings.signing_key
    except (ValueError, OSError) as error:  # a key file too short, or out of reach
        _refuse(error)
    if arguments.forwarded_allow_ips is None:
        arguments.forwarded_allow_ips = settings.forwarded_allow_ips
    run_server(
        "movie_collections.app:create_app_from_environment",
        factory=True,
        arguments=arguments,
        log_level=settings.log_level,
        settings=settings,
    )


MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def _prepare_metrics_directory(settings: Settings) -> None:
    """Where the workers write their metrics (prometheus_client's multiprocess mode), emptied
    of an earlier run's files: PROMETHEUS_MULTIPROC_DIR, or DATA_DIR/metrics (mode 0700)."""
    given = os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE)
    directory = Path(given) if given else settings.resolved_data_dir / "metrics"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not given:
        directory.chmod(0o700)  # ours: private even if an older version made it otherwise
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ[MULTIPROCESS_DIRECTORY_VARIABLE] = str(directory)


def run_server(
    app: str,
    *,
    factory: bool,
    arguments: argparse.Namespace,
    log_level: str,
    settings: Settings | None = None,
) -> None:
    """Serve `app` with the server settings of `serve`, the HTTP edge bounded by `settings`.

    The benchmark's ceiling app is served through this same function, so it is measured under
    exactly the server, loop, HTTP parser and logging settings of the service.
    """
    settings = settings or _load_settings()
    import uvicorn

    from movie_collections.core.http_edge import PROTOCOL_PATH

    trusted_proxies = arguments.forwarded_allow_ips or ""
    options: dict[str, Any] = {
        "factory": factory,
        "http": PROTOCOL_PATH,
        "timeout_keep_alive": settings.http_keep_alive_timeout,
        "host": arguments.host,
        "port": arguments.port,
        "workers": arguments.workers,
        # The app configures logging (LOG_FORMAT) and writes the access log (ACCESS_LOG):
        # uvicorn's records go through the root logger, and it writes no access log itself.
        "log_config": None,
        "log_level": max(log_level, "INFO", key=logging.getLevelName).lower(),
        "access_log": False,
        # X-Forwarded-* only from the named proxies; none named, the header is never read.
        "proxy_headers": bool(trusted_proxies),
        "forwarded_allow_ips": trusted_proxies or None,
        "timeout_graceful_shutdown": arguments.graceful_timeout,
    }
    if arguments.workers <= 1:
        uvicorn.run(app, **options)  # one process: a failed start exits non-zero already
        return
    from movie_collections.supervisor import WorkerSupervisor

    # uvicorn.run's multi-worker path, with a supervisor that exits non-zero when it gives up.
    config = uvicorn.Config(app, **options)
    supervisor = WorkerSupervisor(config, sockets=[config.bind_socket()])
    supervisor.run()
    if supervisor.failure is not None:
        sys.exit(f"movie-collections serve: {supervisor.failure}")


def command_settings_doc(_arguments: argparse.Namespace) -> None:
    from movie_collections.core.settings_doc import render_configuration

    sys.stdout.write(render_configuration())


def command_mock_upstream(arguments: argparse.Namespace) -> None:
    from movie_collections.mock_upstream.server import Behaviour, run

    configure_logging("INFO")
    try:
        behaviour = Behaviour(
            latency=arguments.latency,
            failure_rate=arguments.failure_rate,
            failure_kinds=[kind for kind in arguments.failure_kinds.split(",") if kind],
            fail_next=arguments.fail_next,
            list_key=arguments.list_key,
            retry_after=arguments.retry_after,
            hang_seconds=arguments.hang_seconds,
            sparse=arguments.sparse,
        )
        behaviour.validate()
    except ValueError as error:
        sys.exit(f"movie-collections mock-upstream: {error}")
    run(
        host=arguments.host,
        port=arguments.port,
        public_url=arguments.public_url,
        path=arguments.path,
        username=arguments.username,
        password=arguments.password,
        movies=arguments.movies,
        seed=arguments.seed,
        behaviour=behaviour,
        ssl_certfile=arguments.ssl_certfile,
        ssl_keyfile=arguments.ssl_keyfile,
    )


def _add_mock_upstream_parser(commands: Any) -> None:
    from movie_collections.mock_upstream.server import DEFAULT_PATH, FAILURE_KINDS

    mock = commands.add_parser(
        "mock-upstream",
        help="serve a stand-in of the third-party movie catalogue (offline runs, tests)",
        description="A deterministic generated catalogue in the real upstream's shape, with "
        "basic auth and fault knobs. GET /__stats counts calls; POST /__control changes any "
        "knob at run time (JSON with the names below, underscores for dashes).",
    )
    mock.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    mock.add_argument("--port", type=int, default=8001, help="port to bind (default 8001)")
    mock.add_argument("--path", default=DEFAULT_PATH, help=f"catalogue path ({DEFAULT_PATH})")
    mock.add_argument(
        "--public-url", default=None, help="scheme://host:port used in its links (default: bound)"
    )
    mock.add_argument("--username", default="mock", help="basic-auth user (default mock)")
    mock.add_argument(
        "--password", default="mock-password", help="basic-auth password; '' with '' user: none"
    )
    mock.add_argument("--movies", type=int, default=4500, help="catalogue size (default 4500)")
    mock.add_argument("--seed", type=int, default=1, help="catalogue and fault seed (default 1)")
    mock.add_argument("--latency", type=float, default=0.0, help="seconds added to every call")
    mock.add_argument(
        "--failure-rate", type=float, default=0.0, help="share of calls that fail (0..1)"
    )
    mock.add_argument(
        "--failure-kinds",
        default="5xx,reset,html,badjson",
        help=f"comma-separated, of: {', '.join(FAILURE_KINDS)} (default 5xx,reset,html,badjson)",
    )
    mock.add_argument("--fail-next", type=int, default=0, help="the next N calls fail, in turn")
    mock.add_argument(
        "--list-key", choices=["data", "results"], default="data", help="key of the movie list"
    )
    mock.add_argument("--retry-after", default="1", help="Retry-After sent with 429 (default 1)")
    mock.add_argument(
        "--hang-seconds", type=float, default=60.0, help="how long a 'hang' lasts (default 60)"
    )
    mock.add_argument(
        "--sparse",
        action="store_true",
        help="some movies lack genres, have a null description or no uuid",
    )
    mock.add_argument("--ssl-certfile", default=None, help="serve HTTPS with this certificate")
    mock.add_argument("--ssl-keyfile", default=None, help="the certificate's private key")
    mock.set_defaults(handler=command_mock_upstream)


def _worker_count(text: str) -> int:
    """--workers, or WEB_CONCURRENCY (uvicorn's and gunicorn's name): a count, 1 or more."""
    digits = text.strip()
    count = int(digits) if digits.isascii() and digits.isdigit() else 0
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of worker processes (WEB_CONCURRENCY or --workers: "
            "1 or more)"
        )
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="movie-collections",
        description="Movie collections API. Settings come from environment variables "
        "(and a .env file); see docs/configuration.md.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--workers",
        type=_worker_count,
        # Read only by `serve`, as --workers would be; empty, as compose files set it: unset.
        default=os.environ.get("WEB_CONCURRENCY", "").strip() or "1",
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
        help="log every request, as ACCESS_LOG=true does (default off)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="comma-separated proxies whose X-Forwarded-* headers are believed (default "
        "$FORWARDED_ALLOW_IPS, empty: none)",
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

    _add_mock_upstream_parser(commands)

    settings_doc = commands.add_parser(
        "settings-doc",
        help="print the settings reference (Markdown) generated from the settings model",
        description="Every environment variable with its default and meaning: "
        "docs/configuration.md is this output (make docs).",
    )
    settings_doc.set_defaults(handler=command_settings_doc)
    return parser


# glibc gives every thread its own malloc arenas (up to 8 per core); under load the arenas of
# the worker's helper threads fill and fragment and RSS creeps up (docs/reliability.md,
# "Memory"). Two arenas keep it level. glibc
# reads the variable once, at start-up, so `serve` re-executes itself with it set.
MALLOC_ARENA_MAX_DEFAULT = "2"


def _reexec_with_bounded_malloc_arenas(argv: Sequence[str]) -> None:
    if "MALLOC_ARENA_MAX" in os.environ or not argv or argv[0] != "serve":
        return
    os.environ["MALLOC_ARENA_MAX"] = MALLOC_ARENA_MAX_DEFAULT
    os.execv(sys.executable, [sys.executable, "-m", "movie_collections", *argv])  # noqa: S606


def main(argv: Sequence[str] | None = None) -> None:
    if argv is None:
        _reexec_with_bounded_malloc_arenas(sys.argv[1:])
    arguments = build_parser().parse_args(argv)
    try:
        arguments.handler(arguments)
    except OSError as error:  # the machine's fault (a folder, a port, a file): say which, exit 1
        logger.debug("stopped by", exc_info=error)  # LOG_LEVEL=DEBUG shows where
        sys.exit(f"movie-collections: {error}")


if __name__ == "__main__":
    main()
