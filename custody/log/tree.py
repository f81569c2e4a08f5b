"""The Merkle tree over the custody log, kept incrementally in the ``tree_nodes`` table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ..db.models import TreeNode
from ..errors import IntegrityError
from . import merkle

# Nodes written in the current transaction, so appends in a batch need not read them back.
_RECENT = "custody_recent_nodes"
_TABLE = TreeNode.__tablename__


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
        # Plain SQL text: building the same OR of (level, idx) pairs as an SQLAlchemy expression
        # costs more than the query (SQLite cannot use the index for a row-value IN). Chunked to
        # stay under the databases' bound-parameter limits.
        for start in range(0, len(wanted), 200):
            part = wanted[start : start + 200]
            where = " OR ".join(f"(level = :l{n} AND idx = :i{n})" for n in range(len(part)))
            params: dict[str, int] = {}
            for n, (level, idx) in enumerate(part):
                params[f"l{n}"] = level
                params[f"i{n}"] = idx
            rows = self._session.execute(text(f"SELECT level, idx, hash FROM {_TABLE} WHERE {where}"), params)
            for level, idx, digest in rows:
                found[(level, idx)] = bytes(digest)
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
