"""Events for people: each action's name and what an event did, in one plain sentence."""

from __future__ import annotations

from collections.abc import Mapping

from .labels import PROVENANCE_LABELS
from .values import text

# How each action reads in a timeline.
ACTION_WORDS: dict[str, str] = {
    "archive.init": "Archive created",
    "archive.upgrade": "Archive upgraded",
    "actor.add": "Actor registered",
    "ingest": "Ingested",
    "acquire": "Acquired again",
    "view": "Record viewed",
    "access": "Copy taken out",
    "annotate": "Annotated",
    "verify": "Verified",
    "refuse": "Action refused",
    "export": "Exported",
    "export.failed": "Export failed",
    "import": "Imported",
    "configure": "Setting changed",
    "report": "Report produced",
    "derive": "Working copy made",
    "export.request": "Export requested",
    "export.approve": "Export approved",
    "export.reject": "Export refused by an approver",
    "case.add": "Added to a case",
    "correct": "Provenance corrected",
    "replicate": "Copied to a replica",
}


def items_named(event: Mapping[str, object]) -> list[str]:
    """Every item an event is about: custody.log.item_names' rule (its ``item`` and the payload field that names
    items for its action), read defensively from an event object."""
    from ..log.item_names import named_items

    item = event.get("item")
    payload = event.get("payload")
    return named_items(
        str(event.get("action")),
        item if isinstance(item, str) else None,
        dict(payload) if isinstance(payload, Mapping) else {},
    )


def describe_event(event: Mapping[str, object], names: Mapping[str, str]) -> str:
    """What happened, in one plain sentence (details of the payload that matter to a reader)."""
    payload = event.get("payload") if isinstance(event.get("payload"), Mapping) else {}
    assert isinstance(payload, Mapping)
    action = str(event.get("action"))
    if action == "ingest":
        return "Received, hashed (SHA-256 and BLAKE3), signed and stored"
    if action == "acquire":
        acq = payload.get("acquisition") if isinstance(payload.get("acquisition"), Mapping) else {}
        assert isinstance(acq, Mapping)
        prov = acq.get("provenance") if isinstance(acq.get("provenance"), Mapping) else {}
        assert isinstance(prov, Mapping)
        parts = [f"The same bytes arrived again as {text(acq.get('original_name'))}"]
        if prov.get("method"):
            parts.append(f"method: {text(prov.get('method'))}")
        return "; ".join(parts)
    if action == "annotate":
        said = f"Annotation: {text(payload.get('text'))}"
        if payload.get("tags"):
            said += f" [tags: {text(payload.get('tags'))}]"
        if payload.get("supersedes") is not None:
            said += f" (corrects the annotation of event {payload['supersedes']})"
        return said
    if action == "access":
        return f"Copy of the bytes taken out ({text(payload.get('kind'))}); purpose: {text(payload.get('purpose'))}"
    if action == "view":
        if payload.get("kind") == "search":
            query = payload.get("query")
            query = query if isinstance(query, dict) else {}
            asked = "; ".join(f"{k}={text(v)}" for k, v in sorted(query.items())) or "(everything)"
            return f"Search by {asked}: {text(payload.get('found'))} item(s) found"
        return "Record displayed to the actor"
    if action == "export":
        said = f"Included in sealed bundle {text(payload.get('bundle_id'))}; purpose: {text(payload.get('purpose'))}"
        if payload.get("recipients"):
            said += f"; encrypted to {len(payload['recipients'])} recipient key(s)"
        return said
    if action == "derive":
        return (
            f"Working copy {text(payload.get('derived_item'))} made from {text(event.get('item'))} "
            f"({text(payload.get('relation'))}): {text(payload.get('method'))}"
        )
    if action == "export.request":
        return (
            f"Export requested (needs {text(payload.get('approvals_required'))} approval(s)); "
            f"purpose: {text(payload.get('purpose'))}"
        )
    if action in ("export.approve", "export.reject"):
        verb = "approved" if action == "export.approve" else f"refused ({text(payload.get('reason'))})"
        return f"Export request {text(payload.get('request'))} {verb}"
    if action == "export.failed":
        return f"Export of bundle {text(payload.get('bundle_id'))} did not complete: {text(payload.get('reason'))}"
    if action == "import":
        return (
            f"Received in bundle {text(payload.get('bundle_id'))} from archive {text(payload.get('origin'))}, "
            "verified before import"
        )
    if action == "case.add":
        return f"Added to case {text(payload.get('case'))}"
    if action == "correct":
        # The value itself is signed as a salted digest (it may be withheld from a bundle): never shown here.
        field = text(payload.get("field"))
        label = PROVENANCE_LABELS.get(field, field)
        return f"Provenance field {label} corrected; reason: {text(payload.get('reason'))}"
    if action == "report":
        return f"Custody report produced ({text(payload.get('format'))}); purpose: {text(payload.get('purpose'))}"
    if action == "actor.add":
        return f"{text(payload.get('name'))} registered with role {text(payload.get('role'))}"
    if action == "replicate":
        target = payload.get("target")
        where = target.get("url") if isinstance(target, dict) else target
        return f"Stored bytes copied to the replica {text(where)} ({len(payload.get('blobs') or [])} blob(s))"
    if action == "verify":
        outcome = "passed" if payload.get("ok") else "found failures" if "ok" in payload else "run"
        scope = payload.get("scope")
        return f"Verification {outcome}" + (f" (scope: {text(scope)})" if scope else "")
    if action == "refuse":
        return f"Refused: role {text(payload.get('role'))} may not {text(payload.get('attempted'))}"
    if action == "configure":
        return f"Setting {text(payload.get('setting'))} set to {text(payload.get('value')) or '(removed)'}"
    if action == "archive.init":
        return f"Archive {text(payload.get('origin'))} created"
    return ACTION_WORDS.get(action, action) + (f": {text(dict(payload))}" if payload else "")


def action(name: str) -> str:
    """The plain-words name of an action."""
    return ACTION_WORDS.get(name, name)
