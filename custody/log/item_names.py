"""The items an event names: its ``item`` and the payload fields that name items (no database needed)."""

from __future__ import annotations

# action -> payload field that names items: a list of our item ids, or an object whose values are.
PAYLOAD_FIELDS = {
    "export": "items",
    "export.failed": "items",
    "verify": "scope",
    "import": "items",
    "report": "items",
    "replicate": "items",
    "export.request": "items",
    "derive": "derived_item",  # item = the source; the copy is named here, so both histories show it
}


def named_items(action: str, item: str | None, payload: dict[str, object]) -> list[str]:
    """The item ids one event names, sorted and without repeats: the only rule for ``event_items``."""
    names = set() if item is None else {item}
    value = payload.get(PAYLOAD_FIELDS[action]) if action in PAYLOAD_FIELDS else None
    if isinstance(value, dict):  # import: sender's id -> our id; only ours are items of this archive
        value = list(value.values())
    if isinstance(value, str) and action == "derive":  # one item id (verify's "all" is no item)
        names.add(value)
    if isinstance(value, list):
        names.update(v for v in value if isinstance(v, str))
    return sorted(names)
