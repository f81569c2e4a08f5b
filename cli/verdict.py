"""How a verification report is shown: passes summarised per check, failures and warnings one per line, the verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from .render import out, print_json, styled, table, warn

if TYPE_CHECKING:
    from custody.checks import Report


def _verdict(ok: bool, warning: bool) -> Any:
    if not ok:
        return styled("[red]FAIL[/]")
    return styled("[yellow]WARN[/]") if warning else styled("[green]PASS[/]")


def render_report(report: Report, json_: bool, names: dict[str, str] | None = None) -> None:
    """Failures and warnings one per line, passes summarised per check; exit 1 on any failure.

    ``names`` (key id -> actor name) lets the text name the people behind key ids.
    """
    from custody.humanize import readable

    if json_:
        print_json(report.to_json())
    else:
        if report.summary:
            from custody.bundle.summary import describe

            for line in describe(report.summary):
                out.print(line, markup=False, highlight=False, soft_wrap=True)  # key ids and paths stay whole
        summary: dict[str, list[int]] = {}
        passed_detail: dict[str, list[str]] = {}
        for c in report.checks:
            counts = summary.setdefault(c.check, [0, 0, 0])
            counts[2 if not c.ok else 1 if c.warning else 0] += 1
            if c.ok and not c.warning:
                passed_detail.setdefault(c.check, []).append(c.detail)
        rows = [
            [
                name,
                f"{ok} passed" if ok else "",
                styled(f"[yellow]{warned} warning(s)[/]") if warned else "",
                styled(f"[red]{bad} failed[/]") if bad else "",
                # One pass may stand for many (e.g. "44 event signatures verify"): say what it covered.
                readable(passed_detail[name][0], names or {}) if ok == 1 else f"{ok} subjects",
            ]
            for name, (ok, warned, bad) in summary.items()
        ]
        table("Verification", ["check", "passed", "warnings", "failed", "what was checked"], rows)
        notable = [c for c in report.checks if not c.ok or c.warning]
        if notable:
            table(
                "Failures and warnings",
                ["check", "subject", "result", "detail"],
                [
                    [
                        c.check,
                        readable(c.subject, names or {}),
                        _verdict(c.ok, c.warning),
                        readable(c.detail, names or {}),
                    ]
                    for c in notable
                ],
            )
        from custody.log.authority import IDENTITY_CHECK

        unidentified = [c for c in report.checks if c.check == IDENTITY_CHECK and c.warning]
        verdict = "[green]ALL CHECKS PASSED[/]" if report.ok else f"[red]{len(report.failures)} CHECK(S) FAILED[/]"
        if unidentified:
            verdict += " [yellow](the archive's identity was NOT checked)[/]"
        out.print(verdict)
        for c in unidentified:
            # Said in plain words, outside the table: a pass here does not say whose bundle this is.
            warn(c.detail)
    raise typer.Exit(0 if report.ok else 1)
