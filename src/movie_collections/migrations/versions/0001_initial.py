"""Users, collections, their movies and genres.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

genre_type = sa.String(500).with_variant(sa.String(500, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("username_key", sa.String(150), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username_key", name="uq_users_username_key"),
    )
    op.create_table(
        "collections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_collections"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], ondelete="CASCADE", name="fk_collections_owner_id_users"
        ),
    )
    op.create_index("ix_collections_owner_created", "collections", ["owner_id", "created_at"])
    op.create_table(
        "collection_movies",
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("movie_uuid", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("genres", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("collection_id", "position", name="pk_collection_movies"),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            ondelete="CASCADE",
            name="fk_collection_movies_collection_id_collections",
        ),
        sa.UniqueConstraint(
            "collection_id", "movie_uuid", name="uq_collection_movies_collection_id"
        ),
    )
    op.create_table(
        "collection_genres",
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("genre", genre_type, nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("collection_id", "position", "genre", name="pk_collection_genres"),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            ondelete="CASCADE",
            name="fk_collection_genres_collection_id_collections",
        ),
    )
    op.create_index("ix_collection_genres_owner_genre", "collection_genres", ["owner_id", "genre"])


def downgrade() -> None:
    op.drop_table("collection_genres")
    op.drop_table("collection_movies")
    op.drop_index("ix_collections_owner_created", table_name="collections")
    op.drop_table("collections")
    op.drop_table("users")
