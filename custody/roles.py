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


class Action(StrEnum):
    """Every action the custody log records."""

    ARCHIVE_INIT = "archive.init"
    ACTOR_ADD = "actor.add"
    ACTOR_REVOKE = "actor.revoke"
    ACTOR_ROTATE = "actor.rotate"
    ACTOR_ROLE = "actor.role"
    ARCHIVE_UPGRADE = "archive.upgrade"
    CONFIGURE = "configure"
    INGEST = "ingest"
    ACQUIRE = "acquire"
    DERIVE = "derive"
    ANNOTATE = "annotate"
    EXPORT = "export"
    EXPORT_FAILED = "export.failed"
    EXPORT_REQUEST = "export.request"
    EXPORT_APPROVE = "export.approve"
    EXPORT_REJECT = "export.reject"
    IMPORT = "import"
    VIEW = "view"
    ACCESS = "access"
    VERIFY = "verify"
    REFUSE = "refuse"
    REPORT = "report"
    CASE_ADD = "case.add"
    CORRECT = "correct"
    REPLICATE = "replicate"


ANY_ACTOR = None
"""In ``ACTION_PERMISSION``: any registered actor may sign the action (a refusal is logged for anyone)."""

ACTION_PERMISSION: dict[Action, Permission | None] = {
    # archive.init is absent on purpose: it is valid only as event 0 (custody.log.authority).
    Action.ACTOR_ADD: Permission.MANAGE_ACTORS,
    Action.ACTOR_REVOKE: Permission.MANAGE_ACTORS,
    Action.ACTOR_ROTATE: Permission.MANAGE_ACTORS,
    Action.ACTOR_ROLE: Permission.MANAGE_ACTORS,
    Action.ARCHIVE_UPGRADE: Permission.ADMINISTER,
    Action.CONFIGURE: Permission.ADMINISTER,
    Action.INGEST: Permission.INGEST,
    Action.ACQUIRE: Permission.INGEST,
    Action.DERIVE: Permission.INGEST,
    Action.ANNOTATE: Permission.ANNOTATE,
    Action.EXPORT: Permission.EXPORT,
    Action.EXPORT_FAILED: Permission.EXPORT,
    Action.EXPORT_REQUEST: Permission.EXPORT,
    Action.EXPORT_APPROVE: Permission.EXPORT,
    Action.EXPORT_REJECT: Permission.EXPORT,
    Action.IMPORT: Permission.IMPORT,
    Action.VIEW: Permission.VIEW,
    Action.ACCESS: Permission.ACCESS,
    Action.VERIFY: Permission.VERIFY,
    Action.REFUSE: ANY_ACTOR,
    # A report or CASE/UCO export discloses what `show` would: the view permission.
    Action.REPORT: Permission.VIEW,
    # Putting an item into a case and correcting its stated provenance are statements about where
    # evidence belongs and came from, as an ingest is: whoever may ingest.
    Action.CASE_ADD: Permission.INGEST,
    Action.CORRECT: Permission.INGEST,
    # Replication sends every piece of evidence to another place (bucket, provider, jurisdiction): admins only.
    Action.REPLICATE: Permission.ADMINISTER,
}
"""The permission an event's signer must hold, at that point of the log, to have logged the action."""


def logged_actions(role: str) -> frozenset[str]:
    """The actions an actor of ``role`` may sign (what verification replays; read from the tables, not ``allows``)."""
    try:
        grants = _GRANTS[Role(role)]
    except ValueError:
        return frozenset()
    return frozenset(
        action.value for action, needed in ACTION_PERMISSION.items() if needed is ANY_ACTOR or needed in grants
    )


def allows(role: str, permission: Permission) -> bool:
    """True if ``role`` grants ``permission``."""
    try:
        return permission in _GRANTS[Role(role)]
    except ValueError:
        return False


def roles_with(permission: Permission) -> list[str]:
    """The roles that grant ``permission``, for error messages."""
    return [role.value for role, grants in _GRANTS.items() if permission in grants]
