"""`make bench` end to end at toy size: real servers, wrk, results JSON, Markdown and chart."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench.wrk import ensure_wrk

from tests.services import skip_or_fail

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_run_writes_results_report_and_chart(tmp_path: Path) -> None:
    if importlib.util.find_spec("matplotlib") is None:
        skip_or_fail("matplotlib (the bench extra) is not installed; `make test` installs it")
    ensure_wrk()  # installed from Debian's packages when missing, as `make bench` does
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nHand-written text that must survive.\n")
    _run_module(
        "bench.run",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--connections",
        "8",
        "--variants",
        "embedded",
        "--large-collections",
        "2",
        "--scenarios",
        "list_10x5,unauthenticated",
        "--no-counter-overhead",
        "--output-dir",
        str(tmp_path / "results"),
        "--docs",
        str(docs),
        timeout=300,
    )
    [results_file] = (tmp_path / "results").glob("*.json")
    results = json.loads(results_file.read_text())
    assert results["ceiling"]["before"]["requests_per_s"] > 0
    [variant] = results["variants"]
    scenarios = {s["key"]: s for s in variant["scenarios"]}
    assert scenarios["list_10x5"]["requests_per_s"] > 0
    assert scenarios["list_10x5"]["errors"] == 0
    assert scenarios["unauthenticated"]["status_counts"].keys() == {"401"}
    # The list is served again without FastAPI, on the same data: the same answers.
    [bare] = variant["bare"]
    assert bare["key"] == "list_10x5"
    assert bare["requests_per_s"] > 0
    assert bare["errors"] == 0
    text = docs.read_text()
    assert "Hand-written text that must survive." in text
    assert "| GET /collection/ (10 x 5) |" in text
    assert "FastAPI's share (embedded;" in text
    assert (tmp_path / "benchmarks.png").stat().st_size > 1000


def test_heavy_writer_bodies_are_the_heaviest_the_budgets_allow() -> None:
    from bench.heavy_writer import heavy_bodies

    from movie_collections.collection.budget import CollectionBudget
    from movie_collections.collection.repository import split_genres
    from movie_collections.collection.schemas import CollectionCreate
    from movie_collections.core.settings import Settings
    from movie_collections.limits.service import api_limits

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    limits = api_limits(settings).model_dump()
    [body] = heavy_bodies(limits, count=1)
    assert 0.95 * settings.max_body_bytes < len(body) <= settings.max_body_bytes
    payload = CollectionCreate.model_validate_json(body)
    CollectionBudget.from_settings(settings).check_movies(payload.movies)  # accepted
    assert len(payload.movies) == settings.max_movies_per_collection
    genres = [split_genres(movie.genres) for movie in payload.movies]
    assert {len(names) for names in genres} == {settings.max_genres_per_movie}
    assert len({name for names in genres for name in names}) == settings.max_genres_per_collection


@pytest.mark.parametrize("bare", [False, True], ids=["routes", "bare"])
def test_profile_app_serves_the_reads_and_the_create_with_and_without_fastapi(bare: bool) -> None:
    for scenario, status in (("list", 200), ("detail", 200), ("count", 200), ("create", 201)):
        options = ["--bare"] if bare else []
        completed = _run_module("bench.profile_app", scenario, "--requests", "40", *options)
        assert f"statuses {{{status}: 40}}" in completed.stdout, completed.stdout


def test_the_sql_floor_writes_what_the_api_writes() -> None:
    """bench.sql_floor's statements leave the rows a POST /collection/ of its body leaves:
    the collection, its movies in order, and the genre counts the favourites are read from."""
    from bench import sql_floor
    from bench.seed import collection_body

    from movie_collections.collection.repository import genre_counts
    from movie_collections.collection.schemas import CollectionCreate

    raw, owner_id = sql_floor.database()
    payload = CollectionCreate.model_validate(collection_body(1000, 10))
    sql_floor.run(raw, [sql_floor.statements(owner_id, payload) for _ in range(70)])
    assert raw.execute("SELECT count(*) FROM collections").fetchone() == (70,)
    positions = raw.execute("SELECT DISTINCT position FROM collection_movies ORDER BY 1")
    assert [row[0] for row in positions] == list(range(len(payload.movies)))
    assert raw.execute("SELECT count(*) FROM collection_movies").fetchone() == (700,)
    user_genres = dict(raw.execute("SELECT genre, occurrences FROM user_genres").fetchall())
    assert user_genres == {g: 70 * n for g, n in genre_counts(payload.movies).items()}
    _run_module("bench.sql_floor", "--requests", "20")


def _run_module(
    module: str, *arguments: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m module arguments` from the repository; its output, once it succeeded."""
    completed = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed
