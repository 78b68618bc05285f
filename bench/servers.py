"""The servers a run measures, as real processes on free ports: the service and the ceiling."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPOSITORY = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A command that serves HTTP on `port`; started in its own session so the tree stops whole."""

    def __init__(
        self,
        name: str,
        command: list[str],
        port: int,
        environment: dict[str, str],
        ready_path: str,
        cwd: Path = REPOSITORY,
    ) -> None:
        self.name = name
        self.command = command
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.environment = environment
        self.ready_path = ready_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (kept for the server's life)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout_s: float = 90) -> Server:
        self.process = subprocess.Popen(
            self.command,
            env=self.environment,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.output()}")
            try:
                httpx.get(self.url + self.ready_path, timeout=2)
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not start in {timeout_s}s:\n{self.output()}")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def base_environment(overrides: dict[str, str]) -> dict[str, str]:
    """The caller's environment without any of the service's settings, plus the overrides."""
    prefixes = ("DATABASE_", "REDIS_", "SECRET_", "MOVIES_API", "COUNTER_", "PASSWORD_HASH")
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith(prefixes)}
    environment["PYTHONPATH"] = str(REPOSITORY)
    environment.update(overrides)
    return environment


def service_server(
    workers: int, environment: dict[str, str], server_arguments: list[str]
) -> Server:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "movie_collections",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--migrate",  # PostgreSQL is only migrated when asked (SQLite always is)
        *server_arguments,
    ]
    return Server("service", command, port, base_environment(environment), "/openapi.json")


def _bench_app_server(
    app: str, workers: int, environment: dict[str, str], server_arguments: list[str], ready: str
) -> Server:
    """A benchmark app (`bench/serve_app.py`) under `movie-collections serve`'s own server
    and settings: the same server, loop, HTTP parser, workers and logging as the service."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.serve_app",
        app,
        "--port",
        str(port),
        "--workers",
        str(workers),
        *server_arguments,
    ]
    return Server(app, command, port, base_environment(environment), ready)


def ceiling_server(workers: int, server_arguments: list[str]) -> Server:
    """Constant JSON (`bench.ceiling:app`): what the server alone can answer."""
    return _bench_app_server("ceiling", workers, {"LOG_LEVEL": "WARNING"}, server_arguments, "/")


def bare_server(workers: int, environment: dict[str, str], server_arguments: list[str]) -> Server:
    """The service's reads and create without FastAPI (`bench/bare_app.py`), on its data."""
    return _bench_app_server("bare", workers, environment, server_arguments, "/health/live")
