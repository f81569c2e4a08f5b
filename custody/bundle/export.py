"""Export: stream items into a sealed BagIt zip, optionally age-encrypted, and log the export."""

from __future__ import annotations

import dataclasses
import os
import shlex
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .. import deliveries, disclosure, progress
from ..age import age_recipients
from ..archive import Acting
from ..errors import InputError, PermissionDeniedError
from ..report import ReportOptions
from ..roles import Permission
from ..timeutil import iso
from . import layout
from .approvals import RequestState, request_state, required_approvals
from .selection import disclosures, select_items
from .writer import write_zip


@dataclass(frozen=True)
class ExportResult:
    """What was written."""

    bundle_id: str
    path: Path
    items: list[str]
    encrypted: bool
    export_seq: int
    checkpoint_size: int
    seal_timestamp: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "bundle_id": self.bundle_id,
            "path": str(self.path),
            "items": self.items,
            "encrypted": self.encrypted,
            "export_seq": self.export_seq,
            "checkpoint_size": self.checkpoint_size,
            "seal_timestamp": self.seal_timestamp,
        }



def _approved(acting: Acting, request: int | None) -> RequestState:
    """The approved request to export; refuses (logged, PermissionDeniedError) anything short of the policy."""
    needed = required_approvals(acting)
    problem = ""
    state = None
    if request is None:
        problem = (
            f"this archive requires {needed} approval(s) by other actors for every export: run 'custody "
            "export-request ...', have it approved with 'custody approve SEQ', then 'custody export --request SEQ'"
        )
    else:
        with acting.archive.db.read() as session:
            state = request_state(session, request)
        asked = state.event.payload
        required = max(needed, int(asked.get("approvals_required") or 0))
        approvers = {e.actor for e in state.approvals}
        if state.event.actor != acting.key_id:
            problem = f"request {request} was made by another actor; only its requester seals it"
        elif state.exported:
            problem = f"request {request} was already exported"
        elif state.rejections:
            problem = f"request {request} was refused (event {state.rejections[0].seq})"
        elif len(approvers) < required:
            problem = f"request {request} has {len(approvers)} of the {required} approval(s) it needs"
    if problem or state is None:
        with acting.writing() as session:
            acting.append(session, "refuse", {"attempted": "export", "request": request, "reason": problem})
        raise PermissionDeniedError(f"export refused: {problem}. The refusal was logged.")
    return state





