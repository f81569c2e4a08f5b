"""Verifiable log: stored Merkle subtree hashes and signed checkpoints, append-only.

Revision ID: 0002_merkle_log
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from custody.db import append_only

revision = "0002_merkle_log"
down_revision = "0001_core"
branch_labels = None
depends_on = None

TABLES = ("tree_nodes", "checkpoints")


def upgrade() -> None:
    op.create_table(
        "tree_nodes",
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("num", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
    )
    op.create_index("ix_checkpoints_size", "checkpoints", ["size"])
    conn = op.get_bind()
    for table in TABLES:
        append_only.install(conn, table)


def downgrade() -> None:
    raise RuntimeError("0002_merkle_log cannot be downgraded: checkpoints are evidence of the log")
