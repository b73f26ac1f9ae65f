"""Reports: the result of verifying records, rendered as text, JSON, GitHub annotations or Markdown.

Results are collected once into `RecordReport`s; each reporter is a function
`render(reports) -> str` in its own module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from golfkit.errors import EXIT_FINDINGS, EXIT_OK, GolfkitError
from golfkit.findings import Finding, Severity

FORMATS = ("text", "json", "github", "markdown")
SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass
class RecordReport:
    """One record's verdict ("pass" or "fail"), its findings, what it claims and what was measured."""

    path: str
    verdict: str
    findings: list[Finding]
    claims: dict[str, Any] = field(default_factory=dict)
    measured: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, path: str, findings: list[Finding], claims: dict[str, Any], measured: dict[str, Any]) -> RecordReport:
        verdict = "fail" if any(f.severity == Severity.ERROR for f in findings) else "pass"
        ordered = sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])
        return cls(path, verdict, ordered, claims, measured)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "verdict": self.verdict, "findings": [f.to_json() for f in self.findings],
                "claims": self.claims, "measured": self.measured}


def exit_code(reports: list[RecordReport]) -> int:
    """The exit status of a command that reports on records: 1 when any failed, else 0 (bad input,
    2, never gets this far: golfkit.errors)."""
    return EXIT_FINDINGS if any(report.verdict == "fail" for report in reports) else EXIT_OK


def render(reports: list[RecordReport], fmt: str = "text") -> str:
    """Render reports in one of FORMATS. Raises GolfkitError for an unknown format."""
    if fmt == "text":
        from golfkit.report.text import render as chosen
    elif fmt == "json":
        from golfkit.report.json_report import render as chosen
    elif fmt == "github":
        from golfkit.report.github import render as chosen
    elif fmt == "markdown":
        from golfkit.report.markdown import render as chosen
    else:
        raise GolfkitError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    return chosen(reports)
