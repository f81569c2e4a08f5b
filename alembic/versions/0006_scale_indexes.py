"""Indexes for large catalogs: events by action (incremental verify, fixity coverage) and items by case.

Revision ID: 0006_scale_indexes
Revises: 0005_event_items

``verify --since`` reads the few events before the kept checkpoint that shape authority
(actor.add, actor.role, ...) and rolling fixity reads the newest ``verify`` events: both select by
action, which without an index scans the whole log. ``list --case`` and ``export --case`` select
an item's cases by case id, which the (item_id, case_id) primary key cannot serve.
Indexes hold no evidence; the append-only triggers are unchanged.
"""

from __future__ import annotations

from alembic import op

revision = "0006_scale_indexes"
down_revision = "0005_event_items"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_action_seq", "events", ["action", "seq"])
    op.create_index("ix_item_cases_case_id", "item_cases", ["case_id", "item_id"])


def downgrade() -> None:
    op.drop_index("ix_item_cases_case_id", "item_cases")
    op.drop_index("ix_events_action_seq", "events")
