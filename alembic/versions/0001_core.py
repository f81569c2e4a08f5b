"""Core archive: actors, items, item cases and the custody event log, all append-only.

Revision ID: 0001_core
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from custody.db import append_only

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

TABLES = ("actors", "items", "item_cases", "events")


def upgrade() -> None:
    op.create_table(
        "actors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False, unique=True),
        sa.Column("public_key_pem", sa.Text, nullable=False),
        sa.Column("created_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("item_id", sa.String(32), primary_key=True),
        sa.Column("num", sa.Integer, nullable=False, unique=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("blake3", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("signer_key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )
    op.create_table(
        "item_cases",
        sa.Column("item_id", sa.String(32), sa.ForeignKey("items.item_id"), primary_key=True),
        sa.Column("case_id", sa.String(128), primary_key=True),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(32), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("sig", sa.String(128), nullable=False),
    )
    op.create_index("ix_events_item_id", "events", ["item_id"])
    conn = op.get_bind()
    for table in TABLES:
        append_only.install(conn, table)


def downgrade() -> None:
    # Evidence tables are never dropped by a downgrade: custody refuses to lose records.
    raise RuntimeError("0001_core cannot be downgraded: it would drop evidence tables")
