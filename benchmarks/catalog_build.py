"""Bulk generation of a large catalog through the library's models, with real signatures (benchmarks only).

Each item gets a signed record (custody.records.sign with the actor's key), an ``items`` row, an
``item_cases`` row, a signed, hash-chained ``ingest`` event whose Merkle nodes are stored, its
``event_items`` row, and the transaction ends with a signed checkpoint, as an ingest does. Only the
blob files are left out (the queries measured never read them) and the rows go in with multi-row
inserts instead of one ORM object at a time. Records sign their provenance in the clear (the shape
of records made before withheld fields; the same size to within a few hundred bytes).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import blake3
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from custody import records
from custody.archive import Acting
from custody.canonical import canonical_text
from custody.db.models import Event, EventItem, Item, ItemCase, TreeNode
from custody.keys import b64
from custody.log import checkpoints, merkle, tree
from custody.log.events import last_event
from custody.log.logevent import canonical_pair
from custody.timeutil import iso, utc_now

CASES = 1000


class _Frontier:
    """The tree's completed perfect subtrees on its right edge; emits every node a new leaf completes."""

    def __init__(self, size: int, stack: list[tuple[int, bytes]]) -> None:
        self.size = size
        self.stack = stack

    def add(self, leaf: bytes) -> Iterator[tuple[int, int, bytes]]:
        index = self.size
        yield 0, index, leaf
        level, acc = 0, leaf
        while self.stack and self.stack[-1][0] == level:
            acc = merkle.node_hash(self.stack.pop()[1], acc)
            level += 1
            yield level, index >> level, acc
        self.stack.append((level, acc))
        self.size += 1


def add_items(acting: Acting, count: int, chunk: int = 5000) -> None:
    """Append ``count`` items in transactions of ``chunk``."""
    signer = acting.signer
    archive = acting.archive
    done = 0
    while done < count:
        n = min(chunk, count - done)
        with archive.db.write() as session:
            _chunk(session, acting, n)
            checkpoints.write(session, acting.archive_signer, archive.config.origin, signer)
        done += n


def _chunk(session: Session, acting: Acting, n: int) -> None:
    signer = acting.signer
    last = last_event(session)
    assert last is not None
    size = tree.tree_size(session)
    keys = merkle.frontier_keys(size)
    stored = tree.DbNodes(session).get_nodes(keys)
    frontier = _Frontier(size, [(level, stored[(level, idx)]) for level, idx in keys])
    seq, prev = last.seq + 1, last.chain_hash()
    num = (session.scalar(select(func.max(Item.num))) or 0) + 1
    items, cases, events, links, nodes = [], [], [], [], []
    now = iso(utc_now())
    for k in range(n):
        item_id = f"EV-{num + k:06d}"
        body = os.urandom(16)
        sha, b3 = hashlib.sha256(body).hexdigest(), blake3.blake3(body).hexdigest()
        case = f"CASE-{(num + k) % CASES:04d}"
        record = {
            "type": records.RECORD_TYPE,
            "archive": acting.archive.config.archive_id,
            "item_id": item_id,
            "sha256": sha,
            "blake3": b3,
            "size": 250_000 + k,
            "media_type": "image/jpeg",
            "original_name": f"IMG_{num + k:07d}.jpg",
            "source_path": f"/media/usb/DCIM/100CANON/IMG_{num + k:07d}.jpg",
            "fs_times": {"modified": now, "accessed": now, "changed": now},
            "provenance": {"case": case, "collected_by": "Field team 3", "method": "USB handover"},
            "metadata": {"flags": [], "captured_at": now},
            "ingested_at": now,
            "ingested_by": signer.key_id,
        }
        signed = records.sign(record, signer)
        items.append(
            {
                "item_id": item_id,
                "num": num + k,
                "sha256": sha,
                "blake3": b3,
                "size": record["size"],
                "media_type": "image/jpeg",
                "record": signed.text,
                "signer_key_id": signer.key_id,
                "signature": signed.signature,
            }
        )
        cases.append({"item_id": item_id, "case_id": case})
        payload = canonical_text({"record_sha256": hashlib.sha256(signed.text.encode()).hexdigest(), "sha256": sha})
        unsigned = canonical_pair(seq, now, signer.key_id, "ingest", item_id, payload, prev, "")[0]
        sig = b64(signer.sign(unsigned))
        full = canonical_pair(seq, now, signer.key_id, "ingest", item_id, payload, prev, sig)[1]
        events.append(
            {
                "seq": seq,
                "time": now,
                "actor": signer.key_id,
                "action": "ingest",
                "item_id": item_id,
                "payload": payload,
                "prev": prev,
                "sig": sig,
            }
        )
        links.append({"seq": seq, "item_id": item_id})
        nodes.extend({"level": lv, "idx": ix, "hash": h} for lv, ix, h in frontier.add(merkle.leaf_hash(full)))
        prev = hashlib.sha256(full).hexdigest()
        seq += 1
    conn = session.connection()
    conn.execute(insert(Item), items)
    conn.execute(insert(ItemCase), cases)
    conn.execute(insert(Event), events)
    conn.execute(insert(EventItem), links)
    conn.execute(insert(TreeNode), nodes)
