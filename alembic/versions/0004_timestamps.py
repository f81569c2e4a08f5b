"""RFC 3161 time-stamp tokens over checkpoints, kept append-only beside them.

Revision ID: 0004_timestamps
Revises: 0003_imports
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from custody.db import append_only

revision = "0004_timestamps"
down_revision = "0003_imports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoint_timestamps",
        sa.Column("checkpoint_num", sa.BigInteger, sa.ForeignKey("checkpoints.num"), primary_key=True),
        sa.Column("tsa_url", sa.Text, nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("nonce", sa.String(80), nullable=False),
        sa.Column("gen_time", sa.String(32), nullable=False),
        sa.Column("fetched_at", sa.String(32), nullable=False),
    )
    append_only.install(op.get_bind(), "checkpoint_timestamps")


def downgrade() -> None:
    raise RuntimeError("0004_timestamps cannot be downgraded: time-stamp tokens are evidence")