def export_bundle(
    acting: Acting,
    item_ids: Sequence[str],
    out: Path,
    purpose: str,
    *,
    case: str | None = None,
    recipients: Sequence[str] = (),
    report: ReportOptions | None = None,
    withhold: str | Sequence[str] | None = None,
    request: int | None = None,
) -> ExportResult:
    """Write a sealed bundle of the given items (or a case) to ``out``; the export is logged.

    ``withhold``: fields (custody.disclosure.FIELDS) whose values stay out of the bundle; None means
    the archive's ``disclosure.withhold`` setting. InputError names items whose records predate withheld fields.
    ``request``: seq of an approved export.request (custody.bundle.approvals) whose items, purpose, recipients and
    withheld fields are exported; required when ``export.approvals`` is set (PermissionDeniedError, logged).

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        InputError: no purpose or items, an --out that exists, a bad --recipient, or an unapproved export under the
            two-person rule.
        ItemNotFoundError: an unknown item.
        IntegrityError: stored bytes or the case's membership no longer match what is signed (nothing is delivered).
        StoreError: the blob store cannot be read.
    """
    approval: dict[str, Any] = {}
    if request is not None or required_approvals(acting) > 0:
        acting.unlock()
        acting.require(Permission.EXPORT)
        approved = _approved(acting, request)
        asked = approved.event.payload
        if item_ids or case is not None or (purpose and purpose != asked.get("purpose")):
            raise InputError(f"export --request {request}: the request names the items and purpose; give neither")
        item_ids, purpose, recipients = list(asked["items"]), str(asked["purpose"]), list(asked["recipients"])
        withhold = list(asked["withheld"])
        approval = {
            "request": approved.event.seq,
            "approvals": [e.seq for e in approved.approvals],
            "approvals_required": max(required_approvals(acting), int(asked.get("approvals_required") or 0)),
        }
    if not purpose.strip():
        raise InputError("export: --purpose must say why the evidence leaves the archive")
    if not item_ids and case is None:
        raise InputError("export: name item ids or pass --case ID")
    if out.exists() or out.is_symlink():
        raise InputError(f"{out}: already exists; choose another --out path (nothing is overwritten)")
    if not out.parent.is_dir():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    withheld = disclosure.parse_fields(
        list(acting.archive.config.disclosure.withhold) if withhold is None else withhold
    )
    encrypt_to = age_recipients(recipients)
    if not encrypt_to and out.suffix.lower() == ".age":
        # A plain zip under a name that promises encryption could be sent on as if it were encrypted.
        raise InputError(
            f"{out}: a .age name promises an encrypted bundle; pass --recipient AGE_PUBLIC_KEY, or name it .zip"
        )
    note_path = _note_path(out)
    if encrypt_to and (note_path.exists() or note_path.is_symlink()):
        raise InputError(f"{note_path}: already exists; choose another --out path (nothing is overwritten)")
    acting.unlock()
    acting.require(Permission.EXPORT, item_ids[0] if len(item_ids) == 1 else None)
    items = select_items(acting, item_ids, case)
    progress.begin("export", sum(i.size for i in items))
    revealed = disclosures(acting, items, withheld)
    if approval:
        revealed = dataclasses.replace(revealed, approval=approval)
    report = report or ReportOptions()
    exhibits = report.numbers([i.item_id for i in items])
    bundle_id = layout.new_bundle_id()
    tmp = deliveries.temp_beside(out)
    encrypted = bool(encrypt_to)
    state: dict[str, Any] = {}
    item_list = [i.item_id for i in items]
    deliveries.sweep(acting)
    # Journalled: if this process dies, the next get or export removes the partial file and, once
    # the export event is logged, records export.failed.
    with deliveries.delivering(acting, "export", tmp, out, bundle_id=bundle_id, items=item_list):
        try:
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as sink:
                if encrypted:
                    _write_encrypted(
                        sink,
                        encrypt_to,
                        lambda stream: write_zip(
                            acting, stream, bundle_id, items, purpose, recipients, state, report, exhibits, revealed
                        ),
                    )
                else:
                    write_zip(acting, sink, bundle_id, items, purpose, recipients, state, report, exhibits, revealed)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(tmp, out)
            if encrypted:
                _write_note(note_path, out, bundle_id, acting)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            logged, _failed = deliveries.export_event(acting, bundle_id)
            if logged is not None:
                # The export was logged before the bundle was complete; record that it did not finish.
                with acting.writing() as session:
                    acting.append(
                        session,
                        "export.failed",
                        {
                            "bundle_id": bundle_id,
                            "export_seq": logged,
                            "items": item_list,
                            "reason": _failure_reason(exc),
                        },
                    )
            if isinstance(exc, OSError):
                raise InputError(
                    f"{out}: cannot write the bundle ({exc.strerror or exc}); nothing was delivered"
                ) from None
            raise
    stamped = state.get("seal_timestamp")
    return ExportResult(
        bundle_id,
        out,
        [i.item_id for i in items],
        encrypted,
        state["export_seq"],
        state["checkpoint_size"],
        iso(stamped) if stamped is not None else None,
    )


def _failure_reason(exc: BaseException) -> str:
    """The reason export.failed signs: Ctrl-C and some other exceptions carry no message of their own."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C) before the bundle was complete; its partial file was removed"
    return (str(exc) or type(exc).__name__)[:500]


def _note_path(out: Path) -> Path:
    return out.with_name(out.name + ".txt")


def _write_note(path: Path, out: Path, bundle_id: str, acting: Acting) -> None:
    """The plaintext note beside an encrypted bundle: what it is and how to open and check it."""
    path.write_text(
        f"Bundle {bundle_id} from archive {acting.archive.config.origin}, age-encrypted in {out.name}.\n"
        f"Sealed by {acting.name}, key id {acting.key_id}.\n\n"
        "Decrypt it with the age identity whose public key it was encrypted to, then unpack it:\n\n"
        f"    age -d -i YOUR-IDENTITY.txt -o {bundle_id}.zip {shlex.quote(out.name)}\n"
        f"    python3 -m zipfile -e {bundle_id}.zip .\n\n"
        f"Then follow {bundle_id}/custody/VERIFY.md, or run its standalone verifier:\n\n"
        f"    python3 -I {bundle_id}/custody/verify_bundle.py {bundle_id}.zip --vkey ARCHIVE.vkey\n\n"
        "where ARCHIVE.vkey holds the archive's verifier key, obtained from the archive, not from this note.\n",
        encoding="utf-8",
    )


def _write_encrypted(sink: IO[bytes], age_recipients: list[Any], produce: Any) -> None:
    """Pipe the zip through age in memory-bounded chunks, so the plain zip never touches disk."""
    import pyrage

    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with os.fdopen(write_fd, "wb") as stream:
                produce(stream)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer, name="bundle-zip")
    thread.start()
    with os.fdopen(read_fd, "rb") as source:
        try:
            pyrage.encrypt_io(source, sink, age_recipients)
        finally:
            source.close()
            thread.join()
    if errors:
        raise errors[0]




