"""The tuning of an ingest, passed as one value (``IngestOptions``) instead of module globals."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class IngestOptions:
    """How an ingest stores and batches its files; the defaults suit a laptop and a server alike."""

    store_workers: int = max(1, min(4, os.cpu_count() or 1))
    """Files stored side by side: reading, hashing and writing release the GIL."""
    store_in_child: bool | None = None
    """Where the store workers run: None picks a forked child process for a local store where that is safe
    (see custody.forked), else threads of this process; True or False forces one (tests exercise each)."""
    batch_files: int = 64
    """Files are stored, then recorded together: one transaction and one checkpoint per batch of at most
    ``batch_files`` files and ``batch_bytes`` bytes."""
    batch_bytes: int = 256 * 1024 * 1024
    store_chunk: int = 8 * 1024 * 1024
    """Bytes per read. Large reads: a store thread beside the recording thread (where no child process is
    used) takes the GIL a few times per chunk while that thread holds it most of the time, so fewer, larger
    chunks keep it busy; in a child process the size makes little difference."""


DEFAULT_OPTIONS = IngestOptions()
