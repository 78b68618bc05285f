"""The JSON body of GET /movies/: an upstream page with links to this service.

Requests that shared one upstream call (single-flight) get the same UpstreamPage object;
PageBodies renders its body once for all of them, keyed by that object's identity, so a body
only reaches requests of the call it was made from. Nothing outlives the call: not a cache.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import URL

from movie_collections.movies.schemas import MoviePage, UpstreamPage

# Bodies of this many pages at most are held (one per page, the last call's).
_HELD_PAGES = 64


class PageBodies:
    def __init__(self) -> None:
        self._last: dict[int, tuple[UpstreamPage, str, bytes]] = {}

    def body(self, upstream: UpstreamPage, page: int, here: URL) -> bytes:
        """page_body(), rendered once per upstream call and link base."""
        base = str(here)
        held = self._last.get(page)
        if held is not None and held[0] is upstream and held[1] == base:
            return held[2]
        body = page_body(upstream, page, here)
        if len(self._last) >= _HELD_PAGES:
            self._last.clear()
        self._last[page] = (upstream, base, body)
        return body


def page_body(upstream: UpstreamPage, page: int, here: URL) -> bytes:
    """The answer's JSON: the upstream page with links to `here` (this endpoint's URL)."""
    next_page = _linked_page(upstream.next, default=page + 1)
    previous_page = _linked_page(upstream.previous, default=page - 1)
    answer = MoviePage.model_construct(
        count=upstream.count,
        next=str(here.include_query_params(page=next_page)) if next_page else None,
        previous=str(here.include_query_params(page=previous_page)) if previous_page else None,
        data=upstream.data,
    )
    # Serialised once here: the upstream body was validated already, no second pass needed.
    return answer.__pydantic_serializer__.to_json(answer)


def _linked_page(link: str | None, *, default: int) -> int | None:
    """The page number an upstream link points to; None when there is no link.

    Only the number is kept: our link is built from this request's own base URL, so the
    upstream's host (and any credentials in its links) never reach the client. A link
    without `page` (as DRF gives for page 1) means the adjacent page.
    """
    if not link:
        return None
    values = parse_qs(urlsplit(link).query).get("page")
    if values and _PAGE_NUMBER.fullmatch(values[0]) and int(values[0]) >= 1:
        return int(values[0])
    return default if default >= 1 else None


# ASCII digits only, and few enough for int() (str.isdigit takes "²", which int() refuses).
_PAGE_NUMBER = re.compile(r"[0-9]{1,9}")
