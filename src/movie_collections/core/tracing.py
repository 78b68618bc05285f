"""OpenTelemetry traces from the standard OTEL_* variables, with the `otel` extra installed.

On when an exporter is named (OTEL_TRACES_EXPORTER or an OTLP endpoint) and OTEL_SDK_DISABLED
is not true; off, nothing of the SDK is imported. On: FastAPI's own server spans, the
catalogue calls (httpx) and the statements (asyncpg, sqlite3), never with their parameters.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping

logger = logging.getLogger(__name__)

SERVICE_NAME = "movie-collections"
EXTRA_MODULES = (
    "opentelemetry.sdk",
    "opentelemetry.instrumentation.httpx",
    "opentelemetry.instrumentation.asyncpg",
    "opentelemetry.instrumentation.sqlite3",
)
# The OTLP exporter the extra installs (HTTP/protobuf) under the name the specification uses.
_EXPORTER_ALIASES = {"otlp": "otlp_proto_http"}
_started = False


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def start_tracing() -> bool:
    """Install the global tracer provider and the instrumentations, once per process.
    False, with a warning, when the `otel` extra is not installed."""
    global _started
    if _started:
        return True
    missing = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        logger.warning(
            "OTEL_* variables ask for traces, but the otel extra is not installed "
            "(pip install 'movie-collections[otel]'): tracing is off"
        )
        return False
    from importlib.metadata import entry_points

    from opentelemetry import trace
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by Resource.create.
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(attributes))
    names = os.environ.get("OTEL_TRACES_EXPORTER", "") or "otlp"
    for name in (part.strip().lower() for part in names.split(",")):
        if not name or name == "none":
            continue
        found = entry_points(
            group="opentelemetry_traces_exporter", name=_EXPORTER_ALIASES.get(name, name)
        )
        if not found:
            logger.warning("OTEL_TRACES_EXPORTER: no exporter named %r is installed", name)
            continue
        # Batch settings (OTEL_BSP_*) and the exporter's own (OTEL_EXPORTER_OTLP_*) from the
        # environment, as the specification says.
        provider.add_span_processor(BatchSpanProcessor(next(iter(found)).load()()))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    AsyncPGInstrumentor(capture_parameters=False).instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    SQLite3Instrumentor().instrument(tracer_provider=provider)
    _started = True
    return True
