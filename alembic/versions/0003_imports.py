"""Imported bundles: the sender's records, events and keys kept verbatim as provenance.

Revision ID: 0003_imports
Revises: 0002_merkle_log
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from custody.db import append_only

revision = "0003_imports"
down_revision = "0002_merkle_log"
branch_labels = None
depends_on = None

TABLES = ("imports", "imported_records", "imported_events", "imported_keys")


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("bundle_id", sa.String(64), primary_key=True),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("vkey", sa.Text, nullable=False),
        sa.Column("seal", sa.String(128), nullable=False),
        sa.Column("checkpoint", sa.Text, nullable=False),
        sa.Column("receipt_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "imported_records",
        sa.Column("bundle_id", sa.String(64), sa.ForeignKey("imports.bundle_id"), primary_key=True),
        sa.Column("original_item_id", sa.String(32), primary_key=True),
        sa.Column("local_item_id", sa.String(32), sa.ForeignKey("items.item_id"), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("signer_key_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "imported_events",
        sa.Column("bundle_id", sa.String(64), sa.ForeignKey("imports.bundle_id"), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event", sa.Text, nullable=False),
    )
    op.create_table(
        "imported_keys",
        sa.Column("bundle_id", sa.String(64), sa.ForeignKey("imports.bundle_id"), primary_key=True),
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("public_key_pem", sa.Text, nullable=False),
    )
    conn = op.get_bind()
    for table in TABLES:
        append_only.install(conn, table)


def downgrade() -> None:
    raise RuntimeError("0003_imports cannot be downgraded: imported provenance is evidence")
