"""The ASGI app as `serve --server granian` runs it: X-Forwarded-* handled as under uvicorn."""

from __future__ import annotations

import importlib
import os
from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


def create_proxied_app() -> Any:
    """The target `serve` chose (the service, or the benchmark's ceiling), behind uvicorn's
    proxy-headers middleware trusting FORWARDED_ALLOW_IPS, built in each worker process."""
    module_name, _, attribute = os.environ["MOVIE_COLLECTIONS_ASGI_TARGET"].partition(":")
    target = getattr(importlib.import_module(module_name), attribute)
    app = target() if os.environ.get("MOVIE_COLLECTIONS_ASGI_FACTORY") else target
    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "")
    return ProxyHeadersMiddleware(app, trusted_hosts=trusted) if trusted else app
