"""A Markdown step summary: a table of verdicts, then each record's errors and warnings."""

from __future__ import annotations

from golfkit.findings import Severity
from golfkit.report import RecordReport
from golfkit.report.text import where

ICON = {"pass": "✅ pass", "fail": "❌ fail"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(reports: list[RecordReport]) -> str:
    out = ["## golfkit verify", "", "| record | verdict | errors | warnings | val_bpb (claimed) |", "|---|---|---|---|---|"]
    for r in reports:
        bpb = r.claims.get("val_bpb", "")
        out.append(f"| `{_cell(r.path)}` | {ICON[r.verdict]} | {r.count(Severity.ERROR)} | {r.count(Severity.WARNING)} "
                   f"| {bpb} |")
    for r in reports:
        shown = [f for f in r.findings if f.severity != Severity.INFO]
        if not shown:
            continue
        out += ["", f"### `{r.path}`", ""]
        for f in shown:
            place = where(f)
            out.append(f"- **{f.severity.value}** `{f.id}`: {_cell(f.message)}" + (f" (`{place}`)" if place else ""))
    return "\n".join(out) + "\n"
