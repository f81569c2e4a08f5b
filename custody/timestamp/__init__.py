"""Trusted time: RFC 3161 tokens over checkpoints and bundle seals.

``tsa`` and ``settings`` are pure (the protocol and the configuration); ``stamps`` is the use case that
asks the TSA and stores tokens in the catalog. This package module only holds the cheap entry point that
use cases call after committing a checkpoint, so that an archive without a TSA never loads the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..archive import Archive


def timestamp_checkpoint(archive: Archive, num: int | None) -> None:
    """Ask the configured TSA for a token over checkpoint ``num``; a failure becomes one of ``archive.notices``.

    Raises nothing for an unreachable or refusing TSA (that is the notice); without a TSA it does nothing.
    """
    if num is None or not archive.config.tsa.get("url"):
        return  # no TSA configured: the timestamp libraries need not even be loaded
    from .stamps import stamp_new_checkpoint

    notice = stamp_new_checkpoint(archive, num)
    if notice:
        archive.notices.append(notice)
