"""The one Settings object: every knob of the service, from the environment, validated at start."""

from __future__ import annotations

import logging
import os
import secrets
import string
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from movie_collections.core.private_paths import open_private_file

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///./data/movie_collections.db"
SECRET_KEY_FILE_NAME = "secret_key"  # noqa: S105


DURATIONS = (
    "access_token_ttl",
    "refresh_token_ttl",
    "auth_rate_limit_window",
    "idempotency_key_ttl",
    "idempotency_in_flight_timeout",
)
# Dates computed as now + a duration must stay within the year 9999, and no duration here
# means anything over years.
LONGEST_DURATION = timedelta(days=3650)


class Settings(BaseSettings):
    """All configuration. Field names are the environment variable names (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="`sqlite:///path` or `postgresql://user@host:port/db`; the driver follows "
        "from the scheme (sqlite3 or asyncpg).",
    )
    data_dir: Path | None = Field(
        None,
        description="Local state: the generated secret key, counter files, the local rate-limit "
        "store. Unset: the SQLite file's folder, else `./data`.",
    )
    secret_key: SecretStr | None = Field(
        None,
        min_length=32,
        description="HS256 signing key (32+ characters, 5+ of them different). Unset: one is "
        "generated once, stored in `DATA_DIR/secret_key` (mode 0600) and a warning is logged; "
        "set it explicitly for several hosts.",
    )
    previous_secret_keys: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated earlier keys (each as SECRET_KEY): tokens they signed "
        "still verify, nothing new is signed with them "
        "([key rotation](../SECURITY.md#rotating-the-signing-key)).",
    )
    access_token_ttl: timedelta = Field(
        timedelta(hours=24), description="Access-token life, seconds or ISO 8601 (`PT24H`)."
    )
    refresh_token_ttl: timedelta = Field(
        timedelta(days=30),
        description="Refresh-token life (seconds or ISO 8601); each rotation starts a new one.",
    )
    token_issuer: str = Field(
        "movie-collections", min_length=1, description="`iss` of access tokens, required."
    )
    token_audience: str = Field(
        "movie-collections", min_length=1, description="`aud` of access tokens, required."
    )

    auth_rate_limit_per_username: int = Field(
        10,
        ge=0,
        description="Failed logins (and, separately, registrations) per (username, client "
        "network) per window; 0: no limit. Failures from elsewhere never lock a name out.",
    )
    auth_rate_limit_per_address: int = Field(
        30,
        ge=0,
        description="Failed logins (and, separately, registrations) per client network per "
        "window; 0: no limit. A network is an IPv4 address or an IPv6 /64.",
    )
    auth_rate_limit_window: timedelta = Field(
        timedelta(minutes=1),
        description="The sliding window of those limits (seconds or ISO 8601); counts live in "
        "Redis with `REDIS_URL`, else in `DATA_DIR/rate_limits.db`.",
    )
    forwarded_allow_ips: str = Field(
        "",
        description="Comma-separated addresses or networks of the proxies whose "
        "X-Forwarded-For names the client ('*': any); empty: believed from nobody, the peer "
        "address is the client.",
    )
    password_min_score: int = Field(
        3,
        ge=0,
        le=4,
        description="Least zxcvbn score (0-4) a new password must reach; 3 asks for an "
        "estimated 10^8 guesses or more.",
    )
    password_hash_time_cost: int = Field(3, ge=1, le=50, description="Argon2id passes.")
    password_hash_memory_kib: int = Field(
        65536, ge=8, le=4 * 1024 * 1024, description="Argon2id memory, KiB."
    )
    password_hash_parallelism: int = Field(4, ge=1, le=64, description="Argon2id lanes.")

    database_pool_size: int = Field(
        10, ge=1, le=1000, description="Connections of the one database pool of each worker."
    )
    database_max_overflow: int = Field(
        0, ge=0, le=1000, description="Connections a pool may open beyond DATABASE_POOL_SIZE."
    )
    database_pool_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait for a pooled connection."
    )
    database_statement_timeout: float = Field(
        15.0,
        gt=0,
        description="Seconds before PostgreSQL cancels a statement (503); a server that does "
        "not answer at all is given up on after this plus up to 5 s more (503).",
    )
    database_pool_recycle: float = Field(
        300.0,
        gt=0,
        description="Seconds a PostgreSQL connection is reused at most; then it is closed when "
        "returned (a smart shutdown of the server can finish).",
    )
    sqlite_busy_timeout: float = Field(
        30.0, gt=0, description="Seconds a SQLite writer waits for the write lock."
    )

    movies_api_url: str = Field(
        "https://demo.credy.in/api/v1/maya/movies/",
        description="The third-party catalogue (TLS verified).",
    )
    movies_api_username: str = Field("", description="Its basic-auth user name.")
    movies_api_password: SecretStr = Field(SecretStr(""), description="Its basic-auth password.")
    # Defaults: 6 attempts make a 30%-failing upstream fail a call 0.3**6 = 0.07% of the time,
    # and the 10 s deadline answers within 15 s even when the upstream hangs.
    movies_api_attempts: int = Field(
        6, ge=1, le=20, description="Upstream tries per `/movies/` request."
    )
    movies_api_backoff_base: float = Field(
        0.05,
        ge=0,
        le=10,
        description="Seconds; retry n waits a random time up to "
        "`min(MAX, BASE * 2**(n-1))`, or `Retry-After` if longer.",
    )
    movies_api_backoff_max: float = Field(
        1.0, ge=0, le=60, description="Seconds; cap of one backoff wait (before jitter)."
    )
    movies_api_connect_timeout: float = Field(
        2.0, gt=0, le=60, description="Seconds per attempt to connect to the upstream."
    )
    movies_api_read_timeout: float = Field(
        4.0, gt=0, le=120, description="Seconds per attempt between bytes from the upstream."
    )
    movies_api_max_body_bytes: int = Field(
        1_048_576,
        ge=4096,
        description="Largest upstream answer read, decompressed; a larger one is refused (502) "
        "without reading further.",
    )
    movies_api_deadline: float = Field(
        10.0,
        gt=0,
        le=120,
        description="Seconds for one `/movies/` request, retries included (then 504).",
    )
    movies_api_max_connections: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Concurrent upstream connections per process (callers beyond wait, within "
        "the deadline).",
    )
    movies_api_max_keepalive: int = Field(
        100, ge=0, le=10_000, description="Idle keep-alive connections kept per process."
    )
    movies_api_pool_shards: int = Field(
        8,
        ge=1,
        le=256,
        description="Connection pools those connections are split over, used in turn (keeps "
        "httpcore's per-request pool scan short).",
    )
    movies_max_page: int = Field(
        100_000, ge=1, description="Largest `page` accepted by `/movies/` (422 above)."
    )

    redis_url: str | None = Field(
        None, description="`redis://host:port/db`; enables the Redis backends."
    )
    redis_cluster: bool = Field(
        False,
        description="`true`: `REDIS_URL` names one node of a Redis Cluster; the others are "
        "discovered and each key goes to its slot's node (counter shards on several nodes with "
        "`COUNTER_SHARDS`; rate-limit keys share the hash tag `{ratelimit}`, so one node holds "
        "them).",
    )
    redis_key_prefix: str = Field(
        "movie-collections:",
        description="Prefix of every Redis key (several deployments on one Redis).",
    )
    redis_socket_timeout: float = Field(
        1.0, gt=0, description="Seconds before a Redis connect or command gives up."
    )

    counter_backend: Literal["auto", "local", "redis", "off"] = Field(
        "auto",
        description="Request counter store: `auto` (`redis` when `REDIS_URL` is set, else "
        "`local`), `local` (files in `COUNTER_DIR`), `redis`, or `off` (no counting, the "
        "endpoints answer 503; for the overhead benchmark).",
    )
    counter_dir: Path | None = Field(
        None,
        description="The local backend's files (one per worker process, a state file, a lock "
        "file). Unset: `DATA_DIR/counter`.",
    )
    counter_shards: int = Field(
        1,
        ge=1,
        le=1024,
        description="Redis keys the count is spread over (different Redis Cluster slots: no hot "
        "key; 4 or more reach all three nodes of a 3-master cluster); reads sum them.",
    )
    counter_durable_wait: float = Field(
        0.05,
        ge=0,
        le=5,
        description="Seconds a response waits at most for its count to be confirmed by Redis.",
    )
    counter_retry_max_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Longest pause between reconnections while Redis is unreachable; with "
        "`REDIS_SOCKET_TIMEOUT` it sets the settle time after an outage (retry max + 2 x socket "
        "timeout) during which the count answers 503.",
    )

    max_body_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="Larger request bodies get 413."
    )
    max_movies_per_collection: int = Field(
        1000,
        ge=1,
        le=1000,
        description="Movies per collection, at most 1000 (the schema's maximum); checked on "
        "create, `PUT` and append (422).",
    )
    max_collections_per_user: int = Field(
        1000,
        ge=0,
        description="Collections one user may have, checked on create, import and copying a "
        "shared collection (422 beyond); 0: no limit.",
    )
    max_genres_per_movie: int = Field(
        20, ge=1, description="Distinct genres in one movie's `genres` (422 beyond)."
    )
    max_genre_chars: int = Field(
        50, ge=1, description="Longest single genre name, in characters (422 beyond)."
    )
    max_genres_per_collection: int = Field(
        200,
        ge=1,
        description="Distinct genres across one collection's movies (422 beyond): bounds the "
        "genre rows one write makes.",
    )
    writes_per_user_per_minute: int = Field(
        120,
        ge=0,
        description="Collection writes (POST, PUT, PATCH, DELETE) per user per sliding minute "
        "(429 beyond); 0: no limit.",
    )
    movies_written_per_user_per_minute: int = Field(
        10_000,
        ge=0,
        description="Movies one user may write (create, PUT, append, import, copy) per sliding "
        "minute (429 beyond; 422 for one request with more); 0: no limit. Bounds the work of "
        "a user posting the largest bodies.",
    )
    movies_per_user_per_minute: int = Field(
        120, ge=0, description="GET /movies/ per user per sliding minute (429 beyond); 0: none."
    )
    list_answers_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="Bytes of `GET /collection/` answers each process keeps, each valid for one "
        "version of one user's list, which is read from the database on every request "
        "(see [architecture](architecture.md)); `0` keeps none.",
    )
    detail_answers_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="The same for `GET /collection/<uuid>/`, each answer valid for one version "
        "(ETag) of one collection; `0` keeps none.",
    )

    http_max_header_bytes: int = Field(
        32 * 1024,
        ge=8 * 1024,
        le=1024 * 1024,
        description="Bytes of one request's line and headers; more: 431 and the connection "
        "is closed before the rest is read.",
    )
    http_header_read_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds a client has to send a request's line and headers, counted from "
        "its connection or its request's first byte; then the connection is closed.",
    )
    http_body_read_timeout: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Seconds a client has to send a request's body, counted from the end of "
        "its headers; then 408 and the connection is closed.",
    )
    http_write_timeout: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Seconds a client may read nothing of its answer while the server holds "
        "a full buffer for it; then the connection is dropped (its concurrency slot and "
        "buffered bytes freed).",
    )
    http_keep_alive_timeout: int = Field(
        5,
        ge=1,
        le=300,
        description="Seconds an idle keep-alive connection is kept open. Behind a proxy, set it "
        "above the proxy's idle timeout for its connections to the server (ingress-nginx, AWS "
        "ALB: 60 s), or the proxy now and then sends a request on a connection the server is "
        "closing, and its client gets a 502.",
    )
    http_max_concurrent_requests: int = Field(
        1024,
        ge=1,
        description="Requests one worker process serves at once; more get 503 with Retry-After "
        "(/health/live is always served).",
    )
    operator_usernames: str = Field(
        "",
        description="Comma-separated usernames (any case) allowed to reset the request "
        "counter; others get 403. Empty: any signed-in user may, as the spec asks.",
    )
    allowed_hosts: str = Field(
        "localhost,127.0.0.1,::1",
        description="Comma-separated host names (Host header, port ignored) the service "
        "answers for, `*.example.com` for subdomains; others get 400. `*`: any host.",
    )

    idempotency_key_ttl: timedelta = Field(
        timedelta(hours=24),
        description="How long an `Idempotency-Key` of `POST /collection/` is remembered "
        "(seconds or ISO 8601).",
    )
    idempotency_in_flight_timeout: timedelta = Field(
        timedelta(seconds=60),
        description="A key whose request has not finished after this long (its process died) "
        "is taken over by a retry; longer than any request can take.",
    )
    health_counts_in_request_count: bool = Field(
        True, description="Whether /health/live and /health/ready count as requests."
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="`DEBUG`, `INFO`, `WARNING` or `ERROR`."
    )
    fastapi_telemetry: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs (needs an "
        "OpenTelemetry SDK configured in the process). Off, it costs nothing per request; "
        "on, FastAPI asks the global providers on every request.",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins (`https://app.example.com`) whose pages may call "
        "the API from a browser (CORS, bearer tokens, no cookies); empty: none, and no CORS "
        "middleware is installed.",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="text: one readable line per record; json: one JSON object per line (time, "
        "level, logger, message, request_id, and route, status, duration_ms on access lines).",
    )
    access_log: bool = Field(
        False,
        description="One line per request (method, path without the query, route, status, "
        "duration, client address) on the `movie_collections.access` logger, at INFO whatever "
        "LOG_LEVEL says. `serve --access-log` turns it on too.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        min_length=16,
        description="Bearer token that GET /metrics (Prometheus) requires. Unset: no metrics "
        "are collected and /metrics answers 404.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError("DATABASE_URL must start with sqlite:// or postgresql://")
        if scheme == "sqlite":
            if _sqlite_file(value) is None:  # each process would have a database of its own
                raise ValueError("a SQLite DATABASE_URL names a file: sqlite:///path/to/file.db")
            return value
        hosts = urlsplit(value).netloc.rpartition("@")[2]
        for host in hosts.split(","):  # asyncpg takes several, each with its port
            try:
                port = urlsplit(f"//{host}").port  # out of 0-65535, or not a number
            except ValueError as error:
                raise ValueError(str(error)) from None
            if port == 0:
                raise ValueError("Port out of range 1-65535")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator(*DURATIONS, mode="before")
    @classmethod
    def _seconds_as_number(cls, value: object) -> object:
        """Environment values are strings: '86400' means seconds, like the number 86400."""
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    @model_validator(mode="after")
    def _positive_ttl(self) -> Settings:
        if self.access_token_ttl.total_seconds() < 1:
            raise ValueError("ACCESS_TOKEN_TTL must be at least one second")
        if self.idempotency_key_ttl.total_seconds() < 1:
            raise ValueError("IDEMPOTENCY_KEY_TTL must be at least one second")
        if self.idempotency_in_flight_timeout.total_seconds() <= 0:
            raise ValueError("IDEMPOTENCY_IN_FLIGHT_TIMEOUT must be positive")
        if self.refresh_token_ttl.total_seconds() < 1:
            raise ValueError("REFRESH_TOKEN_TTL must be at least one second")
        if self.auth_rate_limit_window.total_seconds() < 1:
            raise ValueError("AUTH_RATE_LIMIT_WINDOW must be at least one second")
        for name in DURATIONS:
            if getattr(self, name) > LONGEST_DURATION:
                raise ValueError(f"{name.upper()} must be at most {LONGEST_DURATION.days} days")
        if 0 < self.movies_written_per_user_per_minute < self.max_movies_per_collection:
            raise ValueError(
                "MOVIES_WRITTEN_PER_USER_PER_MINUTE must be 0 or at least "
                "MAX_MOVIES_PER_COLLECTION (else a full collection could never be written)"
            )
        return self

    @model_validator(mode="after")
    def _strong_keys(self) -> Settings:
        if self.secret_key is not None and weak_key(self.secret_key.get_secret_value()):
            raise ValueError(f"SECRET_KEY {WEAK_KEY}")
        if any(weak_key(key) for key in self.previous_signing_keys):
            raise ValueError(f"every PREVIOUS_SECRET_KEYS entry {WEAK_KEY}")
        return self

    @model_validator(mode="after")
    def _counter_store_exists(self) -> Settings:
        if self.counter_backend == "redis" and self.redis_url is None:
            raise ValueError("COUNTER_BACKEND=redis needs REDIS_URL")
        return self

    @property
    def resolved_counter_backend(self) -> Literal["local", "redis", "off"]:
        if self.counter_backend == "auto":
            return "redis" if self.redis_url is not None else "local"
        return self.counter_backend

    @property
    def resolved_counter_dir(self) -> Path:
        return (
            self.counter_dir if self.counter_dir is not None else self.resolved_data_dir / "counter"
        )

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def previous_signing_keys(self) -> list[str]:
        """Keys of earlier rotations: tokens signed with them still verify until they expire."""
        raw = self.previous_secret_keys.get_secret_value()
        return [key.strip() for key in raw.split(",") if key.strip()]

    @property
    def operator_username_keys(self) -> frozenset[str] | None:
        """Lower-cased operator usernames, or None when every signed-in user is one."""
        names = {name.strip().lower() for name in self.operator_usernames.split(",")}
        names.discard("")
        return frozenset(names) or None

    @property
    def allowed_host_names(self) -> frozenset[str] | None:
        """Lower-case host names without brackets, or None when any host is allowed (`*`)."""
        names = {
            name.strip().lower().strip("[]").removesuffix(".")  # as the Host header's name
            for name in self.allowed_hosts.split(",")
        }
        names.discard("")
        return None if "*" in names else frozenset(names)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def async_database_url(self) -> str:
        """DATABASE_URL with the async driver of the Alembic migrations (aiosqlite or asyncpg)."""
        scheme, rest = self.database_url.split(":", 1)
        base = scheme.split("+", 1)[0]
        driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
        return driver.get(base, "postgresql+asyncpg") + ":" + rest

    @property
    def asyncpg_dsn(self) -> str:
        """DATABASE_URL as asyncpg reads it, libpq's parameters included (sslmode, ...)."""
        return "postgresql:" + self.database_url.split(":", 1)[1]

    @property
    def sqlite_path(self) -> Path | None:
        return _sqlite_file(self.database_url) if self.is_sqlite else None

    @cached_property
    def resolved_data_dir(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir
        sqlite_path = self.sqlite_path
        return sqlite_path.parent if sqlite_path is not None else Path("data")

    @cached_property
    def signing_key(self) -> str:
        """The key tokens are signed with; generated and stored once when SECRET_KEY is unset."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return load_or_create_secret_key(self.resolved_data_dir / SECRET_KEY_FILE_NAME)


WEAK_KEY = (
    "must be 32+ characters, at least 5 of them different and not blanks "
    "(python -c 'import secrets; print(secrets.token_urlsafe(48))' makes one)"
)


def weak_key(key: str) -> bool:
    """Too short, or a placeholder (blanks, one repeated character): guessable."""
    return len(key) < 32 or len(set(key) - set(string.whitespace)) < 5


def _sqlite_file(url: str) -> Path | None:
    """The file a `sqlite:///path` URL names (None: in memory, or no path)."""
    path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def load_or_create_secret_key(path: Path) -> str:
    """Read the key file, creating it atomically (mode 0600) if it does not exist yet.

    Several worker processes may start at once: the key is written to a private temporary
    file and hard-linked into place, so exactly one key wins and every process reads it.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = open_private_file(temporary, os.O_WRONLY | os.O_EXCL)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(64))
    try:
        os.link(temporary, path)
        logger.warning(
            "SECRET_KEY is not set: generated one and stored it in %s (mode 0600). "
            "Set SECRET_KEY explicitly when running more than one host.",
            path,
        )
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if weak_key(key):
        raise ValueError(f"the secret key in {path} {WEAK_KEY}")
    return key
