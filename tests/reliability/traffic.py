"""Write traffic for the fault tests, with the checker's own record of what was acknowledged.

Every collection's title says which version of it this is (`c<client>-<n> v<version>`), and
its movies are derived from that title, so from any stored collection the checker can tell
whether it is one whole version some client sent, and whether it is at least the last
acknowledged one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.conftest import PASSWORD


def movies_for(title: str) -> list[dict[str, str]]:
    """1-12 movies, determined by the title: a partial write cannot look complete."""
    seed = uuid.uuid5(uuid.NAMESPACE_URL, title)
    count = 1 + seed.int % 12
    return [
        {
            "title": f"{title} / {i}",
            "description": "",
            "genres": f"G{(seed.int >> i) % 5}",
            "uuid": str(uuid.uuid5(seed, str(i))),
        }
        for i in range(count)
    ]


@dataclass
class CollectionModel:
    """What the checker knows of one collection: the last acknowledged version and any
    versions sent later whose answer was lost (they may or may not have been applied)."""

    acknowledged_version: int
    attempted_versions: set[int] = field(default_factory=set)


@dataclass
class Traffic:
    """Several clients, each creating and then rewriting its own collections."""

    base_url: str
    clients: int = 4
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    # Timeline of (monotonic time, status or 0 for a transport error, seconds taken).
    timeline: list[tuple[float, int, float]] = field(default_factory=list)
    collections: dict[str, CollectionModel] = field(default_factory=dict)
    tokens: list[dict[str, str]] = field(default_factory=list)
    # Creates whose answer was lost: they may exist, but must be whole if they do.
    unacknowledged_creates: set[str] = field(default_factory=set)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    registered: asyncio.Event = field(default_factory=asyncio.Event)
    # Creates carry an Idempotency-Key and a failed one is retried with the same key and body
    # until it is acknowledged, as a client that timed out would.
    idempotent_creates: bool = False
    replays: int = 0
    # The Retry-After header of every 503 (None when missing).
    retry_after_of_503: list[str | None] = field(default_factory=list)

    async def register(self, http: httpx.AsyncClient) -> dict[str, str]:
        name = f"fault_{uuid.uuid4().hex[:10]}"
        for _ in range(100):
            try:
                response = await http.post(
                    "/register/", json={"username": name, "password": PASSWORD}
                )
            except httpx.TransportError:
                await asyncio.sleep(0.1)
                continue
            if response.status_code == 201:
                return {"Authorization": f"Bearer {response.json()['access_token']}"}
            if response.status_code == 409:  # an earlier attempt got through
                login = await http.post("/login/", json={"username": name, "password": PASSWORD})
                if login.status_code == 200:
                    return {"Authorization": f"Bearer {login.json()['access_token']}"}
            await asyncio.sleep(0.1)
        raise RuntimeError("could not register")

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=15) as http:
            self.tokens = [await self.register(http) for _ in range(self.clients)]
            self.registered.set()
            await asyncio.gather(*(self._client(http, n) for n in range(self.clients)))

    def _note(self, status: int, started: float, response: httpx.Response | None = None) -> None:
        if response is not None and status == 503:
            self.retry_after_of_503.append(response.headers.get("Retry-After"))
        now = time.monotonic()
        self.timeline.append((now, status, now - started))
        if status:
            self.statuses[status] += 1
        else:
            self.transport_errors += 1

    async def _client(self, http: httpx.AsyncClient, number: int) -> None:
        auth = self.tokens[number]
        mine: list[str] = []
        sequence = 0
        retrying: tuple[str, dict[str, str]] | None = None
        while not self.stop.is_set():
            sequence += 1
            if retrying is not None or not mine or sequence % 3 == 0:
                title, headers = retrying or (f"c{number}-{sequence} v1", dict(auth))
                if self.idempotent_creates and retrying is None:
                    headers["Idempotency-Key"] = str(uuid.uuid4())
                started = time.monotonic()
                try:
                    response = await http.post(
                        "/collection/",
                        json={"title": title, "movies": movies_for(title)},
                        headers=headers,
                    )
                except httpx.TransportError:
                    self._note(0, started)
                    self.unacknowledged_creates.add(title)
                    retrying = (title, headers) if self.idempotent_creates else None
                    continue
                self._note(response.status_code, started, response)
                if response.status_code == 201:
                    collection_id = response.json()["collection_uuid"]
                    self.collections[collection_id] = CollectionModel(1)
                    self.unacknowledged_creates.discard(title)
                    self.replays += response.headers.get("Idempotent-Replayed") == "true"
                    mine.append(collection_id)
                    retrying = None
                else:
                    self.unacknowledged_creates.add(title)
                    retrying = (title, headers) if self.idempotent_creates else None
                    await asyncio.sleep(0.05)
                continue
            collection_id = mine[sequence % len(mine)]
            model = self.collections[collection_id]
            version = max(model.acknowledged_version, *model.attempted_versions, 0) + 1
            title = f"{collection_id[:8]} v{version}"
            started = time.monotonic()
            try:
                response = await http.put(
                    f"/collection/{collection_id}/",
                    json={"title": title, "movies": movies_for(title)},
                    headers=auth,
                )
            except httpx.TransportError:
                self._note(0, started)
                model.attempted_versions.add(version)
                continue
            self._note(response.status_code, started, response)
            if response.status_code == 200:
                model.acknowledged_version = version
                model.attempted_versions = {v for v in model.attempted_versions if v > version}
            else:
                model.attempted_versions.add(version)
                await asyncio.sleep(0.05)

    async def verify(self, base_url: str) -> list[str]:
        """Read every collection back; the list of anomalies (empty when all is well)."""
        problems: list[str] = []
        titles: Counter[str] = Counter()
        async with httpx.AsyncClient(base_url=base_url, timeout=15) as http:
            owned: set[str] = set()
            for auth in self.tokens:
                listed = await http.get("/collection/", headers=auth)
                assert listed.status_code == 200, listed.text
                for summary in listed.json()["data"]["collections"]:
                    owned.add(summary["uuid"])
                    detail = (
                        await http.get(f"/collection/{summary['uuid']}/", headers=auth)
                    ).json()
                    if "-" in detail["title"]:  # still as created (c<client>-<n> v1)
                        titles[detail["title"]] += 1
                    if detail["movies"] != movies_for(detail["title"]):
                        problems.append(f"partial collection {summary['uuid']}: {detail['title']}")
                    model = self.collections.get(summary["uuid"])
                    if model is None:
                        # Only a create whose answer was lost may appear unannounced.
                        if detail["title"] not in self.unacknowledged_creates:
                            problems.append(f"unknown collection {summary['uuid']}")
                        continue
                    version = int(detail["title"].rsplit("v", 1)[1])
                    allowed = {model.acknowledged_version, *model.attempted_versions}
                    if version not in allowed or version < model.acknowledged_version:
                        problems.append(
                            f"{summary['uuid']} is at v{version}, "
                            f"acknowledged v{model.acknowledged_version}"
                        )
            for collection_id in self.collections:
                if collection_id not in owned:
                    problems.append(f"acknowledged collection {collection_id} is missing")
        if self.idempotent_creates:
            problems.extend(f"{title} created {n} times" for title, n in titles.items() if n > 1)
        return problems

    def statuses_between(self, start: float, end: float) -> Counter[int]:
        return Counter(status for moment, status, _ in self.timeline if start <= moment < end)

    def slowest_between(self, start: float, end: float, share: float = 0.95) -> float:
        """The `share` quantile of the seconds requests took (answered in the window)."""
        taken = sorted(seconds for moment, _, seconds in self.timeline if start <= moment < end)
        return taken[min(len(taken) - 1, int(len(taken) * share))] if taken else 0.0
