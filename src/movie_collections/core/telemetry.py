"""Per request, once answered: the HTTP metrics and the access-log line.

One plain ASGI middleware, outermost, installed only when metrics or the access log are on.
Requests are labelled by route template (never the raw path), so the series stay bounded.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import quote

from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from movie_collections.core.logs import ACCESS_LOGGER
from movie_collections.core.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

access_logger = logging.getLogger(ACCESS_LOGGER)

UNMATCHED_ROUTE = "unmatched"  # no route matched (404, or a redirect to the slashed path)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Characters left as they are in a logged path; anything else (controls, spaces) is escaped.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class RequestTelemetryMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: bool, access_log: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        # Each (route, method, status)'s metric children, looked up once per process.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._plain_routes: dict[Any, str] | None = None  # endpoint -> template (see _route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app sent nothing

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _route(self, scope: Scope) -> str:
        """The matched route's template. FastAPI leaves its own routes in the scope; plain
        Starlette routes (the docs, the static Mount) only their endpoint, looked up here."""
        template = getattr(scope.get("route"), "path_format", None)
        if template is not None:
            return str(template)
        endpoint = scope.get("endpoint")
        if endpoint is None or "app" not in scope:
            return UNMATCHED_ROUTE
        if self._plain_routes is None:
            self._plain_routes = {
                route.app if isinstance(route, Mount) else route.endpoint: route.path_format
                for route in scope["app"].routes
                if isinstance(route, Route | Mount)
            }
        return self._plain_routes.get(endpoint, UNMATCHED_ROUTE)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = self._route(scope)
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        if self.metrics:
            key = (route, method, status)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = (
                    HTTP_REQUESTS.labels(route, method, str(status)),
                    HTTP_REQUEST_DURATION.labels(route, method),
                )
            series[0].inc()
            series[1].observe(seconds)
        if self.access_log:
            path = quote(scope["path"], safe=_PATH_SAFE)  # never the query string
            client = scope.get("client")
            access_logger.info(
                "%s %s %d %.1f ms",
                scope["method"],
                path,
                status,
                seconds * 1000,
                extra={
                    "method": scope["method"],
                    "path": path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "client": client[0] if client else None,
                },
            )
