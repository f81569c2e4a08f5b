"""The Merkle tree over the custody log, kept incrementally in the ``tree_nodes`` table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ..db.models import TreeNode
from ..errors import IntegrityError
from . import merkle

# Nodes written in the current transaction, so appends in a batch need not read them back.
_RECENT = "custody_recent_nodes"


class DbNodes:
    """A :class:`merkle.NodeReader` over the stored subtree hashes, one query per call."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        recent: dict[tuple[int, int], bytes] = self._session.info.get(_RECENT, {})
        found = {k: recent[k] for k in keys if k in recent}
        wanted = [k for k in dict.fromkeys(keys) if k not in found]
        if not wanted:
            return found
        # Chunked so that very large requests stay under SQLite's expression-depth limit.
        for start in range(0, len(wanted), 200):
            part = wanted[start : start + 200]
            clause = or_(*(and_(TreeNode.level == lv, TreeNode.idx == ix) for lv, ix in part))
            for row in self._session.execute(select(TreeNode.level, TreeNode.idx, TreeNode.hash).where(clause)):
                found[(row.level, row.idx)] = bytes(row.hash)
        missing = [k for k in wanted if k not in found]
        if missing:
            raise IntegrityError(
                f"Merkle tree node(s) {missing[:3]} missing from the database; "
                "the log's tree was tampered with — run 'custody verify --all'"
            )
        return found


def tree_size(session: Session) -> int:
    """Number of leaves recorded in the tree."""
    top = session.scalar(select(func.max(TreeNode.idx)).where(TreeNode.level == 0))
    return 0 if top is None else int(top) + 1


def append_leaf(session: Session, index: int, leaf_data: bytes) -> None:
    """Record leaf ``index`` and every subtree it completes (write-once rows)."""
    leaf = merkle.leaf_hash(leaf_data)
    recent = session.info.setdefault(_RECENT, {})
    for level, idx, digest in merkle.new_nodes(index, leaf, DbNodes(session)):
        session.add(TreeNode(level=level, idx=idx, hash=digest))
        recent[(level, idx)] = digest


def root(session: Session, size: int) -> bytes:
    """Root hash of the first ``size`` leaves."""
    return merkle.root(size, DbNodes(session))
