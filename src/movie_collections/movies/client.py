"""The upstream catalogue client: one pooled httpx client per process, retries, a deadline."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import partial

import certifi
import httpx
from pydantic import ValidationError

from movie_collections.core.errors import (
    AppError,
    NotFound,
    UpstreamBadAnswer,
    UpstreamCredentialsRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from movie_collections.core.metrics import UPSTREAM_ATTEMPT_DURATION, UPSTREAM_ATTEMPTS
from movie_collections.core.settings import Settings
from movie_collections.core.single_flight import SingleFlight
from movie_collections.movies.schemas import UpstreamPage

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _RetryableFailure:
    """An attempt that failed in a way another attempt may not: the error to give if none does."""

    error: AppError
    retry_after: float | None = None


class ShardedTransport(httpx.AsyncBaseTransport):
    """Several small connection pools behind one transport, used in turn.

    httpcore's pool scans every connection (a socket poll for each idle one, and a quadratic
    idle count) whenever a request starts or ends; with ~64 concurrent upstream calls that
    scan, not the network, bounded throughput. Pools of a handful of connections keep it cheap.
    TLS verification stays on; the pools share one SSL context.
    """

    def __init__(self, *, shards: int, max_connections: int, max_keepalive: int) -> None:
        shards = max(1, min(shards, max_connections))
        self._pools = [
            httpx.AsyncHTTPTransport(
                verify=_verified_tls(),
                limits=httpx.Limits(
                    max_connections=-(-max_connections // shards),
                    max_keepalive_connections=-(-max_keepalive // shards),
                ),
            )
            for _ in range(shards)
        ]
        self._next = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self._pools[self._next]
        self._next = (self._next + 1) % len(self._pools)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


@functools.cache
def _verified_tls() -> ssl.SSLContext:
    """The process's one SSL context for the upstream (certifi's CAs, as httpx's default):
    building one loads the whole CA bundle, so it is made once, not per pool or app."""
    return ssl.create_default_context(cafile=certifi.where())


class MoviesClient:
    """Fetches catalogue pages. Nothing is cached: every call reaches the upstream.

    Identical concurrent calls (same page) share one in-flight upstream call, which is
    forgotten the moment it completes, so a later call always makes its own; its callers
    get the page one per turn of the event loop (movies.shared_calls says why).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._url = settings.movies_api_url
        self._http: httpx.AsyncClient | None = None
        self._calls: SingleFlight[int, UpstreamPage] = SingleFlight()

    async def start(self) -> None:
        settings = self._settings
        password = settings.movies_api_password.get_secret_value()
        auth = (
            httpx.BasicAuth(settings.movies_api_username, password)
            if settings.movies_api_username or password
            else None
        )
        self._http = httpx.AsyncClient(
            auth=auth,
            timeout=httpx.Timeout(
                settings.movies_api_read_timeout, connect=settings.movies_api_connect_timeout
            ),
            transport=ShardedTransport(
                shards=settings.movies_api_pool_shards,
                max_connections=settings.movies_api_max_connections,
                max_keepalive=settings.movies_api_max_keepalive,
            ),
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )

    async def close(self) -> None:
        self._calls.cancel_all()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def fetch_page(self, page: int) -> UpstreamPage:
        return await self._calls.run(page, partial(self._fetch_with_retries, page))

    async def _fetch_with_retries(self, page: int) -> UpstreamPage:
        settings = self._settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.movies_api_deadline
        attempts = settings.movies_api_attempts
        failure: _RetryableFailure | None = None
        try:
            async with asyncio.timeout_at(deadline):
                for attempt in range(1, attempts + 1):
                    result = await self._attempt(page, attempt, deadline - loop.time())
                    if isinstance(result, UpstreamPage):
                        return result
                    failure = result
                    if attempt == attempts:
                        break
                    wait = self._backoff(attempt, failure.retry_after)
                    if loop.time() + wait >= deadline:
                        break  # waiting would overrun the deadline: answer now instead
                    await asyncio.sleep(wait)
        except TimeoutError:
            raise UpstreamTimeout(
                f"The movie catalogue did not answer within {settings.movies_api_deadline:g} s."
            ) from None
        assert failure is not None
        raise failure.error

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        settings = self._settings
        ceiling = min(
            settings.movies_api_backoff_max, settings.movies_api_backoff_base * 2 ** (attempt - 1)
        )
        # Full jitter spreads the retries of many callers instead of synchronising them.
        wait = random.uniform(0, ceiling)  # noqa: S311  (jitter, not a secret)
        return max(wait, retry_after) if retry_after is not None else wait

    async def _attempt(
        self, page: int, attempt: int, remaining: float
    ) -> UpstreamPage | _RetryableFailure:
        assert self._http is not None, "MoviesClient.start() was not called"
        settings = self._settings
        remaining = max(remaining, 0.001)
        timeout = httpx.Timeout(
            min(settings.movies_api_read_timeout, remaining),
            connect=min(settings.movies_api_connect_timeout, remaining),
            pool=remaining,
        )
        started = time.perf_counter()

        def log(outcome: str, detail: str | None = None, level: int = logging.WARNING) -> None:
            # Never the URL (it may carry credentials) nor any header: page, outcome, latency.
            seconds = time.perf_counter() - started
            UPSTREAM_ATTEMPTS.labels(outcome).inc()  # `outcome`: one of a few fixed words
            UPSTREAM_ATTEMPT_DURATION.observe(seconds)
            logger.log(
                level,
                "upstream page=%d attempt=%d/%d outcome=%s latency_ms=%.1f",
                page,
                attempt,
                settings.movies_api_attempts,
                detail or outcome,
                seconds * 1000,
            )

        limit = settings.movies_api_max_body_bytes
        try:
            request = self._http.stream("GET", self._url, params={"page": page}, timeout=timeout)
            async with request as response:
                # Only a 200's body is read, and never past the limit (a gzip bomb or an
                # endless body would otherwise take the worker's memory).
                body = await _body_within(response, limit) if response.status_code == 200 else b""
        except httpx.TimeoutException as error:
            log("timeout", f"timeout ({type(error).__name__})")
            return _RetryableFailure(UpstreamTimeout("The movie catalogue did not answer in time."))
        except httpx.RequestError as error:
            log("connection_error", f"connection error ({type(error).__name__})")
            return _RetryableFailure(
                UpstreamUnavailable("The movie catalogue could not be reached.")
            )
        except asyncio.CancelledError:
            log("cancelled", "cancelled (deadline or shutdown)")
            raise

        status = response.status_code
        if status == 200:
            if body is None:
                log("too_large", f"body larger than {limit} bytes")
                return _RetryableFailure(
                    UpstreamBadAnswer(f"The movie catalogue answered with more than {limit} bytes.")
                )
            try:
                result = UpstreamPage.model_validate_json(body)
            except ValidationError:
                log("bad_body", "bad body (HTTP 200 without the expected JSON)")
                return _RetryableFailure(
                    UpstreamBadAnswer("The movie catalogue answered with an unexpected body.")
                )
            log("ok", level=logging.INFO)
            return result
        if status in (401, 403):
            log("credentials_refused", f"credentials refused (HTTP {status})", logging.ERROR)
            raise UpstreamCredentialsRefused(
                f"The movie catalogue refused our credentials (HTTP {status}); "
                "check MOVIES_API_USERNAME and MOVIES_API_PASSWORD."
            )
        if status == 404:
            log("not_found", "no such page (HTTP 404)", logging.INFO)
            raise NotFound(f"Page {page} does not exist in the movie catalogue.")
        if status == 429 or status >= 500:
            log("throttled" if status == 429 else "server_error", f"HTTP {status}")
            return _RetryableFailure(
                UpstreamUnavailable(
                    f"The movie catalogue kept failing (last answer: HTTP {status})."
                ),
                retry_after=_retry_after_seconds(response) if status in (429, 503) else None,
            )
        log("refused", f"refused (HTTP {status})", logging.ERROR)
        raise UpstreamBadAnswer(f"The movie catalogue refused the request (HTTP {status}).")


async def _body_within(response: httpx.Response, limit: int) -> bytes | None:
    """The body, decompressed, or None as soon as it is longer than `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds (delta or HTTP date); None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # a year no datetime holds overflows
        return None
    return max(when.timestamp() - time.time(), 0.0)
