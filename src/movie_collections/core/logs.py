"""Logging: text or JSON lines with the request id on each; chatty library loggers capped."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, Literal

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


# Every character str.splitlines() breaks at, written as its escape.
_LINE_BREAKS = str.maketrans(
    {c: c.encode("unicode_escape").decode() for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}
)


class _TextFormatter(logging.Formatter):
    """A record's message on one line (its line breaks written as escapes), so that no value in
    it can split or forge a line; a traceback still follows on lines of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record).translate(_LINE_BREAKS)


def _formatter(log_format: Literal["text", "json"]) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(
            "{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )
    return _TextFormatter(TEXT_FORMAT)


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


class Throttled:
    """An error line at most every `seconds`, the next one saying how many were left out: an
    outage answered by every request must not become thousands of identical lines a second."""

    def __init__(
        self, logger: logging.Logger, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.seconds = seconds
        self.clock = clock
        self.next_at = -math.inf
        self.left_out = 0

    def error(self, message: str, *arguments: Any) -> None:
        now = self.clock()
        if now < self.next_at:
            self.left_out += 1
            return
        if self.left_out:
            message += " (%d more like it since the last line)"
            arguments = (*arguments, self.left_out)
        self.logger.error(message, *arguments)
        self.next_at, self.left_out = now + self.seconds, 0
