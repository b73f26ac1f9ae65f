"""Reports: the result of verifying records, rendered as text, JSON, GitHub annotations or Markdown.

Results are collected once into `RecordReport`s; each reporter is a function
`render(reports) -> str` in its own module.

Every string in a report may come from a record (paths, file names, messages that quote them,
claims, notices), so each reporter escapes what it prints in one function of its own: text shows
control characters visibly (`visible`), Markdown escapes its syntax and HTML, GitHub annotations
percent-encode, JSON stays exact. Notices (what the whole run should know, e.g. that code ran
unconfined) come first in every format.
"""

from __future__ import annotations

import re
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
    notices: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, path: str, findings: list[Finding], claims: dict[str, Any], measured: dict[str, Any],
           notices: list[str] | None = None) -> RecordReport:
        verdict = "fail" if any(f.severity == Severity.ERROR for f in findings) else "pass"
        ordered = sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])
        return cls(path, verdict, ordered, claims, measured, list(notices or []))

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "verdict": self.verdict, "findings": [f.to_json() for f in self.findings],
                "claims": self.claims, "measured": self.measured, "notices": list(self.notices)}


def notices(reports: list[RecordReport]) -> list[str]:
    """Every report's notices, each once, in the order first seen: printed at the top of every format."""
    return list(dict.fromkeys(notice for report in reports for notice in report.notices))


# Characters that move the cursor, end a line, recolour a terminal or reorder what follows
# (C0 and C1 controls, DEL, the Unicode line/paragraph separators and bidi controls).
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def visible(text: object) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\r`, `\\n`, `\\u202e`),
    so that a value from a record can neither start a line nor colour, move or reorder the output."""
    return _INVISIBLE.sub(_shown, str(text))


def exit_code(reports: list[RecordReport]) -> int:
    """The exit status of a command that reports on records: 1 when any failed, else 0 (bad input,
    2, never gets this far: golfkit.errors)."""
    return EXIT_FINDINGS if any(report.verdict == "fail" for report in reports) else EXIT_OK


def render(reports: list[RecordReport], fmt: str = "text", *, verbose: bool = True, only_errors: bool = False) -> str:
    """Render reports in one of FORMATS. Raises GolfkitError for an unknown format, and for `only_errors`
    with JSON (a JSON report is always complete).

    `verbose` (text): list every info finding (else one summary line per record). `only_errors`: show only
    failing records and their errors (text, github, markdown); the text summary line still counts all.
    """
    if fmt == "text":
        from golfkit.report.text import render as text

        return text(reports, verbose=verbose, errors_only=only_errors)
    if fmt == "json":
        if only_errors:
            raise GolfkitError("--errors-only filters the human report; JSON output is always complete (filter it "
                               "with jq: .records[] | select(.verdict == \"fail\"))")
        from golfkit.report.json_report import render as as_json

        return as_json(reports)
    if fmt == "github":
        from golfkit.report.github import render as chosen
    elif fmt == "markdown":
        from golfkit.report.markdown import render as chosen  # type: ignore[assignment]
    else:
        raise GolfkitError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    return chosen(reports, errors_only=only_errors)
