"""Cursors of GET /collection/: where the next page starts, signed so that a client can
neither forge nor alter one (HMAC-SHA256 with a key derived from the app secret)."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from movie_collections.core.errors import BadRequest

INVALID_CURSOR = "The cursor is not valid for this list; start again from the first page."
_TIME_SORTS = frozenset({"-created", "created", "-updated"})


@dataclass(frozen=True, slots=True)
class Position:
    """After which row of which list (owner, sort, search) the next page starts."""

    owner_id: uuid.UUID
    sort: str
    search: str | None
    key: Any  # a datetime, or the casefolded title
    collection_id: uuid.UUID


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Cursors:
    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"collection-list-cursor", hashlib.sha256).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def encode(self, position: Position) -> str:
        key = position.key.isoformat() if isinstance(position.key, datetime) else position.key
        payload = json.dumps(
            [
                position.owner_id.hex,
                position.sort,
                position.search,
                key,
                position.collection_id.hex,
            ],
            separators=(",", ":"),
        ).encode()
        return f"{_encode(payload)}.{_encode(self._mac(payload))}"

    def decode(self, cursor: str, owner_id: uuid.UUID, sort: str, search: str | None) -> Position:
        """The position a cursor names, if this server signed it for this very list; else 400."""
        try:
            encoded_payload, encoded_mac = cursor.split(".")
            payload, mac = _decode(encoded_payload), _decode(encoded_mac)
        except (ValueError, binascii.Error) as error:
            raise BadRequest(INVALID_CURSOR) from error
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise BadRequest(INVALID_CURSOR)
        owner, cursor_sort, cursor_search, key, collection = json.loads(payload)
        if (owner, cursor_sort, cursor_search) != (owner_id.hex, sort, search):
            raise BadRequest(INVALID_CURSOR)
        if sort in _TIME_SORTS:
            key = datetime.fromisoformat(key)
        return Position(owner_id, sort, search, key, uuid.UUID(collection))


@functools.lru_cache(maxsize=4)
def cursors_for(secret: str) -> Cursors:
    """The process's Cursors for the app secret (the key is derived once)."""
    return Cursors(secret)
