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
    """Only `_encode`'s own spelling: base64 decoding skips stray characters and padding, so
    altered spellings of one cursor would each read as it (the docs promise 400)."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _encode(data) != text:
        raise ValueError("not a cursor this server wrote")
    return data


class Cursors:
    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"collection-list-cursor", hashlib.sha256).digest()

    def _mac(self, owner_id: uuid.UUID, sort: str, search: str | None, payload: bytes) -> bytes:
        """Signs the position for one list: the list is in the MAC, not in the cursor, which
        then stays short whatever the search text."""
        signed = hmac.new(self._key, json.dumps([owner_id.hex, sort, search]).encode(), "sha256")
        signed.update(b"\0" + payload)
        return signed.digest()

    def encode(self, position: Position) -> str:
        key = position.key.isoformat() if isinstance(position.key, datetime) else position.key
        # UTF-8, not \u escapes: a title of 200 characters stays within 1,200 bytes.
        payload = json.dumps(
            [key, position.collection_id.hex], separators=(",", ":"), ensure_ascii=False
        ).encode()
        mac = self._mac(position.owner_id, position.sort, position.search, payload)
        return f"{_encode(payload)}.{_encode(mac)}"

    def decode(self, cursor: str, owner_id: uuid.UUID, sort: str, search: str | None) -> Position:
        """The position a cursor names, if this server signed it for this very list; else 400."""
        try:
            encoded_payload, encoded_mac = cursor.split(".")
            payload, mac = _decode(encoded_payload), _decode(encoded_mac)
        except (ValueError, binascii.Error) as error:
            raise BadRequest(INVALID_CURSOR) from error
        if not hmac.compare_digest(mac, self._mac(owner_id, sort, search, payload)):
            raise BadRequest(INVALID_CURSOR)
        key, collection = json.loads(payload)
        if sort in _TIME_SORTS:
            key = datetime.fromisoformat(key)
        return Position(owner_id, sort, search, key, uuid.UUID(collection))


@functools.lru_cache(maxsize=4)
def cursors_for(secret: str) -> Cursors:
    """The process's Cursors for the app secret (the key is derived once)."""
    return Cursors(secret)
