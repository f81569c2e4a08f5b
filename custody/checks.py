"""Verification outcomes: one ``Check`` per step, gathered in a ``Report`` (imports nothing heavy).

Shared by ``verify`` (archive) and ``verify-bundle``/``import`` (offline, no database stack).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    """One verification step and its outcome."""

    check: str
    subject: str
    ok: bool
    detail: str = ""
    warning: bool = False  # passed, but someone should act (e.g. retention ending soon)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "subject": self.subject,
            "ok": self.ok,
            "detail": self.detail,
            "warning": self.warning,
        }


@dataclass
class Report:
    """Every check made; the verification passes only if all passed."""

    checks: list[Check] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    """What was checked (for bundles: which bundle, who sealed it, anchors used); not a verdict."""

    def add(self, check: str, subject: str, ok: bool, detail: str = "", warning: bool = False) -> None:
        self.checks.append(Check(check, subject, ok, detail, warning))

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "ok": self.ok,
            "failures": len(self.failures),
            "checks": [c.to_json() for c in self.checks],
        }
        if self.summary:
            result["summary"] = self.summary
        return result
