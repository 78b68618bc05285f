"""Adding a field to a collection is the model, the schemas and a migration: nothing else.

A copy of the package gets exactly those edits (an optional `rating`), then serves it: the
field is stored, answered, changed, listed and documented without touching the repository,
the service or the routes. (Export and the shared view have schemas of their own.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import movie_collections

pytestmark = pytest.mark.slow

PACKAGE = Path(movie_collections.__file__).parent

MIGRATION = '''"""A rating of the whole collection.

Revision ID: 0099
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("collections", sa.Column("rating", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("collections", "rating")
'''

# Each edit: (file, a line that is there, the lines that follow it after the edit).
EDITS = [
    (
        "collection/models.py",
        "    description: Mapped[str] = mapped_column(Text)\n    created_at:",
        "    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)\n",
    ),
    (
        "collection/schemas.py",
        '    description: Description = ""\n',
        "    rating: int | None = None\n",
    ),
    (
        "collection/schemas.py",
        "    description: Description | SkipJsonSchema[None] = None\n",
        "    rating: int | SkipJsonSchema[None] = None\n",
    ),
    (
        "collection/schemas.py",
        "    uuid: uuid.UUID\n    description: str\n",
        "    rating: int | None = None\n",
    ),
    (
        "collection/schemas.py",
        "    title: str\n    description: str\n    movies: list[Movie]\n",
        "    rating: int | None = None\n",
    ),
]

JOURNEY = """
import asyncio, json
import httpx
from asgi_lifespan import LifespanManager
from movie_collections.app import create_app
from movie_collections.core.migrate import upgrade_to_head
from movie_collections.core.settings import Settings

async def main() -> None:
    settings = Settings(
        database_url=DATABASE_URL, secret_key="field-secret-0123456789abcdef0123456789abcdef",
        password_hash_time_cost=1, password_hash_memory_kib=8, password_hash_parallelism=1,
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            token = (await http.post("/register/", json={
                "username": "rater", "password": "a long and unusual passphrase"})).json()
            auth = {"Authorization": "Bearer " + token["access_token"]}
            movie = {"uuid": "8ef1e0d2-0d4e-4b8a-9d43-2f1b6a1c1e01", "title": "Heat",
                     "description": "", "genres": "Crime"}
            created = await http.post("/collection/", headers=auth, json={
                "title": "Rated", "description": "", "rating": 4, "movies": [movie]})
            assert created.status_code == 201, created.text
            path = "/collection/" + created.json()["collection_uuid"] + "/"
            results = {"detail": (await http.get(path, headers=auth)).json()}
            changed = await http.put(path, headers=auth, json={"rating": 5})
            results["put"] = changed.json()
            results["after_put"] = (await http.get(path, headers=auth)).json()
            listed = (await http.get("/collection/", headers=auth)).json()
            results["list"] = listed["data"]["collections"]
            results["page"] = (await http.get("/collection/?limit=5", headers=auth)).json()[
                "data"]["collections"]
            results["openapi"] = (await http.get("/openapi.json")).json()["components"][
                "schemas"]["CollectionCreate"]["properties"]
            print(json.dumps(results))

upgrade_to_head(DATABASE_URL)
asyncio.run(main())
"""


def test_a_new_field_needs_only_the_model_the_schemas_and_a_migration(tmp_path: Path) -> None:
    copy = tmp_path / "src" / "movie_collections"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for relative, anchor, added in EDITS:
        path = copy / relative
        text = path.read_text()
        assert text.count(anchor) == 1, f"{relative}: the edit's anchor moved: {anchor!r}"
        # The new lines go right after the anchor's first line.
        first_line_end = text.index(anchor) + anchor.index("\n") + 1
        path.write_text(text[:first_line_end] + added + text[first_line_end:])
    versions = copy / "migrations" / "versions"
    head = max(p.stem.split("_", 1)[0] for p in versions.glob("0*.py"))
    (versions / "0099_collection_rating.py").write_text(MIGRATION.format(head=head))

    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    script = f"DATABASE_URL = {database_url!r}\n" + textwrap.dedent(JOURNEY)
    environment = {**os.environ, "PYTHONPATH": str(tmp_path / "src"), "DATA_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    assert results["detail"]["rating"] == 4
    assert results["put"]["rating"] == 5
    assert results["after_put"]["rating"] == 5
    assert [c["rating"] for c in results["list"]] == [5]
    assert [c["rating"] for c in results["page"]] == [5]
    assert results["openapi"]["rating"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
