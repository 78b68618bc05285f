"""Liveness and readiness probes for load balancers and orchestrators (no token needed)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from http import HTTPStatus
from pathlib import Path
from typing import Literal

from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from movie_collections.container import Container, get_container
from movie_collections.core.errors import PROBLEM_MEDIA_TYPE, problem_responses
from movie_collections.core.migrate import alembic_config
from movie_collections.core.openapi import operation_id
from movie_collections.core.request_id import current_request_id

router = APIRouter(prefix="/health", tags=["health"], generate_unique_id_function=operation_id)

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"
CHECK_TIMEOUT_SECONDS = 2.0

# Bytes a writable store must be able to allocate (a SQLite page, a counter file).
PROBE_BYTES = 4096

CheckState = Literal["ok", "unavailable", "not_writable", "not_migrated"]
_NOT_READY = "A store is unavailable: the problem's `checks` names each store's state."


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ok"] = "ok"
    checks: dict[str, CheckState]


@router.get(
    "/live",
    operation_id="getLiveness",
    response_model=Liveness,
    responses=problem_responses(),
    summary="The process is up (no dependency checks)",
)
async def live() -> Liveness:
    """For a liveness probe: answers while the process serves requests. No token needed."""
    return Liveness()


@router.get(
    "/ready",
    response_model=Readiness,
    operation_id="getReadiness",
    responses=problem_responses(503, descriptions={503: _NOT_READY}),
    summary="The database (and Redis, when configured) answer; local stores are writable",
)
async def ready(request: Request) -> Readiness | JSONResponse:
    """For a readiness probe: checks each store within 2 s. No token needed."""
    container = get_container(request)
    checks: dict[str, CheckState] = {"database": await _check_database(container)}
    if container.redis is not None:
        checks["redis"] = await _check_redis(container)
    if folders := _local_store_folders(container):
        checks["storage"] = await _check_storage(folders)
    failed = sorted(name for name, state in checks.items() if state != "ok")
    if failed:
        return JSONResponse(
            {
                "type": "about:blank",
                "title": HTTPStatus.SERVICE_UNAVAILABLE.phrase,
                "status": HTTPStatus.SERVICE_UNAVAILABLE,
                "detail": "; ".join(f"{name}: {checks[name].replace('_', ' ')}" for name in failed),
                "request_id": current_request_id(),
                "checks": checks,
            },
            status_code=HTTPStatus.SERVICE_UNAVAILABLE,
            media_type=PROBLEM_MEDIA_TYPE,
        )
    return Readiness(checks=checks)


# Whether the schema was ever migrated: a query that fails would stand for any failure.
_MIGRATED = {
    "sqlite": text("SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'"),
    "postgresql": text("SELECT to_regclass('alembic_version') IS NOT NULL"),
}
_SCHEMA_VERSIONS = text("SELECT version_num FROM alembic_version")


@functools.cache
def _older_revisions() -> frozenset[str]:
    """The migrations this code knows, but its heads: a database at one of them is behind."""
    scripts = ScriptDirectory.from_config(alembic_config(""))
    known = frozenset(script.revision for script in scripts.walk_revisions())
    return known - set(scripts.get_heads())


async def _check_database(container: Container) -> CheckState:
    """Answers, and its schema is not behind this code's (`migrate` not run yet would be 500s
    behind a ready probe). A revision this code does not know is a newer release's: ready."""
    try:
        older = _older_revisions()
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with container.database.transaction() as connection:
                if not await connection.fetch_value(_MIGRATED[connection.dialect_name]):
                    return "not_migrated"
                versions = {row[0] for row in await connection.fetch(_SCHEMA_VERSIONS)}
    except Exception:
        return "unavailable"
    return "ok" if versions and not versions & older else "not_migrated"


async def _check_redis(container: Container) -> CheckState:
    assert container.redis is not None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await container.redis.ping()
    except Exception:
        return "unavailable"
    return "ok"


def _local_store_folders(container: Container) -> list[Path]:
    """The folders of this host's own stores: the SQLite database, the local counter's files
    and, without Redis, the local rate-limit store."""
    settings = container.settings
    folders = []
    if settings.sqlite_path is not None:
        folders.append(settings.sqlite_path.parent)
    if settings.resolved_counter_backend == "local":
        folders.append(settings.resolved_counter_dir)
    if container.redis is None:
        folders.append(settings.resolved_data_dir)
    return list(dict.fromkeys(folders))


async def _check_storage(folders: list[Path]) -> CheckState:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await asyncio.to_thread(_allocate_probes, folders)
    except TimeoutError:
        return "unavailable"
    except OSError:  # full (ENOSPC), read-only, gone
        return "not_writable"
    return "ok"


def _allocate_probes(folders: list[Path]) -> None:
    """Allocate PROBE_BYTES in each folder (a real allocation, not free-space arithmetic)."""
    for folder in folders:
        probe = folder / f".ready-probe-{os.getpid()}"
        try:
            descriptor = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(descriptor, 0, PROBE_BYTES)
            finally:
                os.close(descriptor)
        finally:
            with contextlib.suppress(FileNotFoundError):
                probe.unlink()
