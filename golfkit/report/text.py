"""Human text: a verdict line per record, then its findings grouped by severity."""

from __future__ import annotations

from golfkit.findings import Finding, Severity
from golfkit.report import RecordReport

HEADINGS = [(Severity.ERROR, "errors"), (Severity.WARNING, "warnings"), (Severity.INFO, "info")]


def where(finding: Finding) -> str:
    if finding.file is None:
        return ""
    return f"{finding.file}:{finding.line}" if finding.line else finding.file


def render(reports: list[RecordReport]) -> str:
    out: list[str] = []
    for report in reports:
        counts = ", ".join(f"{report.count(sev)} {name}" for sev, name in HEADINGS[:2])
        out.append(f"{report.verdict.upper()}  {report.path}  ({counts})")
        for severity, name in HEADINGS:
            group = [f for f in report.findings if f.severity == severity]
            if not group:
                continue
            out.append(f"  {name}:")
            for finding in group:
                place = where(finding)
                out.append(f"    [{finding.id}] {finding.message}" + (f"  ({place})" if place else ""))
        out.append("")
    failed = sum(1 for r in reports if r.verdict == "fail")
    out.append(f"{len(reports)} record(s): {len(reports) - failed} pass, {failed} fail")
    return "\n".join(out) + "\n"
