"""A Markdown step summary: notices, a table of verdicts, then each record's errors and warnings.

What a record supplies is escaped in one of two ways (`code_span` for names shown as code, `escape_text` for
prose): neither can open HTML (`<h1>`, `<a href>`, `<img>`), a link or an image, start a heading,
end a table cell or a code span, or start a line; control characters are shown as escapes first.
"""

from __future__ import annotations

import re

from golfkit.findings import Severity
from golfkit.report import RecordReport, notices, visible
from golfkit.report.text import where

ICON = {"pass": "✅ pass", "fail": "❌ fail"}

# Every ASCII punctuation character may be backslash-escaped in CommonMark: escaping them all
# leaves no emphasis, link, image, HTML, entity, heading, list, quote, table pipe or autolink scheme.
_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
_BACKTICKS = re.compile(r"`+")


def escape_text(value: object) -> str:
    """Prose from a record: controls shown as escapes, then every Markdown punctuation mark escaped."""
    return _PUNCTUATION.sub(r"\\\1", visible(value))


def code_span(value: object, in_table: bool = False) -> str:
    """A name from a record as a code span that its own backticks cannot close (the fence is longer
    than any run of backticks inside); in a table cell its pipes are escaped (GFM splits cells first)."""
    text = visible(value)
    if not text:
        return ""
    fence = "`" * (1 + max((len(run) for run in _BACKTICKS.findall(text)), default=0))
    if text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " " and text.strip()):
        text = f" {text} "  # CommonMark strips one space from each side of such a span
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


def render(reports: list[RecordReport], errors_only: bool = False) -> str:
    """The summary (`errors_only`: failing records and their errors only; the heading counts all records)."""
    out = []
    for notice in notices(reports):
        out += [f"> **Warning:** {escape_text(notice)}", ""]
    out += ["## golfkit verify", ""]
    shown_reports = [r for r in reports if r.verdict == "fail"] if errors_only else reports
    if errors_only:
        out += [f"{len(shown_reports)} of {len(reports)} record(s) fail; passing records are not listed.", ""]
    out += ["| record | verdict | errors | warnings | val_bpb (claimed) |", "|---|---|---|---|---|"]
    for r in shown_reports:
        bpb = escape_text(r.claims.get("val_bpb", ""))
        out.append(f"| {code_span(r.path, in_table=True)} | {ICON.get(r.verdict, escape_text(r.verdict))} "
                   f"| {r.count(Severity.ERROR)} | {r.count(Severity.WARNING)} | {bpb} |")
    for r in shown_reports:
        shown = [f for f in r.findings if f.severity == Severity.ERROR or f.severity == Severity.WARNING and not errors_only]
        if not shown:
            continue
        out += ["", f"### {code_span(r.path)}", ""]
        for f in shown:
            place = where(f)
            out.append(f"- **{f.severity.value}** {code_span(f.id)}: {escape_text(f.message)}" + (f" ({code_span(place)})" if place else ""))
    return "\n".join(out) + "\n"
