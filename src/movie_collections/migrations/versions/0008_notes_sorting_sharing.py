"""Issue 21: a note per movie in a collection, the casefolded title (sorting and searching
titles) with the indexes of the list's sort orders, and share links.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TITLE_KEY = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
_BACKFILL_BATCH = 1000


def _fill_title_keys() -> None:
    """Existing titles casefolded in Python, as the repository writes them (neither database's
    lower() casefolds the same way)."""
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, title FROM collections")).all()
    update = sa.text("UPDATE collections SET title_key = :key WHERE id = :id")
    for start in range(0, len(rows), _BACKFILL_BATCH):
        batch = rows[start : start + _BACKFILL_BATCH]
        connection.execute(update, [{"id": row.id, "key": row.title.casefold()} for row in batch])


def upgrade() -> None:
    op.add_column("collection_movies", sa.Column("note", sa.Text(), nullable=True))
    op.add_column(
        "collections", sa.Column("title_key", _TITLE_KEY, nullable=False, server_default="")
    )
    _fill_title_keys()
    op.create_index(
        "ix_collections_owner_updated_id", "collections", ["owner_id", "updated_at", "id"]
    )
    op.create_index(
        "ix_collections_owner_title_key_id", "collections", ["owner_id", "title_key", "id"]
    )
    op.create_table(
        "collection_shares",
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("collection_id", name="pk_collection_shares"),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            ondelete="CASCADE",
            name="fk_collection_shares_collection_id_collections",
        ),
        sa.UniqueConstraint("token", name="uq_collection_shares_token"),
    )


def downgrade() -> None:
    op.drop_table("collection_shares")
    op.drop_index("ix_collections_owner_title_key_id", "collections")
    op.drop_index("ix_collections_owner_updated_id", "collections")
    op.drop_column("collections", "title_key")
    op.drop_column("collection_movies", "note")
