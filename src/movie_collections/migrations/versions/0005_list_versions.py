"""A version of each user's collection list (`user_list_versions`), raised by triggers on
`collections` in the same transaction as every insert, update or delete: the version of
GET /collection/'s answer for the versioned cache. Slots and locks as in 0004.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SLOTS = 16
_EVENTS = ("INSERT", "UPDATE", "DELETE")


def _sqlite_trigger(event: str) -> str:
    row = "OLD" if event == "DELETE" else "NEW"
    # INSERT ... SELECT ... WHERE: nothing is written for a user being deleted (the row would
    # refer to a user that is gone).
    return f"""
    CREATE TRIGGER collections_list_version_{event.lower()} AFTER {event} ON collections BEGIN
        INSERT INTO user_list_versions (owner_id, slot, version)
        SELECT {row}.owner_id, 0, 1 WHERE EXISTS (SELECT 1 FROM users WHERE id = {row}.owner_id)
        ON CONFLICT (owner_id, slot) DO UPDATE SET version = version + 1;
    END
    """


_POSTGRES_SLOT = f"abs(hashtext(id::text)) % {SLOTS}"
_POSTGRES_FUNCTION = f"""
    CREATE FUNCTION user_list_versions_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM user_genres_lock(owner_id, slot) FROM (
            SELECT DISTINCT owner_id, {_POSTGRES_SLOT} AS slot FROM changed
            WHERE EXISTS (SELECT 1 FROM users WHERE users.id = changed.owner_id)
            ORDER BY 1, 2
        ) locked;
        INSERT INTO user_list_versions (owner_id, slot, version)
        SELECT owner_id, {_POSTGRES_SLOT}, count(*) FROM changed
        WHERE EXISTS (SELECT 1 FROM users WHERE users.id = changed.owner_id)
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (owner_id, slot)
        DO UPDATE SET version = user_list_versions.version + excluded.version;
        RETURN NULL;
    END $$
"""


def _postgres_trigger(event: str) -> str:
    table = "OLD" if event == "DELETE" else "NEW"
    return f"""
    CREATE TRIGGER collections_list_version_{event.lower()} AFTER {event} ON collections
    REFERENCING {table} TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION user_list_versions_bump()
    """


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "user_list_versions",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "slot", name="pk_user_list_versions"),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            ondelete="CASCADE",
            name="fk_user_list_versions_owner_id_users",
        ),
    )
    if postgres:
        op.execute(_POSTGRES_FUNCTION)
    for event in _EVENTS:
        op.execute(_postgres_trigger(event) if postgres else _sqlite_trigger(event))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for event in _EVENTS:
        on_table = " ON collections" if postgres else ""
        op.execute(f"DROP TRIGGER collections_list_version_{event.lower()}{on_table}")
    if postgres:
        op.execute("DROP FUNCTION user_list_versions_bump()")
    op.drop_table("user_list_versions")
