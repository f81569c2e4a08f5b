"""Exhibit numbers (or ERNs) assigned to items for a report or an export: a prefix, a CSV, or both."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

_ALLOWED = re.compile(r"^[\w][\w ./:#()+-]{0,63}$")
_ITEM_COLUMNS = ("item", "item_id")
_NUMBER_COLUMNS = ("exhibit", "ern", "exhibit_number")


@dataclass(frozen=True)
class ReportOptions:
    """How the report of an export (or an on-demand report) is made."""

    paper: str = "a4"
    exhibit_prefix: str | None = None
    exhibits_csv: Path | None = None
    case_uco: bool = False

    def numbers(self, item_ids: Sequence[str]) -> dict[str, str]:
        """Item id -> exhibit number for the given items (empty when none were asked for); InputError otherwise."""
        if self.paper.lower() not in {"a4", "letter"}:
            raise InputError(f"--paper '{self.paper}': choose A4 or Letter")
        return assign(item_ids, self.exhibit_prefix, self.exhibits_csv)


def _check(number: str, where: str) -> str:
    number = number.strip()
    if not _ALLOWED.match(number):
        raise InputError(
            f"{where}: exhibit number '{number}' must be 1-64 letters, digits or . / : # ( ) + - _ and spaces"
        )
    return number


def read_csv(path: Path) -> dict[str, str]:
    """Item id -> exhibit number from a CSV with a header naming an item column and an exhibit/ERN column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the exhibit CSV ({exc})") from None
    rows = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in rows.fieldnames or []]
    item_col = next((c for c in _ITEM_COLUMNS if c in header), None)
    number_col = next((c for c in _NUMBER_COLUMNS if c in header), None)
    if item_col is None or number_col is None:
        raise InputError(f"{path}: the first line must name the columns, e.g. 'item,exhibit' (or item_id, ern)")
    rows.fieldnames = header
    mapping: dict[str, str] = {}
    for line, row in enumerate(rows, 2):
        item, number = (row.get(item_col) or "").strip(), row.get(number_col) or ""
        if not item and not number.strip():
            continue
        if not item:
            raise InputError(f"{path} line {line}: no item id")
        if item in mapping:
            raise InputError(f"{path} line {line}: item {item} is listed twice")
        mapping[item] = _check(number, f"{path} line {line}")
    return mapping


def assign(item_ids: Sequence[str], prefix: str | None, csv_path: Path | None) -> dict[str, str]:
    """Numbers from the CSV, then ``<prefix><position, 3 digits>`` for the other items; unique or InputError."""
    given = read_csv(csv_path) if csv_path is not None else {}
    unknown = sorted(set(given) - set(item_ids))
    if unknown:
        raise InputError(f"{csv_path}: {', '.join(unknown[:5])} not among the items of this export or report")
    result: dict[str, str] = {}
    for position, item in enumerate(item_ids, 1):
        if item in given:
            result[item] = given[item]
        elif prefix is not None:
            result[item] = _check(f"{prefix}{position:03d}", "--exhibit-prefix")
    seen: dict[str, str] = {}
    where = f"{csv_path}: " if csv_path is not None else ""
    for item, number in result.items():
        if number in seen:
            raise InputError(f"{where}exhibit number {number} would be given to both {seen[number]} and {item}")
        seen[number] = item
    return result
