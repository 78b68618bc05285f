"""Schemathesis hooks of `make fuzz`: precondition headers naming the collection in the path.

Generated `If-Match` / `If-None-Match` values never name the addressed collection; here they
become its entity tag with a malformed version (sign, spaces, leading zeros, non-ASCII digits,
past a BIGINT) or the generated text, and `malformed_precondition_never_matches` checks them."""

from __future__ import annotations

import uuid
import zlib
from typing import Any

import schemathesis

# Superscript two, Arabic-Indic three and full-width one are digits to str.isdigit.
MALFORMED_VERSIONS = ["+1", "-1", "01", " 1", "1 ", "1.0", "\u00b2", "\u0663", "\uff11", str(2**63)]
IF_MATCH = "If-Match"
IF_NONE_MATCH = "If-None-Match"


def _tag_prefix(case: Any) -> str | None:
    """`"<collection hex>-` of the collection in the path, if the operation addresses one."""
    try:
        return f'"{uuid.UUID(str(case.path_parameters["collection_uuid"])).hex}-'
    except (KeyError, TypeError, ValueError):
        return None


def _malformed(generated: str) -> str:
    pick = zlib.crc32(generated.encode()) % (len(MALFORMED_VERSIONS) + 1)
    if pick < len(MALFORMED_VERSIONS):
        return MALFORMED_VERSIONS[pick]
    # The generated text, unless it happens to be a canonical version.
    return "0" + generated if generated.isascii() and generated.isdigit() else generated


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    prefix = _tag_prefix(case)
    if prefix is None or not case.headers:
        return
    for name in (IF_MATCH, IF_NONE_MATCH):
        generated = case.headers.get(name)
        if generated is not None:
            tag = f'{prefix}{_malformed(str(generated))}"'
            # Sent as UTF-8 bytes (the HTTP client writes header strings as Latin-1).
            case.headers[name] = tag.encode().decode("latin-1")


@schemathesis.check
def malformed_precondition_never_matches(ctx: Any, response: Any, case: Any) -> bool | None:
    prefix = _tag_prefix(case)
    headers = case.headers or {}
    if prefix is None:
        return None
    if str(headers.get(IF_MATCH, "")).startswith(prefix) and response.status_code < 300:
        raise AssertionError(f"If-Match {headers[IF_MATCH]!r} matched ({response.status_code})")
    if str(headers.get(IF_NONE_MATCH, "")).startswith(prefix) and response.status_code == 304:
        raise AssertionError(f"If-None-Match {headers[IF_NONE_MATCH]!r} matched (304)")
    return None
