"""Strong ETags of collections (id + version) and the If-Match / If-None-Match preconditions."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

# One element of `#entity-tag` and its comma (RFC 9110 sections 5.6.1 and 8.8.3): an entity
# tag is `"opaque"` or `W/"opaque"` (`W` upper case), opaque being %x21 / %x23-7E / obs-text;
# elements may be empty and are separated by commas with optional spaces or tabs around them.
_LIST_ELEMENT = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*)?(?:,|\Z)')


_MOST_VERSION = 2**63 - 1  # a BIGINT


def etag_for(collection_id: uuid.UUID, version: int) -> str:
    """Changes whenever the collection does: every write bumps `version`."""
    return f'"{collection_id.hex}-{version}"'


def _version_in(opaque: str, collection_id: uuid.UUID) -> int | None:
    """The version an opaque tag names for this collection, or None if it is not one of ours."""
    prefix = f"{collection_id.hex}-"
    if not opaque.startswith(prefix):
        return None
    digits = opaque[len(prefix) :]
    # Only the form etag_for writes: ASCII digits without sign, space or leading zero, at
    # most a BIGINT (str.isdigit alone takes `²` and `٣`). Nothing else names a version.
    canonical = digits.isascii() and digits.isdigit() and (digits == "0" or digits[0] != "0")
    if not canonical or len(digits) > len(str(_MOST_VERSION)):
        return None
    version = int(digits)
    return version if version <= _MOST_VERSION else None


@dataclass(frozen=True, slots=True)
class IfMatch:
    """A parsed If-Match: any current version (`*`) or one of the listed versions."""

    any_version: bool
    versions: frozenset[int]

    def allows(self, version: int) -> bool:
        return self.any_version or version in self.versions


def parse_if_match(header: str | None, collection_id: uuid.UUID) -> IfMatch | None:
    """None without the header. If-Match compares strongly, so weak tags never match, and
    neither does a value that is not `*` or a list of entity tags."""
    if header is None:
        return None
    if _is_star(header):
        return IfMatch(any_version=True, versions=frozenset())
    versions: set[int] = set()
    for weak, opaque in _entity_tags(header):
        version = None if weak else _version_in(opaque, collection_id)
        if version is not None:
            versions.add(version)
    return IfMatch(any_version=False, versions=frozenset(versions))


def if_none_match_hits(header: str | None, collection_id: uuid.UUID, version: int) -> bool:
    """True when the client already holds the current version (answer 304).

    If-None-Match compares weakly (RFC 9110 section 13.1.2): a `W/` prefix is ignored. A value
    that is not `*` or a list of entity tags names nothing, so it never hits.
    """
    if header is None:
        return False
    if _is_star(header):
        return True
    return any(
        _version_in(opaque, collection_id) == version for _weak, opaque in _entity_tags(header)
    )


@dataclass(frozen=True, slots=True)
class Preconditions:
    """A write's If-Match and If-None-Match (RFC 9110 section 13.1): the write goes ahead only
    if the current version matches the first and none of the second (`*`: there is one)."""

    if_match: IfMatch | None
    if_none_match: str | None

    def allow(self, collection_id: uuid.UUID, version: int) -> bool:
        if self.if_match is not None and not self.if_match.allows(version):
            return False
        return not if_none_match_hits(self.if_none_match, collection_id, version)


UNCONDITIONAL = Preconditions(None, None)


def _is_star(header: str) -> bool:
    return header.strip(" \t") == "*"


def _entity_tags(header: str) -> list[tuple[bool, str]]:
    """(weak, opaque) for each tag of a `#entity-tag` list; none if the value is not one."""
    tags: list[tuple[bool, str]] = []
    position = 0
    while position < len(header):
        # match, not search: text between elements would otherwise be skipped.
        element = _LIST_ELEMENT.match(header, position)
        if element is None:
            return []
        weak, opaque = element.groups()
        if opaque is not None:
            tags.append((weak is not None, opaque))
        position = element.end()
    return tags
