"""Log format with the request id on every line."""

from __future__ import annotations

import logging

from movie_collections.core.request_id import current_request_id


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request with its URL at INFO; the movies client logs each upstream
    # attempt itself (page, outcome, latency) without the URL, which may carry credentials.
    logging.getLogger("httpx").setLevel(logging.WARNING)
