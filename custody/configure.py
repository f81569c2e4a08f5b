"""``custody config``: change the archive's settings in ``custody.toml``; every change is logged."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from .archive import Acting, Archive
from .config import CONFIG_NAME, SETTINGS, ArchiveConfig, write_config
from .disclosure import parse_fields
from .errors import ConfigError, InputError
from .humanize import zone
from .roles import Permission
from .timestamp.settings import check_url, install_ca
from .timestamp.tsa import load_roots


def show_settings(archive: Archive) -> dict[str, object]:
    """The settings ``config set`` manages, as they are now.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
    """
    cfg = archive.config
    return {
        "tsa.url": cfg.tsa.get("url"),
        "tsa.ca": cfg.tsa.get("ca"),
        "tsa.timeout": cfg.tsa.get("timeout"),
        "tsa.backoff": cfg.tsa.get("backoff"),
        "organization": cfg.organization or None,
        "keys.min_length": cfg.keys.get("min_length"),
        "keys.min_score": cfg.keys.get("min_score"),
        "export.approvals": cfg.export.get("approvals", 0),
        "disclosure.withhold": ",".join(cfg.disclosure.get("withhold", [])) or None,
        "timezone": cfg.timezone or None,
    }


def _changed(cfg: ArchiveConfig, key: str, value: str | None) -> tuple[ArchiveConfig, dict[str, object]]:
    """The new configuration and what the log event records of the change."""
    tsa = dict(cfg.tsa)
    logged: dict[str, object] = {"setting": key, "value": value}
    if key == "organization":
        return dataclasses.replace(cfg, organization=value or ""), logged
    if key.startswith("keys."):
        return _key_policy(cfg, key, value), logged
    if key == "export.approvals":
        count = int(value) if value is not None and value.isdigit() else -1 if value is not None else 0
        if not 0 <= count <= 9:
            raise ConfigError(f"export.approvals: '{value}' is not a number of approvals from 0 to 9")
        logged["value"] = count
        return dataclasses.replace(cfg, export={"approvals": count} if count else {}), logged
    if key == "disclosure.withhold":
        try:
            fields = parse_fields(value)
        except InputError as exc:
            raise ConfigError(f"disclosure.withhold: {exc}") from None
        logged["value"] = fields
        return dataclasses.replace(cfg, disclosure={"withhold": fields} if fields else {}), logged
    if key == "timezone":
        if value is not None and zone(value) is None:
            raise ConfigError(f"timezone: '{value}' is not an IANA time zone name; use e.g. Europe/Kyiv or UTC")
        return dataclasses.replace(cfg, timezone=value or ""), logged
    field = key.split(".", 1)[1]
    if value is None:
        if key == "tsa.url":
            tsa.clear()  # without a URL the rest means nothing
        else:
            tsa.pop(field, None)
    elif key == "tsa.url":
        tsa["url"] = check_url(value)
    elif key == "tsa.ca":
        pem = Path(value).expanduser()
        subjects = [c.subject.rfc4514_string() for c in load_roots(pem)]
        tsa["ca"] = install_ca(cfg.root, pem)
        logged = {
            "setting": key,
            "value": tsa["ca"],
            "sha256": hashlib.sha256(pem.read_bytes()).hexdigest(),
            "subjects": subjects,
        }
    else:
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        limit = 300 if field == "timeout" else 86400
        if not 0 < seconds <= limit:
            raise ConfigError(f"{key}: '{value}' is not a number of seconds between 0 and {limit}")
        tsa[field] = seconds
    if tsa and "url" not in tsa:
        raise ConfigError(f"{key}: set tsa.url first; it names the authority the other TSA settings belong to")
    return dataclasses.replace(cfg, tsa=tsa), logged


def _key_policy(cfg: ArchiveConfig, key: str, value: str | None) -> ArchiveConfig:
    field = key.split(".", 1)[1]
    policy = dict(cfg.keys)
    if value is None:
        policy.pop(field, None)
        return dataclasses.replace(cfg, keys=policy)
    low, high = (8, 128) if field == "min_length" else (0, 4)
    if not value.isdigit() or not low <= int(value) <= high:
        raise ConfigError(f"{key}: '{value}' is not a whole number from {low} to {high}")
    policy[field] = int(value)
    return dataclasses.replace(cfg, keys=policy)


def set_setting(acting: Acting, key: str, value: str | None) -> dict[str, object]:
    """Set (or with None, remove) one setting; admins only; the change is a log event.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        InputError: an unknown setting or a value of the wrong form.
        TimestampError, ConfigError: a TSA URL or CA that cannot be used.
    """
    if key not in SETTINGS:
        raise ConfigError(f"unknown setting '{key}'; settable: {', '.join(SETTINGS)}")
    acting.unlock()
    acting.require(Permission.ADMINISTER)
    archive = acting.archive
    before = archive.config
    after, logged = _changed(before, key, value)
    path = before.root / CONFIG_NAME
    saved = path.read_bytes()
    try:
        with acting.writing() as session:
            write_config(after)
            # The checkpoint of this very event is then timestamped with the new settings.
            archive.config = after
            acting.append(session, "configure", logged)
    except BaseException:
        # The event did not commit: the configuration must not have changed either.
        path.write_bytes(saved)
        archive.config = before
        raise
    return show_settings(archive)
