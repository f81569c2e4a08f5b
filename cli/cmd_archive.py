"""Archive-level commands: init."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .render import out, print_json, table
from .state import STATE, ask_new_passphrase, ask_passphrase

S3Endpoint = Annotated[str | None, typer.Option("--s3-endpoint", help="S3-compatible endpoint URL (MinIO, Ceph...).")]
Retention = Annotated[int | None, typer.Option(help="S3 Object Lock retention in days (default 3650).")]
LegalHold = Annotated[bool, typer.Option("--legal-hold", help="Also place an S3 legal hold on every blob.")]
AllowUnlocked = Annotated[
    bool, typer.Option("--allow-unlocked", help="Accept an S3 bucket without Object Lock (not WORM: avoid).")
]


def _store_options(
    endpoint: str | None, retention_days: int | None, legal_hold: bool, allow_unlocked: bool
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if endpoint:
        options["endpoint_url"] = endpoint
    if retention_days is not None:
        options["retention_days"] = retention_days
    if legal_hold:
        options["legal_hold"] = True
    if allow_unlocked:
        options["allow_unlocked"] = True
    return options


def init(
    path: Annotated[Path, typer.Argument(help="Folder to create the archive in.")],
    admin: Annotated[str | None, typer.Option(help="Name of the first admin (default: the OS user).")] = None,
    db: Annotated[
        str | None,
        typer.Option(help="Catalog database URL, e.g. postgresql+psycopg://user@host/db (default: SQLite here)."),
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="Blob store: s3://BUCKET/PREFIX (default: file:store in the folder).")
    ] = None,
    s3_endpoint: S3Endpoint = None,
    retention_days: Retention = None,
    legal_hold: LegalHold = False,
    allow_unlocked: AllowUnlocked = False,
    organization: Annotated[str, typer.Option(help="Organisation named as Source-Organization in bundles.")] = "",
    tsa_url: Annotated[
        str | None,
        typer.Option("--tsa-url", help="RFC 3161 time-stamp authority: every checkpoint and bundle seal gets a token."),
    ] = None,
    tsa_ca: Annotated[
        Path | None, typer.Option("--tsa-ca", help="PEM root certificate of that TSA, to check its tokens.")
    ] = None,
) -> None:
    """Create an archive: config, migrated catalog, store, archive key and first admin."""
    from custody.initialise import default_actor, init_archive

    name = admin or default_actor()
    archive = init_archive(
        path,
        name,
        ask_new_passphrase,
        db_url=db,
        store_url=store,
        organization=organization,
        store_options=_store_options(s3_endpoint, retention_days, legal_hold, allow_unlocked),
        tsa_url=tsa_url,
        tsa_ca=tsa_ca,
    )
    STATE.opened.append(archive)
    out.print(f"Created archive {archive.config.root} (origin {archive.config.origin}); admin: {name}")
    archive.close()


def join(
    path: Annotated[Path, typer.Argument(help="Local folder for this machine's configuration and keys.")],
    db: Annotated[str, typer.Option(help="The shared catalog's PostgreSQL URL.")],
    store: Annotated[str, typer.Option(help="The shared store URL, e.g. s3://BUCKET/PREFIX.")],
    s3_endpoint: S3Endpoint = None,
    retention_days: Retention = None,
    legal_hold: LegalHold = False,
    allow_unlocked: AllowUnlocked = False,
) -> None:
    """Join a shared archive from this machine (writes only the local config; copy your key files into keys/)."""
    from custody.join import join_archive

    archive = join_archive(path, db, store, _store_options(s3_endpoint, retention_days, legal_hold, allow_unlocked))
    out.print(
        f"Joined archive {archive.config.origin} at {archive.config.root}; put your key files in "
        f"{archive.config.keys_dir}"
    )
    archive.close()


def upgrade() -> None:
    """Apply pending schema migrations (admins only); logged."""
    from custody.archive import Archive
    from custody.config import find_archive
    from custody.upgrade import upgrade_archive

    archive = Archive.open(find_archive(STATE.archive_path), check_schema=False)
    STATE.opened.append(archive)
    result = upgrade_archive(archive, STATE.actor_name(), ask_passphrase)
    if result.changed:
        out.print(f"Upgraded the catalog from {result.before} to {result.after}")
    else:
        out.print(f"The catalog is up to date ({result.after})")


def status(json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the archive: database, store and lock settings, counts, latest checkpoint, actors."""
    from custody.status import archive_status

    data = archive_status(STATE.acting())
    if json_:
        print_json(data)
        return
    from custody import humanize as h

    cp = data["latest_checkpoint"]
    rows = [
        ["archive", data["archive"]["origin"]],
        [
            "database",
            f"{data['database']['kind']} {data['database']['version']} ({data['database']['url']}), "
            f"schema {data['database']['schema']}",
        ],
        ["store", ", ".join(f"{k}={v}" for k, v in data["store"].items())],
        ["items", data["items"]],
        ["stored", h.size(data["bytes_stored"])],
        ["events", data["events"]],
        ["latest checkpoint", "none" if cp is None else f"#{cp['number']} size {cp['size']} at {h.utc(cp['time'])}"],
        [
            "time-stamp authority",
            "none"
            if data["tsa"]["url"] is None
            else f"{data['tsa']['url']} ({data['tsa']['untimestamped']} checkpoints untimestamped)",
        ],
        ["actors", ", ".join(_roster_entry(a) for a in data["actors"])],
        ["fixity", data["fixity"]["summary"]],
        ["unrecorded blobs", data["unrecorded_blobs"]["summary"]],
    ]
    table("Archive status", ["", ""], rows)


def _roster_entry(actor: dict[str, str]) -> str:
    revoked = ", revoked" if actor["status"] == "revoked" else ""
    return f"{actor['name']} ({actor['role']}{revoked})"


def samples(folder: Annotated[Path, typer.Argument(help="Folder to write the sample files into.")]) -> None:
    """Write sample evidence (geotagged JPEGs and a transcript) for demos and training."""
    from custody.samples import write_samples

    for path in write_samples(folder):
        out.print(str(path))


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(join)
    app.command()(upgrade)
    app.command()(status)
    app.command()(samples)
