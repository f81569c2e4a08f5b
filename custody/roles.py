"""Roles and what each may do. Checked before every action; refusals are logged."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    ARCHIVIST = "archivist"
    ANALYST = "analyst"
    REVIEWER = "reviewer"


class Permission(StrEnum):
    INGEST = "ingest"
    ANNOTATE = "annotate"
    EXPORT = "export"
    IMPORT = "import"
    VIEW = "view"
    ACCESS = "access"
    VERIFY = "verify"
    CHECKPOINT = "checkpoint"
    MANAGE_ACTORS = "manage-actors"
    ADMINISTER = "administer"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.ARCHIVIST: frozenset(
        {
            Permission.INGEST,
            Permission.ANNOTATE,
            Permission.EXPORT,
            Permission.IMPORT,
            Permission.VIEW,
            Permission.ACCESS,
            Permission.CHECKPOINT,
        }
    ),
    Role.ANALYST: frozenset({Permission.VIEW, Permission.ANNOTATE, Permission.ACCESS}),
    Role.REVIEWER: frozenset({Permission.VIEW, Permission.VERIFY, Permission.ACCESS, Permission.CHECKPOINT}),
}


def allows(role: str, permission: Permission) -> bool:
    """True if ``role`` grants ``permission``."""
    try:
        return permission in _GRANTS[Role(role)]
    except ValueError:
        return False


def roles_with(permission: Permission) -> list[str]:
    """The roles that grant ``permission``, for error messages."""
    return [role.value for role, grants in _GRANTS.items() if permission in grants]
