"""A user's journey through two API replicas (scripts/container_check.sh), request count checked.

Registers on one replica, logs in on the other, reads the catalogue, creates, reads, updates
and lists collections across both, and checks that GET /request-count/ moved by exactly the
number of requests sent to the two replicas together, then that a reset on one shows on the
other. Exits non-zero, saying what differed, on the first surprise.
"""

from __future__ import annotations

import secrets
import sys
from typing import Any

import httpx

PASSWORD = "Journey-pass-7f3c9a21"  # noqa: S105 (a throwaway user, deleted at the end)


class Replicas:
    """Both replicas, and how many requests went to them."""

    def __init__(self, first: str, second: str) -> None:
        self.clients = [httpx.Client(base_url=url, timeout=30) for url in (first, second)]
        self.sent = 0
        self.token = ""

    def call(self, replica: int, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = self.clients[replica].request(method, path, headers=headers, **kwargs)
        self.sent += 1
        if response.status_code != expect:
            sys.exit(
                f"{method} {path} on replica {replica + 1}: {response.status_code}, "
                f"expected {expect}: {response.text[:500]}"
            )
        return response.json() if response.content else None


def check(condition: bool, message: str) -> None:
    if not condition:
        sys.exit(f"journey: {message}")


def main() -> None:
    replicas = Replicas(sys.argv[1], sys.argv[2])
    user = {"username": f"journey-{secrets.token_hex(4)}", "password": PASSWORD}
    replicas.call(0, "POST", "/register/", 201, json=user)
    replicas.token = replicas.call(1, "POST", "/login/", 200, json=user)["access_token"]

    before = replicas.call(0, "GET", "/request-count/", 200)["requests"]
    replicas.sent = 0
    movies = replicas.call(1, "GET", "/movies/", 200, params={"page": 1})["data"][:3]
    check(len(movies) == 3, f"the catalogue's first page has {len(movies)} movies")
    created = replicas.call(
        1,
        "POST",
        "/collection/",
        201,
        json={"title": "Across replicas", "description": "made on 2", "movies": movies[:2]},
    )
    path = f"/collection/{created['collection_uuid']}/"
    detail = replicas.call(0, "GET", path, 200)
    check([m["uuid"] for m in detail["movies"]] == [m["uuid"] for m in movies[:2]], "movies")
    replicas.call(0, "PUT", path, 200, json={"title": "Renamed on 1", "movies": movies})
    detail = replicas.call(1, "GET", path, 200)
    check(detail["title"] == "Renamed on 1", f"replica 2 reads the title {detail['title']!r}")
    check(len(detail["movies"]) == 3, f"replica 2 reads {len(detail['movies'])} movies")
    listed = replicas.call(0, "GET", "/collection/", 200)
    check(len(listed["data"]["collections"]) == 1, "replica 1 lists one collection")
    for index in range(20):
        replicas.call(index % 2, "GET", "/me/", 200)

    after = replicas.call(1, "GET", "/request-count/", 200)["requests"]
    # The read itself is counted, and nothing else reached the replicas (probes are not counted).
    check(
        after - before == replicas.sent,
        f"count moved {after - before}, {replicas.sent} requests were sent",
    )
    replicas.call(0, "POST", "/request-count/reset/", 200)
    count = replicas.call(1, "GET", "/request-count/", 200)["requests"]
    check(count == 1, f"after a reset on replica 1, replica 2 counts {count} (expected 1)")
    replicas.call(1, "DELETE", "/me/", 204)
    print(f"journey: {after - before} requests over 2 replicas counted exactly; reset shared")


if __name__ == "__main__":
    main()
