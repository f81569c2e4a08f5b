"""Content Credentials (C2PA manifests) read with the official c2pa-python library.

The file is only read. What is recorded is what the manifest claims and whether the
library could validate it: "Valid" means its signature and hashes check out, "Trusted"
would also need the signer on a trust list, and none is configured, so "Valid" is the
best state reachable here; "Invalid" means the file or the manifest was altered.

Reading never touches the network: remote manifest fetching and OCSP are switched off in the
reader's settings. A file that points to a remote manifest (XMP ``dcterms:provenance``) is
recorded with that URL, "not fetched", so nobody learns when or where the file was ingested.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

REMOTE_NOT_FETCHED = "the manifest is stored remotely and was not fetched: ingest makes no network requests"
# c2pa-rs settings: no remote manifest fetch, no OCSP request (both would reach a host the file names).
OFFLINE_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
NOT_INSTALLED = "c2pa-python is not installed (pip install c2pa-python); Content Credentials were not read"
# C2PA can also sit in audio and PDF files; only these kinds are worth asking the library about.
_CANDIDATE_PREFIXES = ("image/", "video/", "audio/", "application/pdf")


@cache
def _supported_types() -> frozenset[str] | None:
    try:
        import c2pa
    except ImportError:
        return None
    return frozenset(str(t) for t in c2pa.Reader.get_supported_mime_types())


def library_version() -> str | None:
    """The c2pa-python version, or None when it is not installed."""
    try:
        return metadata.version("c2pa-python")
    except metadata.PackageNotFoundError:
        return None


def _actions(manifest: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            names += [str(a.get("action")) for a in (assertion.get("data") or {}).get("actions") or []]
    return names


def _generator(manifest: dict[str, Any]) -> str | None:
    infos = manifest.get("claim_generator_info") or []
    if infos:
        first = infos[0]
        return " ".join(str(first[k]) for k in ("name", "version") if first.get(k))
    generator = manifest.get("claim_generator")
    return str(generator) if generator else None


def _summary(store: dict[str, Any], state: str | None) -> dict[str, object]:
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label) or {}
    signature = manifest.get("signature_info") or {}
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = [
        {"code": str(f.get("code")), "explanation": str(f.get("explanation", ""))} for f in results.get("failure") or []
    ]
    summary: dict[str, Any] = {
        "validation_state": state or ("Invalid" if failures else "Unknown"),
        "active_manifest": label,
        "manifest_count": len(store.get("manifests") or {}),
        "claim_generator": _generator(manifest),
        "title": manifest.get("title"),
        "signer": {
            k: signature[k] for k in ("issuer", "common_name", "alg", "time", "cert_serial_number") if k in signature
        },
        "actions": _actions(manifest),
        "ingredients": [str(i.get("title")) for i in manifest.get("ingredients") or []],
        # As the library reports them; with no trust list configured this includes
        # signingCredential.untrusted, which is why "Valid" is the best state reachable here.
        "failures": failures,
    }
    return summary


def _has_manifest_marker(path: Path, chunk: int = 1 << 20) -> bool:
    """Whether the bytes hold a JUMBF box labelled c2pa (the manifest store's label)."""
    tail = b""
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            window = tail + block
            if b"jumb" in window and b"c2pa" in window:
                return True
            tail = window[-64:]
    return False


def _remote(url: str | None) -> dict[str, object]:
    return {"not_read": REMOTE_NOT_FETCHED, "remote_manifest": {"url": url, "fetched": False}}


def read_content_credentials(
    path: Path, media_type: str, remote_url: str | None = None
) -> tuple[dict[str, object] | None, dict[str, object]]:
    """Summary for the signed record and the complete manifest store, or (None, {}) without one.

    ``remote_url`` is the file's remote manifest reference as ExifTool read it, if any. A missing
    library or an unreadable manifest gives a summary with ``not_read`` saying why, never a
    silent nothing.
    """
    if not media_type.startswith(_CANDIDATE_PREFIXES):
        return None, {}
    supported = _supported_types()
    if supported is None:
        return (
            {"not_read": NOT_INSTALLED, "remote_manifest": {"url": remote_url, "fetched": False}}
            if remote_url
            else {"not_read": NOT_INSTALLED}
        ), {}
    if media_type not in supported:
        return (_remote(remote_url) if remote_url else None), {}
    import c2pa

    try:
        with path.open("rb") as stream, c2pa.Context(c2pa.Settings.from_dict(OFFLINE_SETTINGS)) as context:
            reader = c2pa.Reader.try_create(media_type, stream, context=context)
            if reader is None:
                return (_remote(remote_url) if remote_url else None), {}
            with reader:
                store: dict[str, object] = json.loads(reader.json())
                state = reader.get_validation_state()
    except c2pa.C2paError as exc:
        if str(exc).startswith("Remote:") or remote_url:
            return _remote(remote_url or _url_in(str(exc))), {}
        # A corrupt file without a manifest is the image or video reader's finding, not ours;
        # a manifest that is there but cannot be parsed is a finding, never a reason to refuse.
        if not _has_manifest_marker(path):
            return None, {}
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {"not_read": f"Content Credentials present but unreadable: {reason}"}, {}
    return _summary(store, str(state) if state else None), store


def _url_in(message: str) -> str | None:
    words = [w for w in message.split() if w.startswith(("http://", "https://"))]
    return words[0] if words else None


def describe(summary: dict[str, Any]) -> str:
    """One line for people: state, signer, generator and what the manifest says was done."""
    if summary.get("remote_manifest"):
        return f"remote manifest at {summary['remote_manifest'].get('url')}, not fetched (no network during ingest)"
    if summary.get("not_read"):
        return f"not read: {summary['not_read']}"
    signer = summary.get("signer") or {}
    who = ", ".join(str(signer[k]) for k in ("common_name", "issuer") if signer.get(k)) or "unknown signer"
    text = f"{summary.get('validation_state')} manifest signed by {who}"
    if summary.get("claim_generator"):
        text += f", made with {summary['claim_generator']}"
    if summary.get("actions"):
        text += f"; actions: {', '.join(summary['actions'])}"
    if summary.get("validation_state") == "Valid":
        text += " (signature and hashes check; signer not checked against a C2PA trust list)"
    return text
