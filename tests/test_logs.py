"""LOG_FORMAT=json and the access log: one JSON object a line, with the request's facts."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from movie_collections.app import create_app
from movie_collections.core.logs import configure_logging
from tests.conftest import make_settings, register
from tests.security_helpers import client_for


@pytest.fixture(autouse=True)
def database_file(tmp_path: Path, sqlite_template: Path) -> None:
    (tmp_path / "db.sqlite").write_bytes(sqlite_template.read_bytes())


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers (pytest's too): put them back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, saved in levels.items():
            logging.getLogger(name).setLevel(saved)


async def _requests(tmp_path: Path) -> list[httpx.Response]:
    settings = make_settings(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, access_log=True)
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            auth = await register(http)
            return [
                await http.get("/collection/?page=7&secret=query", headers=auth),
                await http.get("/collection/0e9d1e4c-8c2a-4a43-9b43-5e0d5b0a0c0e/", headers=auth),
                await http.get("/nowhere/%0Aforged%20line"),
            ]


@pytest.mark.usefixtures("restored_logging")
async def test_json_lines_carry_time_level_logger_message_request_id_route_status_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("WARNING", "json", access_log=True)
    responses = await _requests(tmp_path)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    access = [line for line in lines if line["logger"] == "movie_collections.access"]
    # One line per request (the registration's too), written although LOG_LEVEL is WARNING.
    assert len(access) == 4
    for line, response in zip(access[1:], responses, strict=True):
        assert {"time", "level", "logger", "message", "request_id"} <= line.keys()
        assert line["level"] == "INFO"
        assert line["time"].endswith("+00:00")
        assert line["request_id"] == response.headers["x-request-id"]
        assert line["status"] == response.status_code
        assert line["duration_ms"] > 0
        assert line["client"] == "203.0.113.9"
    assert [line["route"] for line in access] == [
        "/register/",
        "/collection/",
        "/collection/{collection_uuid}/",
        "unmatched",
    ]
    # The path without its query string; a newline in it cannot forge a line.
    assert access[1]["path"] == "/collection/"
    assert "secret=query" not in json.dumps(lines)
    assert (
        access[3]["message"]
        == "GET /nowhere/%0Aforged%20line 404 " + access[3]["message"].split(" 404 ")[1]
    )


@pytest.mark.usefixtures("restored_logging")
async def test_text_access_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "text", access_log=True)
    responses = await _requests(tmp_path)
    access = [
        line
        for line in capsys.readouterr().err.splitlines()
        if " movie_collections.access " in line
    ]
    assert len(access) == 4
    for line, response in zip(access[1:], responses, strict=True):
        assert f"[{response.headers['x-request-id']}]" in line
        assert f" {response.status_code} " in line
    assert "GET /nowhere/%0Aforged%20line 404" in access[3]


@pytest.mark.usefixtures("restored_logging")
def test_a_text_record_is_one_line_and_its_traceback_follows_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "text")
    logger = logging.getLogger("movie_collections.anything")
    logger.warning(
        "Running upgrade 0001 -> 0002, first line\n\nsecond %s",
        "a\r\nforged line\u2028\x85\x0b\x0c",
    )
    try:
        raise ValueError("why")
    except ValueError:
        logger.exception("failed")
    first, second, *traceback = capsys.readouterr().err.splitlines()
    assert first.endswith(
        "WARNING movie_collections.anything [-] Running upgrade 0001 -> 0002, first line\\n"
        "\\nsecond a\\r\\nforged line\\u2028\\x85\\x0b\\x0c"
    )
    assert second.endswith(" ERROR movie_collections.anything [-] failed")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: why"


@pytest.mark.usefixtures("restored_logging")
def test_driver_loggers_stay_quiet_at_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", "json")
    for name in ("aiosqlite", "asyncpg", "sqlalchemy.engine.Engine", "httpx", "httpcore.http11"):
        logging.getLogger(name).debug("statement with %s", "stored-value-1")
        logging.getLogger(name).info("statement with %s", "stored-value-2")
    logging.getLogger("uvicorn.error").debug("connection %s", "made")
    logging.getLogger("movie_collections.anything").debug("ours at %s", "debug")
    logging.getLogger("asyncpg").warning("a driver %s", "warning")
    err = capsys.readouterr().err
    assert "stored-value" not in err
    assert "connection made" not in err
    assert [json.loads(line)["message"] for line in err.splitlines()] == [
        "ours at debug",
        "a driver warning",
    ]


async def test_an_outage_answered_by_every_request_is_a_few_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database down: each request is a 503, but the log says so once per 5 s, then how
    many it left out."""
    from movie_collections.core import errors

    clock = [0.0]
    throttled = errors.Throttled(errors.logger, seconds=5, clock=lambda: clock[0])
    monkeypatch.setattr(errors, "_UNAVAILABLE_LOG", throttled)
    unreachable = "postgresql://postgres@127.0.0.1:9/nothing_listens_here"
    async with client_for(make_settings(unreachable, tmp_path / "data")) as client:
        credentials = {"username": "someone", "password": "a-long-password-1"}
        for _ in range(20):
            assert (await client.post("/login/", json=credentials)).status_code == 503
        clock[0] += 5
        assert (await client.post("/login/", json=credentials)).status_code == 503
    lines = [r.getMessage() for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(lines) == 2, lines
    assert lines[1].endswith("(19 more like it since the last line)")
