"""Human text: notices first, then a verdict line per record and its findings grouped by severity.

Every value is shown through `_esc` (control characters as visible escapes): a file name holding
`\\x1b[32m` or `\\r\\n` cannot colour the terminal, draw a line of its own or overwrite one.
"""

from __future__ import annotations

from golfkit.findings import Finding, Severity
from golfkit.report import RecordReport, notices, visible

HEADINGS = [(Severity.ERROR, "errors"), (Severity.WARNING, "warnings"), (Severity.INFO, "info")]


def where(finding: Finding) -> str:
    """`file:line`, `file` or "" (raw: each reporter escapes it its own way)."""
    if finding.file is None:
        return ""
    return f"{finding.file}:{finding.line}" if finding.line else finding.file


def _esc(value: object) -> str:
    return visible(value)


def render(reports: list[RecordReport]) -> str:
    out = [f"NOTICE: {_esc(notice)}" for notice in notices(reports)]
    if out:
        out.append("")
    for report in reports:
        counts = ", ".join(f"{report.count(sev)} {name}" for sev, name in HEADINGS[:2])
        out.append(f"{report.verdict.upper()}  {_esc(report.path)}  ({counts})")
        for severity, name in HEADINGS:
            group = [f for f in report.findings if f.severity == severity]
            if not group:
                continue
            out.append(f"  {name}:")
            for finding in group:
                place = where(finding)
                out.append(f"    [{_esc(finding.id)}] {_esc(finding.message)}" + (f"  ({_esc(place)})" if place else ""))
        out.append("")
    failed = sum(1 for r in reports if r.verdict == "fail")
    out.append(f"{len(reports)} record(s): {len(reports) - failed} pass, {failed} fail")
    return "\n".join(out) + "\n"
