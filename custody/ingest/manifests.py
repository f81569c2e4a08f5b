"""Batch manifests: a CSV with one row per file (path plus provenance columns), checked whole."""

from __future__ import annotations

import csv
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from ..errors import CustodyError, InputError
from ..records import Provenance
from ..timeutil import parse_iso
from .sources import Source, collect

_COLUMNS = {f.name for f in fields(Provenance)}
_TIMES = {"collected_at", "posted_at"}


def read_manifest(path: Path, defaults: Provenance, follow_symlinks: bool) -> list[tuple[Source, Provenance]]:
    """Every row checked before anything is ingested; all bad rows are reported by line number."""
    try:
        text = path.read_text("utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such manifest file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the manifest ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    if "path" not in header:
        raise InputError(
            f"{path}: the manifest needs a 'path' column; columns may be: path, {', '.join(sorted(_COLUMNS))}"
        )
    unknown = sorted(set(header) - _COLUMNS - {"path"})
    if unknown:
        raise InputError(
            f"{path}: unknown column(s) {', '.join(unknown)}; allowed: path, {', '.join(sorted(_COLUMNS))}"
        )
    rows: list[tuple[Source, Provenance]] = []
    problems: list[str] = []
    for number, row in enumerate(reader, start=2):
        values = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        file_text = values.pop("path", "")
        if not file_text:
            problems.append(f"line {number}: empty path")
            continue
        target = Path(file_text) if Path(file_text).is_absolute() else path.parent / file_text
        try:
            for name in _TIMES & {k for k, v in values.items() if v}:
                parse_iso(values[name], name)
            (source,) = collect([target], False, follow_symlinks)
        except ValueError:
            problems.append(f"line {number}: {target} is a folder; list its files one per row")
            continue
        except CustodyError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        overrides: dict[str, Any] = {k: v for k, v in values.items() if v}
        if "tags" in overrides:  # one cell: tags separated by ';' (or ','), added to the --tag ones
            cell = str(overrides["tags"]).replace(",", ";")
            overrides["tags"] = (*defaults.tags, *(t.strip() for t in cell.split(";") if t.strip()))
        rows.append((source, replace(defaults, **overrides)))
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise InputError(f"{path}: {len(problems)} bad row(s), nothing was ingested: {shown}")
    if not rows:
        raise InputError(f"{path}: the manifest lists no files")
    return rows
