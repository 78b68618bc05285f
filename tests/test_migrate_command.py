"""`movie-collections migrate` as deployments run it: two at once on one PostgreSQL database
(a migration Job beside `serve --migrate`), and with libpq's `sslmode` in DATABASE_URL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.processes import command_environment, movie_collections_command
from tests.services import create_postgres_database, drop_postgres_database

pytestmark = pytest.mark.postgres


def _migrate(url: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*movie_collections_command(), "migrate"],
        env=command_environment({"DATABASE_URL": url}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
    )


def test_two_migrations_at_once_take_turns(unmigrated_postgres: str, tmp_path: Path) -> None:
    for round_ in range(3):  # without the lock, one of two failed in most rounds
        url = unmigrated_postgres if round_ == 0 else create_postgres_database("mc_migrate")
        try:
            runs = [_migrate(url, tmp_path) for _ in range(2)]
            outputs = [run.communicate(timeout=120)[0] for run in runs]
            assert [run.returncode for run in runs] == [0, 0], outputs
        finally:
            if url != unmigrated_postgres:
                drop_postgres_database(url)


def test_libpq_sslmode_in_the_url_migrates(unmigrated_postgres: str, tmp_path: Path) -> None:
    # asyncpg reads these (serve); SQLAlchemy's dialect took them for connect()'s arguments.
    url = f"{unmigrated_postgres}?sslmode=disable&sslrootcert=/nonexistent.pem"
    run = _migrate(url, tmp_path)
    output = run.communicate(timeout=120)[0]
    assert run.returncode == 0, output
