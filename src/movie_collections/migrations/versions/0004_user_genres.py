"""Genre counts per user (`user_genres`), kept by triggers on `collection_genres` in the same
transaction as every write, split over slots so that concurrent writers of one user on
PostgreSQL seldom share a row; favourite genres sum the slots.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SLOTS = 16

_SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER collection_genres_counted AFTER INSERT ON collection_genres BEGIN
        INSERT INTO user_genres (owner_id, slot, genre, occurrences)
        VALUES (NEW.owner_id, 0, NEW.genre, 1)
        ON CONFLICT (owner_id, slot, genre) DO UPDATE SET occurrences = occurrences + 1;
    END
    """,
    """
    CREATE TRIGGER collection_genres_uncounted AFTER DELETE ON collection_genres BEGIN
        UPDATE user_genres SET occurrences = occurrences - 1
        WHERE owner_id = OLD.owner_id AND slot = 0 AND genre = OLD.genre;
    END
    """,
]

_POSTGRES_SLOT = f"abs(hashtext(collection_id::text)) % {SLOTS}"

# Statement-level triggers with transition tables: one upsert per statement, however many
# rows it wrote, in a fixed order (owner, slot, genre).
_POSTGRES_TRIGGERS = [
    """
    CREATE FUNCTION user_genres_lock(changed_owner uuid, changed_slot integer)
    RETURNS void LANGUAGE sql AS $$
        SELECT pg_advisory_xact_lock(hashtextextended(changed_owner::text, changed_slot))
    $$
    """,
    f"""
    CREATE FUNCTION user_genres_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM user_genres_lock(owner_id, slot) FROM (
            SELECT DISTINCT owner_id, {_POSTGRES_SLOT} AS slot FROM added ORDER BY 1, 2
        ) changed;
        INSERT INTO user_genres (owner_id, slot, genre, occurrences)
        SELECT owner_id, {_POSTGRES_SLOT}, genre, count(*) FROM added
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (owner_id, slot, genre)
        DO UPDATE SET occurrences = user_genres.occurrences + excluded.occurrences;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION user_genres_uncount() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM user_genres_lock(owner_id, slot) FROM (
            SELECT DISTINCT owner_id, {_POSTGRES_SLOT} AS slot FROM removed
            WHERE EXISTS (SELECT 1 FROM users WHERE users.id = removed.owner_id)
            ORDER BY 1, 2
        ) changed;
        UPDATE user_genres SET occurrences = user_genres.occurrences - gone.occurrences
        FROM (
            SELECT owner_id, {_POSTGRES_SLOT} AS slot, genre, count(*) AS occurrences
            FROM removed
            WHERE EXISTS (SELECT 1 FROM users WHERE users.id = removed.owner_id)
            GROUP BY 1, 2, 3
        ) gone
        WHERE user_genres.owner_id = gone.owner_id AND user_genres.slot = gone.slot
          AND user_genres.genre = gone.genre;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER collection_genres_counted AFTER INSERT ON collection_genres
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION user_genres_count()
    """,
    """
    CREATE TRIGGER collection_genres_uncounted AFTER DELETE ON collection_genres
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION user_genres_uncount()
    """,
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    genre_type = sa.String(500).with_variant(sa.String(500, collation="C"), "postgresql")
    op.create_table(
        "user_genres",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("genre", genre_type, nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "slot", "genre", name="pk_user_genres"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], ondelete="CASCADE", name="fk_user_genres_owner_id_users"
        ),
    )
    slot = _POSTGRES_SLOT if postgres else "0"
    op.execute(
        "INSERT INTO user_genres (owner_id, slot, genre, occurrences) "
        f"SELECT owner_id, {slot}, genre, count(*) FROM collection_genres GROUP BY 1, 2, 3"
    )
    for statement in _POSTGRES_TRIGGERS if postgres else _SQLITE_TRIGGERS:
        op.execute(statement)
    # Reads no longer group collection_genres by owner: its index only slowed writes down.
    op.drop_index("ix_collection_genres_owner_genre", table_name="collection_genres")
    # The list is read newest first with the id as tie-break: one index walk, no sort step.
    op.create_index(
        "ix_collections_owner_created_id", "collections", ["owner_id", "created_at", "id"]
    )
    op.drop_index("ix_collections_owner_created", table_name="collections")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_index("ix_collections_owner_created", "collections", ["owner_id", "created_at"])
    op.drop_index("ix_collections_owner_created_id", table_name="collections")
    op.create_index("ix_collection_genres_owner_genre", "collection_genres", ["owner_id", "genre"])
    on_table = " ON collection_genres" if postgres else ""
    for trigger in ("collection_genres_counted", "collection_genres_uncounted"):
        op.execute(f"DROP TRIGGER {trigger}{on_table}")
    if postgres:
        for function in ("user_genres_count()", "user_genres_uncount()"):
            op.execute(f"DROP FUNCTION {function}")
        op.execute("DROP FUNCTION user_genres_lock(uuid, integer)")
    op.drop_table("user_genres")
