"""Schema upgrades: apply pending Alembic migrations and log that it happened."""

from __future__ import annotations

from dataclasses import dataclass

from .archive import Archive, Passphrase
from .db import migrate
from .roles import Permission


@dataclass(frozen=True)
class UpgradeResult:
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def upgrade_archive(archive: Archive, actor: str, passphrase: Passphrase) -> UpgradeResult:
    """Run pending migrations (admins only); the upgrade is logged by the acting admin.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ConfigError: the catalog cannot be migrated.
    """
    acting = archive.act(actor, passphrase)
    acting.unlock()
    before = migrate.current_revision(archive.db)
    if before == migrate.head_revision():
        return UpgradeResult(before, before)
    # The refusal of a non-admin is logged with the old schema, which every version can write.
    acting.require(Permission.ADMINISTER)
    migrate.upgrade(archive.db)
    after = migrate.head_revision()
    with acting.writing() as session:
        acting.append(session, "archive.upgrade", {"from": before, "to": after})
    return UpgradeResult(before, after)
