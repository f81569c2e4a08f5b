"""Near-duplicate search over the archive's perceptual hashes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .canonical import parse
from .errors import InputError
from .roles import Permission

if TYPE_CHECKING:
    from .archive import Acting

DEFAULT_THRESHOLD = 10


@dataclass(frozen=True)
class Match:
    item_id: str
    distance: int
    original_name: str
    media_type: str

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def similar_items(acting: Acting, item_id: str, threshold: int = DEFAULT_THRESHOLD) -> list[Match]:
    """Items whose perceptual hash lies within ``threshold`` bits of ``item_id``'s, nearest first.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ItemNotFoundError: no such item.
        InputError: a threshold out of range.
    """
    # Imported here: the CLI reads DEFAULT_THRESHOLD at start-up, before any archive is open.
    from sqlalchemy import select

    from .db.models import Item
    from .items import get_item
    from .metadata import hash_distance

    acting.require(Permission.VIEW, item_id)
    with acting.archive.db.read() as session:
        target = parse(get_item(session, item_id).record)
        mine = (target.get("metadata") or {}).get("phash")
        if not mine:
            raise InputError(
                f"{item_id} has no perceptual hash ({target.get('media_type')}); only images and videos have one"
            )
        matches = []
        for row in session.scalars(select(Item).where(Item.item_id != item_id).order_by(Item.num)):
            record = parse(row.record)
            theirs = (record.get("metadata") or {}).get("phash")
            if not theirs:
                continue
            distance = hash_distance(mine, theirs)
            if distance <= threshold:
                matches.append(Match(row.item_id, distance, str(record["original_name"]), row.media_type))
    return sorted(matches, key=lambda m: (m.distance, m.item_id))
