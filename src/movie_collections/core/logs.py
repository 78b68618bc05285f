"""Logging: text or JSON lines with the request id on each; chatty library loggers capped."""

from __future__ import annotations

import logging
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

from movie_collections.core.request_id import current_request_id

ACCESS_LOGGER = "movie_collections.access"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Libraries whose DEBUG or INFO records carry SQL with its values, URLs or headers: capped at
# WARNING whatever LOG_LEVEL says, so no level makes the logs hold stored data or credentials.
QUIET_LOGGERS = (
    "aiosqlite",
    "asyncpg",
    "sqlalchemy",
    "httpx",
    "httpcore",
    "hpack",
    "h11",
    "h2",
    "redis",
    "multipart",
    "python_multipart",
    "opentelemetry",
    "urllib3",
    "uvicorn.access",  # the app writes the access log (ACCESS_LOG), never uvicorn
)
# uvicorn's own lines (start, stop, worker deaths) stay; its DEBUG ones (connections) do not.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


def _formatter(log_format: Literal["text", "json"]) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(
            "{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(
    level: str, log_format: Literal["text", "json"] = "text", access_log: bool = False
) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(_formatter(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.setLevel(max(logging.INFO, root.level))
        server_logger.handlers[:] = []  # one format for every line: through the root handler
        server_logger.propagate = True
    # Turned on on purpose, so written even when LOG_LEVEL is above INFO.
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if access_log else logging.NOTSET)
