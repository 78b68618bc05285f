"""One `collection_genres` row per (collection, genre) with its count, instead of one per
(movie, genre), so a write changes far fewer rows; the counts are rebuilt from the movies.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_GENRE = sa.String(500).with_variant(sa.String(500, collation="C"), "postgresql")
_PREVIOUS = "collection_genres_previous"
_TRIGGERS = ("collection_genres_counted", "collection_genres_uncounted")

# SQLite: one writer at a time, slot 0, row triggers (as in 0004).
_SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER collection_genres_counted AFTER INSERT ON collection_genres BEGIN
        INSERT INTO user_genres (owner_id, slot, genre, occurrences)
        VALUES (NEW.owner_id, 0, NEW.genre, NEW.occurrences)
        ON CONFLICT (owner_id, slot, genre) DO UPDATE SET occurrences = occurrences + excluded.occurrences;
    END
    """,
    """
    CREATE TRIGGER collection_genres_uncounted AFTER DELETE ON collection_genres BEGIN
        UPDATE user_genres SET occurrences = occurrences - OLD.occurrences
        WHERE owner_id = OLD.owner_id AND slot = 0 AND genre = OLD.genre;
    END
    """,
    # A count changed (the usual update): one statement.
    """
    CREATE TRIGGER collection_genres_recounted AFTER UPDATE ON collection_genres
    WHEN OLD.owner_id = NEW.owner_id AND OLD.genre = NEW.genre BEGIN
        UPDATE user_genres SET occurrences = occurrences - OLD.occurrences + NEW.occurrences
        WHERE owner_id = NEW.owner_id AND slot = 0 AND genre = NEW.genre;
    END
    """,
    # Anything else an UPDATE could do (the API never moves a row): uncounted, then counted.
    """
    CREATE TRIGGER collection_genres_moved AFTER UPDATE ON collection_genres
    WHEN OLD.owner_id IS NOT NEW.owner_id OR OLD.genre IS NOT NEW.genre BEGIN
        UPDATE user_genres SET occurrences = occurrences - OLD.occurrences
        WHERE owner_id = OLD.owner_id AND slot = 0 AND genre = OLD.genre;
        INSERT INTO user_genres (owner_id, slot, genre, occurrences)
        VALUES (NEW.owner_id, 0, NEW.genre, NEW.occurrences)
        ON CONFLICT (owner_id, slot, genre) DO UPDATE SET occurrences = occurrences + excluded.occurrences;
    END
    """,
]
_SQLITE_TRIGGER_NAMES = (*_TRIGGERS, "collection_genres_recounted", "collection_genres_moved")

_SLOT = "abs(hashtext(collection_id::text)) % 16"
# Statement-level, as in 0004: one upsert per statement, in a fixed (owner, slot, genre) order,
# after the advisory lock of each (owner, slot) it changes, taken in that order too.
_POSTGRES_FUNCTIONS = {
    "user_genres_add": f"""
    BEGIN
        PERFORM user_genres_lock(owner_id, slot) FROM (
            SELECT DISTINCT owner_id, {_SLOT} AS slot FROM added ORDER BY 1, 2
        ) changed;
        INSERT INTO user_genres (owner_id, slot, genre, occurrences)
        SELECT owner_id, {_SLOT}, genre, sum(occurrences) FROM added
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (owner_id, slot, genre)
        DO UPDATE SET occurrences = user_genres.occurrences + excluded.occurrences;
        RETURN NULL;
    END""",
    # Nothing for a user being deleted (DELETE /me/ cascading): the counts go with the user.
    "user_genres_remove": f"""
    BEGIN
        PERFORM user_genres_lock(owner_id, slot) FROM (
            SELECT DISTINCT owner_id, {_SLOT} AS slot FROM removed
            WHERE EXISTS (SELECT 1 FROM users WHERE users.id = removed.owner_id)
            ORDER BY 1, 2
        ) changed;
        UPDATE user_genres SET occurrences = user_genres.occurrences - gone.occurrences
        FROM (
            SELECT owner_id, {_SLOT} AS slot, genre, sum(occurrences) AS occurrences
            FROM removed
            WHERE EXISTS (SELECT 1 FROM users WHERE users.id = removed.owner_id)
            GROUP BY 1, 2, 3
        ) gone
        WHERE user_genres.owner_id = gone.owner_id AND user_genres.slot = gone.slot
          AND user_genres.genre = gone.genre;
        RETURN NULL;
    END""",
    # Updated rows (e.g. an upsert that met an existing genre): new counts minus old ones.
    "user_genres_change": f"""
    BEGIN
        PERFORM user_genres_lock(owner_id, slot) FROM (
            SELECT owner_id, {_SLOT} AS slot FROM added
            UNION SELECT owner_id, {_SLOT} AS slot FROM removed
            ORDER BY 1, 2
        ) changed;
        INSERT INTO user_genres (owner_id, slot, genre, occurrences)
        SELECT owner_id, {_SLOT}, genre, sum(occurrences) FROM (
            SELECT collection_id, owner_id, genre, occurrences FROM added
            UNION ALL SELECT collection_id, owner_id, genre, -occurrences FROM removed
        ) difference
        GROUP BY 1, 2, 3 HAVING sum(occurrences) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (owner_id, slot, genre)
        DO UPDATE SET occurrences = user_genres.occurrences + excluded.occurrences;
        RETURN NULL;
    END""",
}
_POSTGRES_TRIGGERS = {
    "collection_genres_counted": ("INSERT", "NEW TABLE AS added", "user_genres_add"),
    "collection_genres_uncounted": ("DELETE", "OLD TABLE AS removed", "user_genres_remove"),
    "collection_genres_recounted": (
        "UPDATE",
        "OLD TABLE AS removed NEW TABLE AS added",
        "user_genres_change",
    ),
}


