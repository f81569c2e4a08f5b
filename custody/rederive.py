"""``verify --rederive``: re-make reproducible working copies from their source and compare the bytes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .canonical import parse
from .checks import Check, CheckKind
from .db.models import Item
from .derivation import source_of
from .hashing import CHUNK_SIZE
from .store.base import BlobStore

CHECK = CheckKind.REDERIVE
_TIMEOUT = 600  # seconds one re-derivation may take


def _unsafe(args: Sequence[str]) -> str | None:
    """A recorded argument that could read or write outside the scratch folder, if any."""
    for arg in args:
        if arg.startswith("/") or ".." in arg or "://" in arg:
            return arg
    return None


def _rederive_one(store: BlobStore, item: Item, link: dict[str, object], source: Item | None) -> Check:
    recipe = link.get("recipe")
    if not isinstance(recipe, dict) or recipe.get("program") != "ffmpeg":
        return Check(CHECK, item.item_id, True, "no reproducible recipe recorded: not re-derived", warning=True)
    if source is None:
        return Check(CHECK, item.item_id, False, f"its source {link.get('item_id')} is not in the archive")
    args = [str(a) for a in recipe.get("args") or []]
    bad = _unsafe(args)
    if bad is not None:
        return Check(CHECK, item.item_id, False, f"recorded ffmpeg argument '{bad}' reaches outside; not run")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return Check(CHECK, item.item_id, False, "ffmpeg is not installed; install it to re-derive")
    suffix = str(recipe.get("suffix") or "")
    with tempfile.TemporaryDirectory(prefix="custody-rederive-") as tmp:
        src = Path(tmp) / "source"
        with store.open_read(source.sha256) as blob, open(src, "wb") as fh:
            shutil.copyfileobj(blob, fh, CHUNK_SIZE)
        out = Path(tmp) / f"copy{suffix}"
        try:
            proc = subprocess.run(
                [ffmpeg, "-v", "error", "-nostdin", "-i", str(src), *args, "-y", str(out)],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Check(CHECK, item.item_id, False, f"ffmpeg did not finish within {_TIMEOUT} s")
        if proc.returncode != 0 or not out.is_file():
            return Check(CHECK, item.item_id, False, f"ffmpeg failed: {proc.stderr.strip()[:200]}")
        got = hashlib.sha256(out.read_bytes()).hexdigest()
    ok = got == item.sha256
    detail = (
        f"re-made from {source.item_id} with the recorded ffmpeg arguments: same bytes"
        if ok
        else f"re-made from {source.item_id} with the recorded arguments, the bytes differ (SHA-256 {got[:16]}…)"
    )
    return Check(CHECK, item.item_id, ok, detail)


def rederive(store: BlobStore, items: Sequence[Item], sources: dict[str, Item]) -> list[Check]:
    """One check per derived item among ``items``; ``sources`` maps source item ids to their rows."""
    checks = []
    for item in items:
        try:
            link = source_of(parse(item.record))
        except ValueError:
            continue
        if link is not None:
            checks.append(_rederive_one(store, item, dict(link), sources.get(str(link.get("item_id")))))
    return checks
