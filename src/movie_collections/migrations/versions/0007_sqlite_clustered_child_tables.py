"""SQLite: the child tables found only by their keys are stored in their key's order
(WITHOUT ROWID); PostgreSQL is unchanged.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CLUSTERED_TABLES = ("collection_movies", "collection_genres", "user_genres", "user_list_versions")
_WITHOUT_ROWID = " WITHOUT ROWID"


def _rebuild(table: str, *, without_rowid: bool) -> None:
    """`table` re-created with or without its rowid, rows, indexes and triggers kept.

    None of these tables is the parent of a foreign key, so dropping one deletes nothing
    elsewhere (and DROP TABLE fires no trigger). The rename runs with legacy_alter_table,
    as SQLite's own table-rebuild procedure advises: otherwise SQLite re-checks every
    trigger of the schema, and those of other tables that name this one fail while it is
    briefly gone.
    """
    connection = op.get_bind()
    create_sql = connection.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": table},
    ).scalar_one()
    dependents = (
        connection.execute(
            sa.text(
                "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
                "AND tbl_name = :name AND sql IS NOT NULL"
            ),
            {"name": table},
        )
        .scalars()
        .all()
    )
    create_sql = create_sql.rstrip().removesuffix(_WITHOUT_ROWID)
    if without_rowid:
        create_sql += _WITHOUT_ROWID
    # The column list on: after a rename, SQLite stores the name quoted.
    definition = create_sql[create_sql.index("(") :]
    rebuilt = f"{table}_rebuilt"
    op.execute(f"CREATE TABLE {rebuilt} {definition}")
    op.execute(f"INSERT INTO {rebuilt} SELECT * FROM {table}")
    op.execute(f"DROP TABLE {table}")
    op.execute("PRAGMA legacy_alter_table = ON")
    op.execute(f"ALTER TABLE {rebuilt} RENAME TO {table}")
    op.execute("PRAGMA legacy_alter_table = OFF")
    for statement in dependents:
        op.execute(statement)


def _sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def upgrade() -> None:
    if _sqlite():
        for table in CLUSTERED_TABLES:
            _rebuild(table, without_rowid=True)


def downgrade() -> None:
    if _sqlite():
        for table in CLUSTERED_TABLES:
            _rebuild(table, without_rowid=False)