def _version_0004() -> ModuleType:
    """Migration 0004, whose per-(movie, genre) triggers a downgrade puts back (loaded from its
    file: Alembic does not import revisions as members of a package)."""
    spec = importlib.util.spec_from_file_location(
        "movie_collections_migration_0004", Path(__file__).with_name("0004_user_genres.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _set_aside(postgres: bool) -> None:
    """The current table renamed out of the way (with its key's index on PostgreSQL, whose
    names must be unique), so the new one takes the names."""
    op.rename_table("collection_genres", _PREVIOUS)
    if postgres:
        op.execute(
            f"ALTER TABLE {_PREVIOUS} RENAME CONSTRAINT pk_collection_genres TO pk_{_PREVIOUS}"
        )


def _create(*columns: sa.Column[object], key: list[str]) -> None:
    op.create_table(
        "collection_genres",
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint(*key, name="pk_collection_genres"),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            ondelete="CASCADE",
            name="fk_collection_genres_collection_id_collections",
        ),
    )


def upgrade() -> None:
    postgres = _postgres()
    for trigger in _TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger}{' ON collection_genres' if postgres else ''}")
    if postgres:
        op.execute("DROP FUNCTION user_genres_count()")
        op.execute("DROP FUNCTION user_genres_uncount()")
    _set_aside(postgres)
    _create(
        sa.Column("genre", _GENRE, nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        key=["collection_id", "genre"],
    )
    # Before the triggers exist: the user counts already include these rows.
    op.execute(
        "INSERT INTO collection_genres (collection_id, genre, owner_id, occurrences) "
        f"SELECT collection_id, genre, owner_id, count(*) FROM {_PREVIOUS} GROUP BY 1, 2, 3"
    )
    op.drop_table(_PREVIOUS)
    if postgres:
        for name, body in _POSTGRES_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body} $$")
        for trigger, (event, tables, function) in _POSTGRES_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {trigger} AFTER {event} ON collection_genres "
                f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def _split(genres: str) -> list[str]:
    """The API's split (collection.repository.split_genres) as of this revision: trimmed, no
    empties, no repeats. Copied so that this migration never changes with the app."""
    seen: dict[str, None] = {}
    for genre in genres.split(","):
        name = genre.strip()
        if name:
            seen.setdefault(name, None)
    return list(seen)


def downgrade() -> None:
    postgres = _postgres()
    if postgres:
        for trigger in _POSTGRES_TRIGGERS:
            op.execute(f"DROP TRIGGER {trigger} ON collection_genres")
        for name in _POSTGRES_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for trigger in _SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER {trigger}")
    _set_aside(postgres)
    _create(
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("genre", _GENRE, nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        key=["collection_id", "position", "genre"],
    )
    connection = op.get_bind()
    movies = connection.execute(
        sa.text(
            "SELECT m.collection_id, m.position, m.genres, c.owner_id FROM collection_movies m "
            "JOIN collections c ON c.id = m.collection_id"
        )
    ).all()
    rows = [
        {"collection_id": collection_id, "position": position, "genre": genre, "owner": owner}
        for collection_id, position, genres, owner in movies
        for genre in _split(genres)
    ]
    if rows:
        connection.execute(
            sa.text(
                "INSERT INTO collection_genres (collection_id, position, genre, owner_id) "
                "VALUES (:collection_id, :position, :genre, :owner)"
            ),
            rows,
        )
    op.drop_table(_PREVIOUS)
    previous = _version_0004()
    # 0004's statements, but for the lock function (still there: 0005 uses it too).
    statements = previous._POSTGRES_TRIGGERS[1:] if postgres else previous._SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)
