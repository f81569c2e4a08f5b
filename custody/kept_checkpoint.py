"""The kept checkpoint of ``verify --since``: read, proven against the stored tree, and saved.

Steps 1 to 3 of custody.incremental: the kept note's signature (archive key of event 0); the
authority state at its size rebuilt from the few events that shape it, each proven included in
the kept tree; and the stored subtree hashes covering it, folded to its root, from which the root
over the new events is resumed.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from sqlalchemy import select

from . import own_files
from .checks import CheckKind
from .config import ArchiveConfig
from .db.models import Event
from .errors import CustodyError, InputError, ProofError
from .log import merkle, note
from .log.authority import LIFECYCLE_ACTIONS
from .since_run import CHECK, EVENT_COLUMNS, SinceRun, Trusted, raw_sig, row_event

# Actions before the kept checkpoint that shape how later events are judged (custody.log.authority).
STATE_ACTIONS = frozenset(
    {
        "archive.init",
        "actor.add",
        *LIFECYCLE_ACTIONS,
        "configure",
        "export",
        "export.request",
        "export.approve",
        "export.reject",
    }
)


def read_trusted(text: str, label: str) -> int:
    """The tree size a kept checkpoint note states (its signature is checked later, with the archive key).

    Raises:
        InputError: ``text`` is not a checkpoint note.
    """
    try:
        return note.parse_checkpoint(text.split("\n\n", 1)[0] + "\n").size
    except ProofError as exc:
        raise InputError(
            f"{label}: not a checkpoint note ({exc}); keep the file 'verify --save-checkpoint' wrote"
        ) from exc


def _archive_file(path: Path, cfg: ArchiveConfig) -> bool:
    """True if ``path`` is, or would be written into, what the archive keeps: its configuration, its SQLite catalog
    (with its journal), or a file in its keys, TSA, spool or local store folder (custody.own_files)."""
    store = own_files.local_store(cfg)
    kept = own_files.identities([cfg.keys_dir, cfg.root / "tsa", cfg.root / "spool", *([store] if store else [])])
    if own_files.identity(path) in own_files.identities(own_files.catalog_files(cfg)):
        return True
    folder = Path(os.path.realpath(path.parent))
    return any(own_files.identity(step) in kept for step in (folder, *folder.parents))


def check_writable(path: Path, cfg: ArchiveConfig | None = None) -> None:
    """Refuse, before anything is verified or logged, a ``--save-checkpoint`` file that could not be written, or
    (given the archive's configuration) one that would replace a file of the archive itself.

    Raises:
        InputError: ``path`` is a folder, or its folder is missing or not writable, or it is the archive's own.
    """
    folder = path.parent
    if path.is_dir():
        raise InputError(f"{path}: is a folder; name the file to keep the checkpoint in")
    if not folder.is_dir():
        raise InputError(f"{path}: the folder {folder} does not exist; create it or choose another file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{path}: the folder {folder} is not writable; choose a writable file")
    if cfg is not None:
        _refuse_own(path, cfg)


def _refuse_own(path: Path, cfg: ArchiveConfig) -> None:
    if _archive_file(path, cfg):
        # The note would replace it whole: a typo (custody.db, keys/NAME.signing.pem) destroyed the catalog or a key.
        raise InputError(
            f"{path}: is one of the archive's own files (its configuration, catalog, keys or store); keep the "
            "checkpoint in a file of its own"
        )


def save_checkpoint(path: Path, note_text: str, cfg: ArchiveConfig) -> int:
    """Write a checkpoint note to ``path`` whole (temp file, then rename), never over a file of the archive ``cfg``
    (``verify --save-checkpoint``, ``checkpoint --export``); returns its tree size.

    Raises:
        InputError: the file is one of the archive's own, or cannot be written.
    """
    _refuse_own(path, cfg)
    size = note.parse_checkpoint(note_text.split("\n\n", 1)[0] + "\n").size
    # A fresh name, created here and never through a link: a file or symbolic link planted at a guessable temp name
    # (the pid) would otherwise be written through, to whatever it names.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as sink:
            sink.write(note_text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(
            f"{path}: cannot write the checkpoint ({exc.strerror or exc}); choose a writable file"
        ) from exc
    return size


def check_kept(run: SinceRun, size: int) -> Trusted | None:
    """Rebuild the authority state at ``size`` from proven events; the kept checkpoint, once checked."""
    # Two queries, each served by an index: (action, seq) and the primary key.
    conn = run.session.connection()
    rows = {
        row[0]: row
        for query in (
            select(*EVENT_COLUMNS).where(Event.action.in_(sorted(STATE_ACTIONS)), Event.seq < size),
            select(*EVENT_COLUMNS).where(Event.seq.in_((0, 1, size - 1))),
        )
        for row in conn.execute(query)
    }
    state_events = [row_event(rows[seq]) for seq in sorted(rows)]
    authority = run.authority
    genesis: tuple[bytes, bytes] | None = None
    for event, unsigned, _full in state_events:
        authority.admit(event.seq, event.time, event.actor, event.action, event.item, event.payload)
        if event.seq == 0:
            genesis = (raw_sig(event.sig), unsigned)
    if genesis is not None:
        authority.check_genesis(*genesis)
    if authority.identity is None:
        run.fail(run.label, "the archive's identity (events 0 and 1) does not verify; run 'custody verify --all'")
        return None
    try:
        cp = note.open_checkpoint(run.text, authority.identity.vkey)
    except ProofError as exc:
        run.fail(run.label, f"the kept checkpoint does not verify with this archive's key: {exc}")
        return None
    trusted = Trusted(cp.size, cp.root, run.label)
    by_seq = {event.seq: (event, full) for event, _u, full in state_events}
    if 0 not in by_seq or 1 not in by_seq or size - 1 not in by_seq:
        run.fail(run.label, f"events 0, 1 or {size - 1} are missing from the log")
        return None
    try:
        unproven = [seq for seq, (_e, full) in by_seq.items() if not run.prove(trusted, full, seq)]
    except CustodyError as exc:
        run.fail(run.label, f"the stored tree cannot prove the kept history: {exc}")
        return None
    if unproven:
        shown = ", ".join(str(s) for s in sorted(unproven)[:10])
        run.fail(
            run.label,
            f"event(s) {shown} before size {size} are not the events the kept checkpoint covers (rewritten history)",
        )
        return None
    run.report.checks.extend(run.prefix_report.failures)
    run.prev_hash = hashlib.sha256(by_seq[size - 1][1]).hexdigest()
    run.report.add(
        CHECK,
        run.label,
        True,
        f"kept checkpoint of {size} events verifies; {len(by_seq)} earlier events that shape authority "
        "are proven included in it",
    )
    return trusted


def resume_tree(run: SinceRun, trusted: Trusted) -> merkle.RootBuilder | None:
    """The root builder over the kept tree's stored frontier, if that frontier folds to the kept root."""
    keys_ = merkle.frontier_keys(trusted.size)
    try:
        stored = run.nodes.get_nodes(keys_)
    except CustodyError as exc:
        run.fail("tree", str(exc), CheckKind.TREE)
        return None
    builder = merkle.RootBuilder.resume(trusted.size, [(level, stored[(level, idx)]) for level, idx in keys_])
    if builder.root() != trusted.root:
        run.fail(
            "tree",
            f"the stored tree of the first {trusted.size} events differs from the kept checkpoint",
            CheckKind.TREE,
        )
        return None
    return builder
