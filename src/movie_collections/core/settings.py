"""The one Settings object: every knob of the service, from the environment, validated at start."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///./data/movie_collections.db"
SECRET_KEY_FILE_NAME = "secret_key"  # noqa: S105


class Settings(BaseSettings):
    """All configuration. Field names are the environment variable names (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="sqlite:///path or postgresql://user@host/db (driven by sqlite3 or asyncpg).",
    )
    data_dir: Path | None = Field(
        None,
        description="Where local state lives (secret key, counter files). "
        "Default: the SQLite file's folder, or ./data.",
    )
    secret_key: SecretStr | None = Field(
        None,
        min_length=32,
        description="HS256 signing key. Unset: generated once and kept in DATA_DIR/secret_key.",
    )
    previous_secret_keys: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated keys that tokens signed before a key rotation may still "
        "carry; they verify but never sign.",
    )
    access_token_ttl: timedelta = Field(
        timedelta(hours=24), description="Life of an access token (seconds or ISO 8601)."
    )
    refresh_token_ttl: timedelta = Field(
        timedelta(days=30), description="Life of a refresh token (seconds or ISO 8601)."
    )
    token_issuer: str = Field(
        "movie-collections", min_length=1, description="`iss` of access tokens, checked."
    )
    token_audience: str = Field(
        "movie-collections", min_length=1, description="`aud` of access tokens, checked."
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
        timedelta(minutes=1), description="The sliding window of the auth rate limits."
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
    password_hash_time_cost: int = Field(3, ge=1, le=50)
    password_hash_memory_kib: int = Field(65536, ge=8, le=4 * 1024 * 1024)
    password_hash_parallelism: int = Field(4, ge=1, le=64)

    database_pool_size: int = Field(10, ge=1, le=1000)
    database_max_overflow: int = Field(0, ge=0, le=1000)
    database_pool_timeout: float = Field(10.0, gt=0)
    database_statement_timeout: float = Field(
        15.0, gt=0, description="Seconds before a statement is cancelled (PostgreSQL)."
    )
    sqlite_busy_timeout: float = Field(
        30.0, gt=0, description="Seconds a SQLite writer waits for the write lock."
    )

    movies_api_url: str = Field(
        "https://demo.credy.in/api/v1/maya/movies/", description="The third-party catalogue."
    )
    movies_api_username: str = ""
    movies_api_password: SecretStr = SecretStr("")
    # Defaults: 6 attempts make a 30%-failing upstream fail a call 0.3**6 = 0.07% of the time,
    # and the 10 s deadline answers within 15 s even when the upstream hangs.
    movies_api_attempts: int = Field(6, ge=1, le=20, description="Upstream tries per request.")
    movies_api_backoff_base: float = Field(
        0.05, ge=0, le=10, description="Seconds; the n-th retry waits up to base * 2**n."
    )
    movies_api_backoff_max: float = Field(
        1.0, ge=0, le=60, description="Seconds; cap of one backoff wait (before jitter)."
    )
    movies_api_connect_timeout: float = Field(2.0, gt=0, le=60)
    movies_api_read_timeout: float = Field(
        4.0, gt=0, le=120, description="Seconds without a byte from the upstream."
    )
    movies_api_deadline: float = Field(
        10.0, gt=0, le=120, description="Seconds for one /movies/ request, all retries included."
    )
    movies_api_max_connections: int = Field(
        100, ge=1, le=10_000, description="Concurrent upstream connections per process."
    )
    movies_api_max_keepalive: int = Field(
        100, ge=0, le=10_000, description="Idle keep-alive connections kept per process."
    )
    movies_api_pool_shards: int = Field(
        8, ge=1, le=256, description="Connection pools the upstream connections are split over."
    )
    movies_max_page: int = Field(
        100_000, ge=1, description="Largest page number accepted by /movies/ (422 above)."
    )

    redis_url: str | None = Field(None, description="redis://host:port/db; enables Redis backends.")
    redis_cluster: bool = Field(
        False,
        description="REDIS_URL names one node of a Redis Cluster: discover the others and "
        "route each key to its slot's node.",
    )
    redis_key_prefix: str = Field(
        "movie-collections:", description="Prefix of every Redis key (several deployments, tests)."
    )
    redis_socket_timeout: float = Field(
        1.0, gt=0, description="Seconds before a Redis connect or command gives up."
    )

    counter_backend: Literal["auto", "local", "redis", "off"] = Field(
        "auto",
        description="Request counter store: auto (redis when REDIS_URL is set, else local), "
        "local (files in COUNTER_DIR), redis, or off (no counting; for the overhead benchmark).",
    )
    counter_dir: Path | None = Field(
        None, description="Local counter files. Default: DATA_DIR/counter."
    )
    counter_shards: int = Field(
        1, ge=1, le=1024, description="Redis keys the count is spread over (Redis Cluster)."
    )
    counter_durable_wait: float = Field(
        0.05,
        ge=0,
        le=5,
        description="Seconds a response waits at most for its count to reach Redis.",
    )
    counter_retry_max_seconds: float = Field(
        1.0, gt=0, le=60, description="Longest pause between retries of an unsent Redis count."
    )

    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="Larger bodies get 413.")
    max_movies_per_collection: int = Field(
        1000,
        ge=1,
        le=1000,
        description="Movies per collection; at most the schema's documented maximum (1000).",
    )
    max_collections_per_user: int = Field(
        1000, ge=0, description="Collections one user may have (422 beyond); 0: no limit."
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
        description="Collection writes (POST, PUT, DELETE) per user per sliding minute "
        "(429 beyond); 0: no limit.",
    )
    movies_written_per_user_per_minute: int = Field(
        10_000,
        ge=0,
        description="Movies one user may write (create, PUT, append) per sliding minute (429 "
        "beyond); 0: no limit. Bounds the work of a user posting the largest bodies.",
    )
    movies_per_user_per_minute: int = Field(
        120, ge=0, description="GET /movies/ per user per sliding minute (429 beyond); 0: none."
    )
    list_answers_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="Bytes of GET /collection/ answers each process keeps, each valid for one "
        "version of one user's list (checked against the database on every request); 0 keeps "
        "none.",
    )
    detail_answers_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="Bytes of GET /collection/<uuid>/ answers each process keeps, each valid "
        "for one version of one collection (checked against the database on every request); 0 "
        "keeps none.",
    )

    idempotency_key_ttl: timedelta = Field(
        timedelta(hours=24),
        description="How long an Idempotency-Key of POST /collection/ is remembered.",
    )
    idempotency_in_flight_timeout: timedelta = Field(
        timedelta(seconds=60),
        description="A key whose request has not finished after this long is taken over "
        "(its process died); longer than any request can take.",
    )
    health_counts_in_request_count: bool = Field(
        True, description="Whether /health/live and /health/ready count as requests."
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    fastapi_telemetry: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs (needs an "
        "OpenTelemetry SDK configured in the process). Off, it costs nothing per request; "
        "on, FastAPI asks the global providers on every request.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError("DATABASE_URL must start with sqlite:// or postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator(
        "access_token_ttl", "idempotency_key_ttl", "idempotency_in_flight_timeout", mode="before"
    )
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
        if any(len(key) < 32 for key in self.previous_signing_keys):
            raise ValueError("every PREVIOUS_SECRET_KEYS entry must be 32+ characters")
        if 0 < self.movies_written_per_user_per_minute < self.max_movies_per_collection:
            raise ValueError(
                "MOVIES_WRITTEN_PER_USER_PER_MINUTE must be 0 or at least "
                "MAX_MOVIES_PER_COLLECTION (else a full collection could never be written)"
            )
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
    def previous_signing_keys(self) -> list[str]:
        """Keys of earlier rotations: tokens signed with them still verify until they expire."""
        raw = self.previous_secret_keys.get_secret_value()
        return [key.strip() for key in raw.split(",") if key.strip()]

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
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[1] if ":///" in self.database_url else ""
        return Path(path.split("?", 1)[0]) if path and path != ":memory:" else None

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


def load_or_create_secret_key(path: Path) -> str:
    """Read the key file, creating it atomically (mode 0600) if it does not exist yet.

    Several worker processes may start at once: the key is written to a private temporary
    file and hard-linked into place, so exactly one key wins and every process reads it.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
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
    if len(key) < 32:
        raise ValueError(f"{path} holds a secret key shorter than 32 characters")
    return key
