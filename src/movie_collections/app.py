"""create_app(settings): wiring only. The lifespan opens and closes the per-process resources."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from movie_collections import __version__
from movie_collections.auth.passwords import PasswordHashing
from movie_collections.auth.router import router as auth_router
from movie_collections.auth.tokens import TokenService
from movie_collections.collection.router import (
    IDEMPOTENCY_KEY,
    IF_MATCH,
    IF_NONE_MATCH,
    REPLAYED_HEADER,
    shared_router,
)
from movie_collections.collection.router import router as collection_router
from movie_collections.collection.service import Versions
from movie_collections.container import Container
from movie_collections.core.admission import AdmissionMiddleware
from movie_collections.core.database import Database
from movie_collections.core.errors import install_error_handlers
from movie_collections.core.logs import configure_logging
from movie_collections.core.metrics import (
    forget_dead_processes,
    forget_this_process,
    multiprocess_directory,
)
from movie_collections.core.middleware import (
    BodySizeLimitMiddleware,
    HeadMiddleware,
    RequestIdMiddleware,
    UnhandledErrorMiddleware,
)
from movie_collections.core.openapi import install_problem_schema
from movie_collections.core.redis import create_redis
from movie_collections.core.settings import Settings
from movie_collections.core.telemetry import RequestTelemetryMiddleware
from movie_collections.core.tracing import start_tracing, tracing_requested
from movie_collections.core.versioned_cache import VersionedCache
from movie_collections.counter.factory import build_counter
from movie_collections.counter.middleware import RequestCounterMiddleware
from movie_collections.counter.router import router as counter_router
from movie_collections.health.router import LIVE_PATH, READY_PATH
from movie_collections.health.router import router as health_router
from movie_collections.idempotency.service import IdempotencyKeys
from movie_collections.limits.router import router as limits_router
from movie_collections.limits.service import describe_limits
from movie_collections.metrics.router import METRICS_PATH
from movie_collections.metrics.router import router as metrics_router
from movie_collections.movies.answers import PageBodies
from movie_collections.movies.client import MoviesClient
from movie_collections.movies.router import router as movies_router
from movie_collections.ratelimit.budgets import UserBudgets
from movie_collections.ratelimit.limiter import AuthRateLimiter, build_rate_limit_store
from movie_collections.web.docs import DOCS_ASSETS_PATH, docs_assets
from movie_collections.web.docs import router as docs_router
from movie_collections.web.router import STATIC_PATH, client_files
from movie_collections.web.router import router as web_router

logger = logging.getLogger(__name__)

DESCRIPTION = """
Register, browse the movie catalogue, keep personal collections of movies, see your
favourite genres, and read or reset the service's request counter.

Every endpoint except `/register/`, `/login/`, `/token/refresh/`, `/logout/` and these docs
needs `Authorization: Bearer <access_token>`. Errors are `application/problem+json` (RFC 9457).

## Limits

`GET /limits/` returns these to a client.

"""


def _freeze_startup_objects() -> None:
    """Keep what start-up built (modules, routes, validators, pools), which lives as long as
    the process, out of the cyclic garbage collector's scans of every request's garbage."""
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    container = build_container(settings)

    metrics = settings.metrics_token is not None
    tracing = tracing_requested() and start_tracing()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.container = container
        directory = multiprocess_directory()
        if metrics and directory is not None:
            forget_dead_processes(directory)  # the live gauges of workers this one replaces
        await container.start()
        _freeze_startup_objects()
        try:
            yield
        finally:
            await container.close()
            if metrics:
                forget_this_process()
            gc.unfreeze()  # what this app made at startup may be collected again

    # Routes are matched in this order: the busiest first (their paths never overlap). They go
    # straight into the app's one table: include_router would match each router's twice. So
    # app.dependency_overrides does not reach them: tests choose settings, not overrides.
    routers = [collection_router, counter_router, movies_router, auth_router, limits_router]
    routers += [health_router, web_router, shared_router, docs_router]
    routers += [metrics_router] if metrics else []
    app = FastAPI(
        routes=[route for router in routers for route in router.routes],
        title="movie-collections",
        version=__version__,
        description=DESCRIPTION + describe_limits(settings),
        lifespan=lifespan,
        # Served by web/docs.py, with their assets from this service.
        docs_url=None,
        redoc_url=None,
        # Off unless asked for: otherwise FastAPI looks up the OpenTelemetry providers on
        # every request, for nothing when no SDK is configured.
        telemetry=None
        if settings.fastapi_telemetry
        else {"tracing": tracing, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    install_problem_schema(app)
    app.mount(STATIC_PATH, client_files(), name="static")
    app.mount(DOCS_ASSETS_PATH, docs_assets(), name="docs-assets")
    # Added innermost first: telemetry sees every request first (when on), then the counter,
    # ids, admission (the Host check and the concurrency cap), CORS, the size limit, HEAD as
    # GET, and the catch-all for errors nobody handled closest to the app.
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(HeadMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, **cors_options(settings.cors_origin_list))
    health_paths = frozenset({LIVE_PATH, READY_PATH})
    app.add_middleware(
        AdmissionMiddleware,
        max_requests=settings.http_max_concurrent_requests,
        allowed_hosts=settings.allowed_host_names,
        # Probes and scrapes come by address (orchestrators, Prometheus), not by name.
        exempt_paths=health_paths | {METRICS_PATH},
        uncapped_paths=frozenset({LIVE_PATH}),
    )
    app.add_middleware(RequestIdMiddleware)
    uncounted = frozenset() if settings.health_counts_in_request_count else health_paths
    if settings.resolved_counter_backend != "off":
        app.add_middleware(
            RequestCounterMiddleware,
            counter=container.counter,
            excluded_paths=uncounted,
        )
    if metrics or settings.access_log:  # outermost: its duration is the whole answer's
        app.add_middleware(
            RequestTelemetryMiddleware, metrics=metrics, access_log=settings.access_log
        )
    return app


def cors_options(origins: list[str]) -> dict[str, Any]:
    """Browsers on these origins may call the API with a bearer token (no cookies: no
    credentials mode) and read the headers a client needs."""
    return {
        "allow_origins": origins,
        "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
        "allow_headers": [
            "Authorization",
            "Content-Type",
            IF_MATCH,
            IF_NONE_MATCH,
            IDEMPOTENCY_KEY,
            "X-Request-ID",
        ],
        "expose_headers": ["ETag", REPLAYED_HEADER, "Retry-After", "X-Request-ID"],
        "max_age": 600,
    }


def build_container(settings: Settings) -> Container:
    """Construct the per-process objects; nothing connects until the lifespan starts."""
    redis = create_redis(settings)
    database = Database(settings)
    rate_limits = build_rate_limit_store(settings, redis)
    return Container(
        settings=settings,
        database=database,
        passwords=PasswordHashing(settings),
        tokens=TokenService(settings),
        counter=build_counter(settings, redis),
        movies=MoviesClient(settings),
        movie_pages=PageBodies(),
        redis=redis,
        auth_rate_limiter=AuthRateLimiter(settings, rate_limits),
        user_budgets=UserBudgets.from_settings(settings, rate_limits),
        idempotency=IdempotencyKeys(database, settings),
        list_answers=VersionedCache(settings.list_answers_bytes)
        if settings.list_answers_bytes
        else None,
        detail_answers=VersionedCache(settings.detail_answers_bytes)
        if settings.detail_answers_bytes
        else None,
        versions=Versions(database),
    )


def create_app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` in each worker process: settings from the environment."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format, settings.access_log)
    return create_app(settings)
