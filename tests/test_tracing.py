"""OpenTelemetry (the `otel` extra): spans from the OTEL_* variables; off, not even imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from movie_collections.core.tracing import tracing_requested
from tests.movies.upstream import UPSTREAM_PASSWORD, UPSTREAM_USERNAME, MockUpstreamProcess
from tests.processes import ServerProcess
from tests.services import server_database

PASSWORD = "traced-Secret-passw0rd-9"
USERNAME = "traced_user_k3"

# One request through the app in a fresh interpreter; prints what of OpenTelemetry is set up.
# (redis-py imports the SDK's metrics module when it is installed; nothing of ours does.)
LOADED_MODULES = """
import asyncio, sys, httpx
from asgi_lifespan import LifespanManager
from movie_collections.app import create_app
from movie_collections.core.settings import Settings

async def main():
    app = create_app(Settings(_env_file=None, database_url=sys.argv[1], secret_key="k3y-0" * 8))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/health/ready")).status_code == 200
    print(app._telemetry["tracing"])

asyncio.run(main())
from opentelemetry import trace
print(type(trace.get_tracer_provider()).__name__)
print(sorted(name for name in sys.modules if name.startswith(("opentelemetry.instrumentation",
      "opentelemetry.exporter", "opentelemetry.sdk.trace"))))
"""


@pytest.mark.parametrize(
    ("environment", "requested"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, False),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
    ],
)
def test_tracing_is_on_only_when_an_exporter_is_named(
    environment: dict[str, str], requested: bool
) -> None:
    assert tracing_requested(environment) is requested


def test_off_nothing_of_tracing_is_loaded_or_set_up(tmp_path: Path, sqlite_template: Path) -> None:
    (tmp_path / "db.sqlite").write_bytes(sqlite_template.read_bytes())
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", LOADED_MODULES, f"sqlite:///{tmp_path / 'db.sqlite'}"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    # FastAPI's tracing off (no per-request work), no tracer provider, no instrumentation.
    assert result.stdout.split() == ["False", "ProxyTracerProvider", "[]"], result.stderr


def spans_in(output: str) -> list[dict[str, Any]]:
    """The spans the console exporter printed (indented JSON objects) among the log lines."""
    decoder = json.JSONDecoder()
    spans = []
    start = output.find('{\n    "name": ')
    while start != -1:
        span, end = decoder.raw_decode(output, start)
        spans.append(span)
        start = output.find('{\n    "name": ', end)
    return spans


@pytest.mark.slow
@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_one_request_makes_a_server_span_with_its_upstream_and_database_spans(
    tmp_path: Path, database: str
) -> None:
    with server_database(database, tmp_path) as database_url:
        upstream = MockUpstreamProcess().start()
        environment = {
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "SECRET_KEY": "tracing-secret-0123456789abcdef0123456789abcdef",
            "MOVIES_API_URL": upstream.api_url,
            "MOVIES_API_USERNAME": UPSTREAM_USERNAME,
            "MOVIES_API_PASSWORD": UPSTREAM_PASSWORD,
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_SERVICE_NAME": "movie-collections-test",
        }
        try:
            output = _traced_requests(ServerProcess(environment, extra_arguments=("--migrate",)))
        finally:
            upstream.stop()
    spans = spans_in(output)
    (served,) = [s for s in spans if s["name"] == "GET /movies/"]
    assert served["kind"] == "SpanKind.SERVER"
    assert served["attributes"]["http.route"] == "/movies/"
    assert served["resource"]["attributes"]["service.name"] == "movie-collections-test"
    trace_id = served["context"]["trace_id"]
    outgoing = [
        s for s in spans if s["kind"] == "SpanKind.CLIENT" and s["context"]["trace_id"] == trace_id
    ]
    # Old or new semantic conventions, whichever the instrumentation speaks.
    urls = [
        str(s["attributes"].get("url.full") or s["attributes"].get("http.url")) for s in outgoing
    ]
    assert any(url.startswith(upstream.api_url) for url in urls), outgoing
    system = "sqlite" if database == "sqlite" else "postgresql"
    statements = [s for s in spans if s["attributes"].get("db.system") == system]
    assert statements, [s["name"] for s in spans]
    # The register request's statements are traced with their SQL, never their values.
    assert PASSWORD not in output
    assert USERNAME not in output
    assert UPSTREAM_PASSWORD not in output


def _traced_requests(server: ServerProcess) -> str:
    """Register, then GET /movies/; the server's output once the latter's span is in it."""
    with server:
        credentials = {"username": USERNAME, "password": PASSWORD}
        registered = httpx.post(f"{server.url}/register/", json=credentials, timeout=30)
        token = registered.json()["access_token"]
        movies = httpx.get(
            f"{server.url}/movies/", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert movies.status_code == 200, movies.text
        deadline = time.monotonic() + 30
        while not any(s["name"] == "GET /movies/" for s in spans_in(server.output())):
            assert time.monotonic() < deadline, server.output()[-3000:]
            time.sleep(0.1)
        return server.output()
