"""Settings are validated at start and accept the documented forms."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from movie_collections.core.settings import Settings, load_or_create_secret_key


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("3", timedelta(seconds=3)), ("86400", timedelta(days=1)), ("PT2H", timedelta(hours=2))],
)
def test_access_token_ttl_accepts_seconds_and_iso_8601(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: timedelta
) -> None:
    monkeypatch.setenv("ACCESS_TOKEN_TTL", raw)
    assert Settings(_env_file=None).access_token_ttl == expected  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "name", [name for name, field in Settings.model_fields.items() if field.annotation is timedelta]
)
def test_every_duration_accepts_seconds_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """As docs/configuration.md says: durations take seconds or ISO 8601."""
    monkeypatch.setenv(name.upper(), "90")
    assert getattr(Settings(_env_file=None), name) == timedelta(seconds=90)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACCESS_TOKEN_TTL", "soon"),
        ("ACCESS_TOKEN_TTL", "0"),
        ("ACCESS_TOKEN_TTL", "P9999Y"),
        ("REFRESH_TOKEN_TTL", "P9999Y"),
        ("AUTH_RATE_LIMIT_WINDOW", "P11Y"),
        ("IDEMPOTENCY_KEY_TTL", "99999999999"),
        ("IDEMPOTENCY_IN_FLIGHT_TIMEOUT", "99999999999"),
        ("DATABASE_URL", "mysql://localhost/db"),
        ("REDIS_URL", "http://localhost"),
        ("SECRET_KEY", "too-short"),
        ("SECRET_KEY", " " * 40),
        ("SECRET_KEY", "a" * 64),
        ("SECRET_KEY", "abab \t" * 10),
        ("PREVIOUS_SECRET_KEYS", "x" * 40),
        ("PREVIOUS_SECRET_KEYS", f"{'k3Y-0' * 8}, {'-' * 40}"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("METRICS_TOKEN", "guessable"),
    ],
)
def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_a_key_of_five_different_characters_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "abcde" * 7)
    monkeypatch.setenv("PREVIOUS_SECRET_KEYS", f"{'k3Y-0' * 8}, {'fghij' * 7}")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.signing_key == "abcde" * 7
    assert settings.previous_signing_keys == ["k3Y-0" * 8, "fghij" * 7]


@pytest.mark.parametrize(
    ("url", "driver_url"),
    [
        ("sqlite:///./data/x.db", "sqlite+aiosqlite:///./data/x.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_async_driver_is_chosen(url: str, driver_url: str) -> None:
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    assert settings.async_database_url == driver_url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@h1:5432,h2:5433/db",  # asyncpg tries each host
        "postgresql://u@[::1]:5432/db",
        "postgresql:///db?host=/var/run/postgresql",
        "sqlite:////absolute/app.db",
        "sqlite:///relative.db?mode=ro",
    ],
)
def test_database_urls_the_drivers_take_are_accepted(url: str) -> None:
    assert Settings(_env_file=None, database_url=url).database_url == url  # type: ignore[call-arg]


def test_generated_secret_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret_key"
    first = load_or_create_secret_key(path)
    assert len(first) >= 64
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret_key(path) == first
