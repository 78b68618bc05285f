"""A user's journey through the typed client generated from the live /openapi.json.

Run by scripts/client_journey.sh (with the generated `movie_collections_client` importable):
register -> login -> browse -> create (idempotent) -> read (ETag, 304) -> update (412 on a
stale ETag) -> delete -> 404, every answer parsed into the documented model. Any status the
document does not list raises (raise_on_unexpected_status). Usage: client_journey.py BASE_URL
"""

from __future__ import annotations

import secrets
import sys
import uuid
from http import HTTPStatus
from typing import Any

from movie_collections_client import AuthenticatedClient, Client
from movie_collections_client.api.auth import login, register
from movie_collections_client.api.collections import (
    create_collection,
    delete_collection,
    get_collection,
    list_collections,
    update_collection,
)
from movie_collections_client.api.movies import list_movies
from movie_collections_client.api.request_counter import get_request_count
from movie_collections_client.models import (
    CollectionCreate,
    CollectionCreated,
    CollectionDetail,
    CollectionList,
    CollectionUpdate,
    Credentials,
    Movie,
    MoviePage,
    ProblemDetail,
    RequestCount,
    TokenPair,
)


def expect(response: Any, status: HTTPStatus, model: type) -> Any:
    """The answer has this status and parsed into this model."""
    if response.status_code != status or not isinstance(response.parsed, model):
        sys.exit(
            f"expected {status.value} {model.__name__}, got {response.status_code}: "
            f"{response.content[:300]!r}"
        )
    print(f"  {status.value} {model.__name__}")
    return response.parsed


def main(base_url: str) -> None:
    credentials = Credentials(username=f"journey_{secrets.token_hex(4)}", password="s3cret-passw0rd")
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    print("register, login")
    expect(register.sync_detailed(client=anonymous, body=credentials), HTTPStatus.CREATED, TokenPair)
    tokens = expect(login.sync_detailed(client=anonymous, body=credentials), HTTPStatus.OK, TokenPair)
    client = AuthenticatedClient(
        base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True
    )

    print("browse the catalogue")
    page = expect(list_movies.sync_detailed(client=client, page=1), HTTPStatus.OK, MoviePage)
    movies = [
        Movie(title=m.title, uuid=uuid.UUID(m.uuid), description=m.description, genres=m.genres)
        for m in page.data[:3]
    ]

    print("create, then retry the create with the same Idempotency-Key")
    body = CollectionCreate(title="Weekend", description="To watch", movies=movies[:2])
    key = str(uuid.uuid4())
    created = expect(
        create_collection.sync_detailed(client=client, body=body, idempotency_key=key),
        HTTPStatus.CREATED,
        CollectionCreated,
    )
    replay = create_collection.sync_detailed(client=client, body=body, idempotency_key=key)
    replayed = expect(replay, HTTPStatus.CREATED, CollectionCreated)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replayed.collection_uuid == created.collection_uuid
    collection_id = str(created.collection_uuid)

    print("read, list, read again unchanged")
    read = get_collection.sync_detailed(collection_id, client=client)
    detail = expect(read, HTTPStatus.OK, CollectionDetail)
    assert [m.uuid for m in detail.movies] == [m.uuid for m in movies[:2]]
    etag = read.headers["ETag"]
    overview = expect(list_collections.sync_detailed(client=client), HTTPStatus.OK, CollectionList)
    assert [c.uuid for c in overview.data.collections] == [created.collection_uuid]
    unchanged = get_collection.sync_detailed(collection_id, client=client, if_none_match=etag)
    assert unchanged.status_code == HTTPStatus.NOT_MODIFIED, unchanged.status_code
    print("  304")

    print("update with If-Match, then again with the stale ETag")
    change = CollectionUpdate(title="Long weekend", movies=movies)
    updated = update_collection.sync_detailed(
        collection_id, client=client, body=change, if_match=etag
    )
    assert expect(updated, HTTPStatus.OK, CollectionDetail).title == "Long weekend"
    stale = update_collection.sync_detailed(
        collection_id, client=client, body=change, if_match=etag
    )
    expect(stale, HTTPStatus.PRECONDITION_FAILED, ProblemDetail)
    assert stale.headers["ETag"] == updated.headers["ETag"]

    print("delete, then read it: 404, as for an id that is not a UUID")
    deleted = delete_collection.sync_detailed(
        collection_id, client=client, if_match=updated.headers["ETag"]
    )
    assert deleted.status_code == HTTPStatus.NO_CONTENT, deleted.status_code
    print("  204")
    for missing in (collection_id, "not-a-uuid"):
        gone = get_collection.sync_detailed(missing, client=client)
        assert expect(gone, HTTPStatus.NOT_FOUND, ProblemDetail).status == HTTPStatus.NOT_FOUND

    count = expect(get_request_count.sync_detailed(client=client), HTTPStatus.OK, RequestCount)
    print(f"journey done; the service has served {count.requests} requests")


if __name__ == "__main__":
    main(sys.argv[1])
