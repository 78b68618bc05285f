"""Tables of collections, the movies copied into them, and their genres (one row per genre)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from movie_collections.core.database import Base

# Genres sort byte-wise on both databases, so ties are broken the same way everywhere.
# Tables found only by their key are stored in its order on SQLite (migration 0007).
CLUSTERED_ON_SQLITE = {"sqlite_with_rowid": False}
GenreText = String(500).with_variant(String(500, collation="C"), "postgresql")
# Casefolded titles sort and match byte-wise on both databases too (GET /collection/?sort=title).
TitleKey = Text().with_variant(Text(collation="C"), "postgresql")


class Collection(Base):
    __tablename__ = "collections"
    __table_args__ = (
        Index("ix_collections_owner_created_id", "owner_id", "created_at", "id"),
        Index("ix_collections_owner_updated_id", "owner_id", "updated_at", "id"),
        Index("ix_collections_owner_title_key_id", "owner_id", "title_key", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    # The title casefolded, written with it by the repository: the key of sorting by title and
    # of searching titles case-insensitively (migration 0008).
    title_key: Mapped[str] = mapped_column(TitleKey)
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Bumped by every change; the ETag of a collection is derived from it.
    version: Mapped[int] = mapped_column(Integer)


class CollectionMovie(Base):
    """A copy of the movie as the owner posted it: one user's data never changes another's."""

    __tablename__ = "collection_movies"
    __table_args__ = (UniqueConstraint("collection_id", "movie_uuid"), CLUSTERED_ON_SQLITE)

    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    movie_uuid: Mapped[uuid.UUID] = mapped_column(Uuid)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text)
    genres: Mapped[str] = mapped_column(String(500))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class CollectionGenre(Base):
    """How many of a collection's movies have a genre (always > 0; migration 0006); triggers
    add these counts into UserGenre (migrations 0004, 0006)."""

    __tablename__ = "collection_genres"
    __table_args__ = CLUSTERED_ON_SQLITE

    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    genre: Mapped[str] = mapped_column(GenreText, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    occurrences: Mapped[int] = mapped_column(Integer)


class UserGenre(Base):
    """How many of a user's movies have a genre, kept by triggers on collection_genres in the
    same transaction (see migration 0004); split over slots so that concurrent writers of one
    user on PostgreSQL rarely share a row. Favourite genres sum the slots."""

    __tablename__ = "user_genres"
    __table_args__ = CLUSTERED_ON_SQLITE

    owner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    genre: Mapped[str] = mapped_column(GenreText, primary_key=True)
    occurrences: Mapped[int] = mapped_column(Integer)


class UserListVersion(Base):
    """A number per user (summed over slots) that triggers raise with every write to the user's
    collections (migration 0005): the version of GET /collection/'s answer."""

    __tablename__ = "user_list_versions"
    __table_args__ = CLUSTERED_ON_SQLITE

    owner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class CollectionShare(Base):
    """The read-only link of a collection (at most one): its token, random (256 bits), kept so
    that its owner can see the link again; deleted to revoke it."""

    __tablename__ = "collection_shares"

    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
