"""docs/configuration.md, rendered from the Settings model: every variable, default and meaning."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr

from movie_collections.core.settings import Settings

HEADER = """# Configuration

<!-- Generated from the settings model (src/movie_collections/core/settings.py) by
`make docs`: edit the fields' descriptions there, not this file. -->

Settings come from environment variables, or a `.env` file in the working directory; names
are case-insensitive. They are validated at start: a bad value stops the service with a
message naming the setting. Durations take seconds or ISO 8601 (`PT24H`). `serve` also reads
`WEB_CONCURRENCY`, its number of worker processes (default 1; `--workers` overrides it), and
the container image `PORT`, the port it binds (default 8000).

| Variable | Default | Meaning |
| --- | --- | --- |
"""


def render_configuration() -> str:
    rows = [
        f"| `{name.upper()}` | {_default(field.default)} | {_cell(field.description or '')} |"
        for name, field in Settings.model_fields.items()
    ]
    return HEADER + "\n".join(rows) + "\n"


def _default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, Path):
        value = value.as_posix()
    return f"`{value}`"


def _cell(text: str) -> str:
    """A description as one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")
