"""Verification outcomes: one ``Check`` per step, gathered in a ``Report`` (imports nothing heavy).

Shared by ``verify`` (archive) and ``verify-bundle``/``import`` (offline, no database stack).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class CheckKind(StrEnum):
    """What one verification step checked: the ``check`` of a report entry (schemas/verify-report.schema.json)."""

    ACTOR = "actor"
    AGAINST_CHECKPOINT = "against-checkpoint"
    APPEND_ONLY = "append-only"
    ARCHIVE_IDENTITY = "archive-identity"
    AUTHORITY = "authority"
    BAG = "bag"
    BLOB = "blob"
    CATALOG = "catalog"
    CHAIN = "chain"
    CHECKPOINT = "checkpoint"
    CHECKPOINT_CONSISTENCY = "checkpoint-consistency"
    CHECKPOINT_LATEST = "checkpoint-latest"
    CHECKPOINT_SIGNATURE = "checkpoint-signature"
    CONSISTENCY = "consistency"
    DERIVATION = "derivation"
    DISCLOSURE = "disclosure"
    EVENT = "event"
    EVENT_ITEMS = "event-items"
    EVENT_SIGNATURE = "event-signature"
    EXPORT_APPROVAL = "export-approval"
    EXPORT_EVENT = "export-event"
    FIXITY = "fixity"
    FIXITY_COVERAGE = "fixity-coverage"
    IMPORT = "import"
    INCLUSION = "inclusion"
    INGEST_EVENT = "ingest-event"
    ITEM_CASE = "item-case"
    ITEM_CHAIN = "item-chain"
    ITEM_MISSING = "item-missing"
    LOCK = "lock"
    LOG = "log"
    PAYLOAD = "payload"
    PAYLOAD_BLAKE3 = "payload-blake3"
    PAYLOAD_PATH = "payload-path"
    RECORD_FIELDS = "record-fields"
    RECORD_SIGNATURE = "record-signature"
    REDERIVE = "rederive"
    REPLICA = "replica"
    REVEAL = "reveal"
    SCOPE = "scope"
    SEAL = "seal"
    SEQUENCE = "sequence"
    SINCE = "since"
    TAG_FILE = "tag-file"
    TIMESTAMP = "timestamp"
    TREE = "tree"
    TREE_NODE = "tree-node"
    UNRECORDED_BLOB = "unrecorded-blob"
    VERIFY_LOGGED = "verify-logged"
    WITHHELD_VALUES = "withheld-values"


@dataclass(frozen=True)
class Check:
    """One verification step and its outcome."""

    check: CheckKind
    subject: str
    ok: bool
    detail: str = ""
    warning: bool = False  # passed, but someone should act (e.g. retention ending soon)

    def to_json(self) -> dict[str, object]:
        return {
            "check": self.check.value,
            "subject": self.subject,
            "ok": self.ok,
            "detail": self.detail,
            "warning": self.warning,
        }


@dataclass
class Report:
    """Every check made; the verification passes only if all passed."""

    checks: list[Check] = field(default_factory=list)
    summary: dict[str, object] = field(default_factory=dict)
    """What was checked (for bundles: which bundle, who sealed it, anchors used); not a verdict."""

    def add(self, check: CheckKind, subject: str, ok: bool, detail: str = "", warning: bool = False) -> None:
        self.checks.append(Check(check, subject, ok, detail, warning))

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, object]:
        result: dict[str, object] = {
            "ok": self.ok,
            "failures": len(self.failures),
            "checks": [c.to_json() for c in self.checks],
        }
        if self.summary:
            result["summary"] = self.summary
        return result
