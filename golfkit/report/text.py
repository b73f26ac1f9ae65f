"""Human text: notices first, then a verdict line per record and its findings grouped by severity.

Every value is shown through `_esc` (control characters as visible escapes): a file name holding
`\\x1b[32m` or `\\r\\n` cannot colour the terminal, draw a line of its own or overwrite one.

A tree of records prints one block per record (`record_lines`), so that a caller can print each as
it is verified, then the summary line (`summary_line`). Info findings take one summary line per
record unless `verbose`; `errors_only` prints only failing records and their errors.
"""

from __future__ import annotations

from collections import Counter

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


def notice_lines(notes: list[str]) -> list[str]:
    """`NOTICE: ...` lines (and a blank line after them), or nothing."""
    out = [f"NOTICE: {_esc(notice)}" for notice in notes]
    return [*out, ""] if out else []


def record_lines(report: RecordReport, verbose: bool = True, errors_only: bool = False) -> list[str]:
    """One record's block: its verdict line, its findings by severity, a blank line. With `errors_only`,
    nothing for a record that passes and only the errors of one that fails; without `verbose`, the info
    findings are one line naming their ids."""
    if errors_only and report.verdict != "fail":
        return []
    counts = ", ".join(f"{report.count(sev)} {name}" for sev, name in HEADINGS[:2])
    out = [f"{report.verdict.upper()}  {_esc(report.path)}  ({counts})"]
    for severity, name in HEADINGS:
        group = [f for f in report.findings if f.severity == severity]
        if not group or errors_only and severity != Severity.ERROR:
            continue
        if severity == Severity.INFO and not verbose:
            out.append(f"  info: {_info_summary(group)}; --verbose lists them")
            continue
        out.append(f"  {name}:")
        for finding in group:
            place = where(finding)
            out.append(f"    [{_esc(finding.id)}] {_esc(finding.message)}" + (f"  ({_esc(place)})" if place else ""))
    out.append("")
    return out


def _info_summary(group: list[Finding]) -> str:
    counts = Counter(f.id for f in group)
    ids = ", ".join(_esc(ident) + (f" x{n}" if n > 1 else "") for ident, n in counts.items())
    return f"{len(group)} note{'s' if len(group) != 1 else ''} ({ids})"


def summary_line(reports: list[RecordReport]) -> str:
    failed = sum(1 for r in reports if r.verdict == "fail")
    return f"{len(reports)} record(s): {len(reports) - failed} pass, {failed} fail"


def render(reports: list[RecordReport], verbose: bool = True, errors_only: bool = False) -> str:
    out = notice_lines(notices(reports))
    for report in reports:
        out += record_lines(report, verbose, errors_only)
    out.append(summary_line(reports))
    return "\n".join(out) + "\n"
