"""If-Match and If-None-Match are parsed strictly: only the exact tag we issued matches.

A version written any other way (sign, space, leading zero, non-ASCII digits, past a BIGINT)
names no version: If-Match with it is 412, If-None-Match ignores it, never a 500. Hypothesis
sends such headers over HTTP, the tags built on the real collection's id.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from movie_collections.collection.etags import if_none_match_hits, parse_if_match
from movie_collections.core.settings import Settings
from tests.conftest import make_settings, movie

COLLECTION = uuid.UUID("0b3d7d3e-1111-4c1e-9a52-0e5a0f1d2c01")
BIGINT = 2**63 - 1


def non_canonical_spellings(version: int) -> list[str]:
    digits = str(version)
    arabic_indic = "".join(chr(0x0660 + int(digit)) for digit in digits)
    fullwidth = "".join(chr(0xFF10 + int(digit)) for digit in digits)
    return [
        f"+{digits}",
        f"-{digits}",
        f"0{digits}",
        f"00{digits}",
        f" {digits}",
        f"{digits} ",
        f"\t{digits}",
        f"{digits}.0",
        f"{digits}e0",
        f"{digits}_0",
        arabic_indic,
        fullwidth,
        "²",
        "",
        "-0",
        str(BIGINT + 1),
        str(-(BIGINT + 1)),
        "9" * 5000,
    ]


def tag(collection_id: uuid.UUID, spelling: str) -> str:
    return f'"{collection_id.hex}-{spelling}"'


@pytest.mark.parametrize("version", [0, 3, 10, BIGINT])
def test_only_the_canonical_spelling_names_a_version(version: int) -> None:
    assert parse_if_match(tag(COLLECTION, str(version)), COLLECTION).allows(version)  # type: ignore[union-attr]
    assert if_none_match_hits(tag(COLLECTION, str(version)), COLLECTION, version)
    for spelling in non_canonical_spellings(version):
        condition = parse_if_match(tag(COLLECTION, spelling), COLLECTION)
        assert condition is not None
        assert condition.versions == frozenset(), spelling
        assert not if_none_match_hits(tag(COLLECTION, spelling), COLLECTION, version), spelling


SMALL = st.integers(0, 20)
DECORATED_NUMBERS = st.builds(
    "{}{}{}".format,
    st.sampled_from(["", "+", "-", "0", " ", "\t"]),
    SMALL,
    st.sampled_from(["", " ", ".0", "\n"]),
)


@given(spelling=st.one_of(st.text(max_size=30), DECORATED_NUMBERS), version=SMALL)
def test_any_text_names_a_version_only_as_its_exact_decimal(spelling: str, version: int) -> None:
    header = tag(COLLECTION, spelling.replace('"', ""))
    exact = spelling.replace('"', "") == str(version)
    condition = parse_if_match(header, COLLECTION)
    assert condition is not None
    assert condition.allows(version) == exact
    assert if_none_match_hits(header, COLLECTION, version) == exact


# What an HTTP header can carry: visible Latin-1 (Starlette decodes header bytes as Latin-1).
HEADER_TEXT = st.text(
    alphabet=st.characters(codec="latin-1", exclude_categories=("Cc",), exclude_characters='"'),
    max_size=25,
)


def header_bytes(value: str) -> bytes:
    """Latin-1 bytes where they exist (`²` arrives as itself), else UTF-8 as clients send."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Hundreds of PUTs from one user: past the writes budget, which is not under test here."""
    return make_settings(database_url, tmp_path / "data", writes_per_user_per_minute=0)


async def test_malformed_versions_over_http_are_412_and_ignored(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    created = await client.post(
        "/collection/", json={"title": "t", "movies": [movie(1)]}, headers=auth
    )
    collection_id = uuid.UUID(created.json()["collection_uuid"])
    path = f"/collection/{collection_id}/"
    current = (await client.get(path, headers=auth)).headers["ETag"]
    version = int(current.strip('"').rsplit("-", 1)[1])

    async def check(spelling: str) -> None:
        header = header_bytes(tag(collection_id, spelling))
        read = await client.get(path, headers={**auth, "If-None-Match": header})  # type: ignore[dict-item]
        assert read.status_code == 200, spelling
        assert read.json()["title"] == "t"
        written = await client.put(
            path,
            json={"title": "changed"},
            headers={**auth, "If-Match": header},  # type: ignore[dict-item]
        )
        assert written.status_code == 412, (spelling, written.text)
        assert written.headers["ETag"] == current

    for spelling in non_canonical_spellings(version):
        await check(spelling)

    # Hypothesis drives from a thread; each example's requests run on this test's loop.
    loop = asyncio.get_running_loop()

    @hypothesis_settings(max_examples=150, deadline=None)
    @given(spelling=HEADER_TEXT.filter(lambda text: text != str(version)))
    def check_any(spelling: str) -> None:
        asyncio.run_coroutine_threadsafe(check(spelling), loop).result()

    await asyncio.to_thread(check_any)
