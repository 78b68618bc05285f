"""The stand-in upstream (`movie-collections mock-upstream`) as a real process on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from typing import Any

import httpx

from tests.processes import command_environment, free_port, movie_collections_command

UPSTREAM_USERNAME = "maya"
UPSTREAM_PASSWORD = "upstream-Secret-pa55word"
CATALOGUE_PATH = "/api/v1/maya/movies/"

# What every test starts from (POST /__control resets to it before each test).
DEFAULT_BEHAVIOUR: dict[str, Any] = {
    "latency": 0.0,
    "failure_rate": 0.0,
    "failure_kinds": ["5xx", "reset", "html", "badjson"],
    "fail_next": 0,
    "list_key": "data",
    "retry_after": "1",
    "hang_seconds": 30.0,
    "sparse": False,
}


class MockUpstreamProcess:
    """`movie-collections mock-upstream` in a subprocess; control and stats over HTTP."""

    def __init__(self, movies: int = 95, extra_arguments: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.scheme = "https" if "--ssl-certfile" in extra_arguments else "http"
        self.base_url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.extra_arguments = extra_arguments
        self.api_url = self.base_url + CATALOGUE_PATH
        self.movies = movies
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the process)

    def start(self) -> MockUpstreamProcess:
        self.process = subprocess.Popen(
            [
                *movie_collections_command(),
                "mock-upstream",
                "--port",
                str(self.port),
                "--movies",
                str(self.movies),
                "--username",
                UPSTREAM_USERNAME,
                "--password",
                UPSTREAM_PASSWORD,
                *self.extra_arguments,
            ],
            env=command_environment({}),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mock upstream exited early:\n{self.output()}")
            try:
                httpx.get(f"{self.base_url}/__stats", timeout=1, verify=False)  # noqa: S501  (its own test cert)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"mock upstream did not start:\n{self.output()}")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def control(self, **changes: Any) -> dict[str, Any]:
        response = httpx.post(f"{self.base_url}/__control", json=changes, timeout=5)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def reset(self) -> None:
        self.control(reset_stats=True, **DEFAULT_BEHAVIOUR)

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/__stats", timeout=5, verify=False)  # noqa: S501  (its own test cert)
        result: dict[str, Any] = response.json()
        return result

    def calls(self) -> int:
        return int(self.stats()["calls"])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
