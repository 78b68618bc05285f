"""The service's Prometheus metrics, and their exposition summed over the worker processes.

With PROMETHEUS_MULTIPROC_DIR set (by `serve` when METRICS_TOKEN is), each process writes its
values to memory-mapped files there and a scrape of any worker reads them all. Reference:
docs/operations.md.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
# Finer than the client's default at the low end: most answers take about a millisecond.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival to its last response byte, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_ATTEMPTS = Counter(
    "movie_collections_upstream_attempts",
    "Calls to the movie catalogue (each retry is one), by outcome.",
    ["outcome"],
)
UPSTREAM_ATTEMPT_DURATION = Histogram(
    "movie_collections_upstream_attempt_duration_seconds",
    "Duration of one call to the movie catalogue, whatever its outcome.",
    buckets=LATENCY_BUCKETS,
)
DATABASE_CONNECTIONS_IN_USE = Gauge(
    "movie_collections_database_connections_in_use",
    "Pooled database connections taken by a request or a write batch (all workers).",
    multiprocess_mode="livesum",
)
REFUSALS = Counter(
    "movie_collections_refusals",
    "Requests refused with 429 by a rate limit or a budget, by the limit's name.",
    ["limit"],
)
COUNTER_BATCHES = Counter(
    "movie_collections_request_counter_batches",
    "Batches of request-counter increments confirmed by Redis.",
)
COUNTER_BATCH_DURATION = Histogram(
    "movie_collections_request_counter_batch_duration_seconds",
    "Time from a batch of increments being formed to Redis confirming it.",
    buckets=LATENCY_BUCKETS,
)
COUNTER_UNSENT = Gauge(
    "movie_collections_request_counter_unsent",
    "Request-counter increments not yet confirmed by Redis (all workers; grows while Redis "
    "is unreachable).",
    multiprocess_mode="livesum",
)

_LIVE_FILE = re.compile(r"^gauge_live(?:sum|all|max|min|mostrecent)_(\d+)\.db$")


def multiprocess_directory() -> Path | None:
    value = os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE)
    return Path(value) if value else None


def exposition() -> bytes:
    """The text format of every metric: of all workers in multiprocess mode."""
    directory = multiprocess_directory()
    if directory is None:
        return generate_latest(REGISTRY)
    forget_dead_processes(directory)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(directory))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def forget_dead_processes(directory: Path) -> None:
    """Drop the live gauges (connections in use, unsent counts) of processes that have died
    (a killed worker never says so itself); their counters and histograms stay in the sums."""
    for name in os.listdir(directory):
        match = _LIVE_FILE.match(name)
        if match is not None and not _alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):  # another worker got there first
                mark_process_dead(int(match.group(1)), str(directory))  # type: ignore[no-untyped-call]


def forget_this_process() -> None:
    directory = multiprocess_directory()
    if directory is not None:
        mark_process_dead(os.getpid(), str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
