"""Operating an archive for years: replicas, catalog backups and restores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .render import finish, out, print_json
from .state import STATE

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
S3Endpoint = Annotated[str | None, typer.Option("--s3-endpoint", help="S3-compatible endpoint URL (MinIO, Ceph...).")]


def replicate(
    to: Annotated[str, typer.Option("--to", help="A folder on another disk or host, or s3://BUCKET/PREFIX.")],
    s3_endpoint: S3Endpoint = None,
    retention_days: Annotated[
        int | None, typer.Option(help="S3 Object Lock retention in days for the replica (default 3650).")
    ] = None,
    allow_unlocked: Annotated[
        bool, typer.Option("--allow-unlocked", help="Accept an S3 bucket without Object Lock (not WORM: avoid).")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Copy every stored blob not yet replicated there to a second store, and record each replica in the log.

    Admins only. 'verify --all' then re-hashes every replica. Exit 1 if a blob could not be copied.
    """
    from custody.replicas import parse_target
    from custody.replicate import replicate as run

    target = parse_target(to, s3_endpoint, retention_days, allow_unlocked)
    result = run(STATE.acting(), target, allow_unlocked)
    events = f" (events {result.events[0]}..{result.events[-1]})" if result.events else ""
    said = (
        f"Replicated {result.copied} blob(s), {result.bytes} bytes, to {result.target}{events}; "
        f"{result.already} were already there"
    )
    finish(result, json_, said, list(result.failures))


def backup(
    out_dir: Annotated[Path, typer.Argument(help="New folder for the backup.")],
    json_: JsonOpt = False,
) -> None:
    """Write a consistent snapshot of the SQLite catalog, with the checkpoint it corresponds to (admins).

    Blobs are not included (see 'custody replicate'), nor private keys (see 'custody actor backup').
    """
    from custody.backup_catalog import backup_catalog

    result = backup_catalog(STATE.acting(), out_dir)
    if json_:
        print_json(result.to_json())
        return
    out.print(
        f"Backed up the catalog ({result.database_bytes} bytes) to {result.folder}: it holds the log up to "
        f"checkpoint size {result.checkpoint_size} (root {result.checkpoint_root[:16]}…)",
        markup=False,
        highlight=False,
    )


def restore(
    backup_dir: Annotated[Path, typer.Argument(help="A folder written by 'custody backup'.")],
    to: Annotated[Path, typer.Option("--to", help="The new archive folder to create.")],
    blobs_from: Annotated[str, typer.Option("--blobs-from", help="The replica: a folder or s3://BUCKET/PREFIX.")],
    s3_endpoint: S3Endpoint = None,
    json_: JsonOpt = False,
) -> None:
    """Restore an archive from a catalog backup and a replica's blobs (each re-hashed); exit 1 if any is missing.

    Then each actor puts back their key files (or 'actor restore'), and 'verify --all --against-checkpoint'
    of a published checkpoint shows the restored archive is the one published.
    """
    from custody.backup_catalog import restore_archive
    from custody.replicas import parse_target

    result = restore_archive(backup_dir, to, parse_target(blobs_from, s3_endpoint))
    said = (
        f"Restored {to}: catalog up to checkpoint size {result.checkpoint_size}, {result.blobs} blob(s) "
        f"from {blobs_from}"
    )
    problems = [f"blob {sha} is missing or altered in the replica: not restored" for sha in result.missing]
    finish(result, json_, said, problems)


def register(app: typer.Typer) -> None:
    app.command()(replicate)
    app.command()(backup)
    app.command()(restore)
