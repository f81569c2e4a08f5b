"""Which items each event names (in ``item`` or its payload), so an item's history is complete.

Revision ID: 0005_event_items
Revises: 0004_timestamps
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from custody.canonical import parse
from custody.db import append_only
from custody.log.item_names import PAYLOAD_FIELDS, named_items

revision = "0005_event_items"
down_revision = "0004_timestamps"
branch_labels = None
depends_on = None

_PAGE = 5000


def upgrade() -> None:
    table = op.create_table(
        "event_items",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("item_id", sa.String(128), primary_key=True),
    )
    op.create_index("ix_event_items_item_id", "event_items", ["item_id"])
    conn = op.get_bind()
    # Backfill from the log with the same rule appends use from now on.
    events = sa.table("events", sa.column("seq"), sa.column("action"), sa.column("item_id"), sa.column("payload"))
    last = conn.execute(sa.select(sa.func.max(events.c.seq))).scalar()
    columns = (events.c.seq, events.c.action, events.c.item_id, events.c.payload)
    for low in range(0, -1 if last is None else last + 1, _PAGE):
        page = conn.execute(sa.select(*columns).where(events.c.seq >= low, events.c.seq < low + _PAGE)).all()
        links = [
            {"seq": seq, "item_id": name}
            for seq, action, item, payload_text in page
            for name in named_items(action, item, parse(payload_text) if action in PAYLOAD_FIELDS else {})
        ]
        if links:
            op.bulk_insert(table, links)
    append_only.install(conn, "event_items")


def downgrade() -> None:
    raise RuntimeError("0005_event_items cannot be downgraded: the links are part of each item's history")
