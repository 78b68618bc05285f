"""The real `movie-collections serve` process, spoken to over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, movie
from tests.processes import ServerProcess, worker_pids

pytestmark = pytest.mark.slow


def test_serve_migrates_and_answers_over_http(tmp_path: Path) -> None:
    environment = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'app.db'}"}
    with (
        ServerProcess(environment, workers=2) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        registered = http.post("/register/", json={"username": "maya", "password": PASSWORD})
        assert registered.status_code == 201
        headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        created = http.post(
            "/collection/", json={"title": "t", "movies": [movie(1)]}, headers=headers
        )
        assert created.status_code == 201
        listed = http.get("/collection/", headers=headers).json()
        assert listed["data"]["favourite_genres"] == "Drama"
    # The generated secret key is kept beside the database, private to the owner.
    key_file = tmp_path / "db" / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    token = registered.json()["access_token"]
    # ... so tokens survive a restart.
    with ServerProcess(environment, workers=1) as server:
        response = httpx.get(
            f"{server.url}/collection/", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200


def test_bad_setting_stops_with_a_clear_message(tmp_path: Path) -> None:
    import subprocess

    from tests.processes import command_environment, movie_collections_command

    result = subprocess.run(
        [*movie_collections_command(), "serve", "--port", "1"],
        env=command_environment({"ACCESS_TOKEN_TTL": "soon", "DATABASE_URL": "mysql://x"}),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0
    assert "invalid configuration" in result.stderr
    assert "ACCESS_TOKEN_TTL" in result.stderr
    assert "DATABASE_URL" in result.stderr


@pytest.mark.parametrize(
    ("command", "environment", "says"),
    [
        (["migrate"], {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x"}, "schema"),
        (["migrate"], {"DATABASE_URL": "sqlite:////proc/no-such-folder/app.db"}, "/proc/"),
        (["serve", "--port", "1"], {"DATA_DIR": "/proc/no-such-folder"}, "/proc/"),
        # Each worker would have an in-memory database of its own.
        (["serve", "--port", "1"], {"DATABASE_URL": "sqlite://"}, "database_url"),
        (["migrate"], {"DATABASE_URL": "sqlite:///:memory:"}, "database_url"),
        (["migrate"], {"DATABASE_URL": "postgresql://u@127.0.0.1:notaport/db"}, "port"),
        (["migrate"], {"DATABASE_URL": "postgresql://u@127.0.0.1:99999/db"}, "port"),
    ],
)
def test_what_the_machine_refuses_stops_with_one_line_not_a_traceback(
    tmp_path: Path, command: list[str], environment: dict[str, str], says: str
) -> None:
    _assert_one_line(_run(command, environment, tmp_path), says)


def test_a_short_key_file_or_a_dot_env_not_in_utf8_stops_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    environment = {"DATA_DIR": str(data), "DATABASE_URL": f"sqlite:///{data / 'app.db'}"}
    for weak in ("short", "0" * 64):
        (data / "secret_key").write_text(weak)
        _assert_one_line(_run(["serve", "--port", "1"], environment, tmp_path), "secret key")
    (tmp_path / ".env").write_bytes(b"LOG_LEVEL=INFO \xe9t\xe9\n")  # Latin-1
    _assert_one_line(_run(["migrate"], {}, tmp_path), ".env")


def _run(command: list[str], environment: dict[str, str], cwd: Path) -> Any:
    import subprocess

    from tests.processes import command_environment, movie_collections_command

    return subprocess.run(
        [*movie_collections_command(), *command],
        env=command_environment(environment),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def _assert_one_line(result: Any, says: str) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("movie-collections: "), result.stderr
    assert says in last.lower(), result.stderr


@pytest.mark.parametrize("workers", ["two", "0", "-1", "²"])
def test_a_bad_worker_count_stops_serve_with_one_line_and_spares_other_commands(
    tmp_path: Path, workers: str
) -> None:
    import subprocess

    from tests.processes import command_environment, movie_collections_command

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*movie_collections_command(), *arguments],
            env=command_environment({"WEB_CONCURRENCY": workers}),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            check=False,
        )

    refused = run("serve", "--port", "1")
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    assert "WEB_CONCURRENCY" in refused.stderr.strip().splitlines()[-1], refused.stderr
    assert run("--version").returncode == 0


def test_help_documents_every_option() -> None:
    import subprocess

    from tests.processes import command_environment, movie_collections_command

    result = subprocess.run(
        [*movie_collections_command(), "serve", "--help"],
        env=command_environment({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for option in ("--host", "--port", "--workers", "--migrate", "--graceful-timeout"):
        assert option in result.stdout


def test_serve_bounds_malloc_arenas_unless_told_otherwise(tmp_path: Path) -> None:
    def arena_setting(server: ServerProcess) -> str | None:
        assert server.process is not None
        environ = Path(f"/proc/{server.process.pid}/environ").read_bytes().split(b"\0")
        for entry in environ:
            if entry.startswith(b"MALLOC_ARENA_MAX="):
                return entry.split(b"=", 1)[1].decode()
        return None

    environment = {"DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"}
    with ServerProcess(environment) as server:
        assert arena_setting(server) == "2"
    with ServerProcess({**environment, "MALLOC_ARENA_MAX": "4"}) as server:
        assert arena_setting(server) == "4"


def test_serve_exits_non_zero_when_its_workers_cannot_be_kept_running(tmp_path: Path) -> None:
    """A killed worker's replacements all fail to start: `serve` gives up with a non-zero
    status and says why, so a process manager restarts it (uvicorn alone exits 0)."""
    data = tmp_path / "data"
    environment = {"DATABASE_URL": f"sqlite:///{data / 'app.db'}"}
    with ServerProcess(environment, workers=2) as server:
        assert server.process is not None
        # From now on every new worker fails at start: its counter folder is a file.
        (data / "counter").rename(data / "counter.moved")
        (data / "counter").write_text("")
        os.kill(worker_pids(server)[0], signal.SIGKILL)
        status = server.process.wait(120)
        output = server.output()
    assert status != 0
    assert "failed to start" in output
    assert "the workers cannot be kept running" in output


def test_serve_exits_non_zero_when_its_workers_keep_dying(tmp_path: Path) -> None:
    """Workers SIGKILLed one after another (as an OOM killer might): after more than 5 deaths
    within 60 s `serve` stops replacing them and exits 1, saying why."""
    environment = {"DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"}
    with ServerProcess(environment, workers=2) as server:
        assert server.process is not None
        killed: set[int] = set()
        deadline = time.monotonic() + 120
        while server.process.poll() is None and time.monotonic() < deadline:
            for pid in set(worker_pids(server)) - killed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            time.sleep(0.05)
        status = server.process.wait(30)
        output = server.output()
    assert status == 1
    assert "died (exit status -9)" in output
    assert "6 worker deaths (0 failed starts) within 60 s" in output
    assert "cannot be kept running" in output
