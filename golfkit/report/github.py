"""GitHub Actions workflow commands: notices first (`::warning title=golfkit::`), then one
`::error`/`::warning`/`::notice` annotation per finding.

Every value goes through `_escape`: the runner's own percent-encoding of `%`, `\\r` and `\\n` (and of
`:` and `,` in properties), so that no value can end the command or start another; other control
characters (ANSI escapes, bidi overrides) are shown as visible escapes.
"""

from __future__ import annotations

import re
from pathlib import Path

from golfkit.findings import Severity
from golfkit.report import RecordReport, notices, visible

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
_LINE_BREAKS = re.compile(r"([\r\n]+)")


def _escape(text: object, prop: bool = False) -> str:
    # \r and \n stay the runner's %0D/%0A (a multi-line message); every other control is made visible
    text = "".join(part if _LINE_BREAKS.fullmatch(part) else visible(part) for part in _LINE_BREAKS.split(str(text)))
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render(reports: list[RecordReport], errors_only: bool = False) -> str:
    """Annotations for errors and warnings (`errors_only`: errors, and failing records only)."""
    lines = [f"::warning title=golfkit::{_escape(notice)}" for notice in notices(reports)]
    for report in reports:
        if errors_only and report.verdict != "fail":
            continue
        for finding in report.findings:
            if finding.severity == Severity.INFO or errors_only and finding.severity != Severity.ERROR:
                continue
            props = []
            if finding.file:
                props.append(f"file={_escape((Path(report.path) / finding.file).as_posix(), True)}")
                if finding.line:
                    props.append(f"line={finding.line}")
            props.append(f"title={_escape(finding.id, True)}")
            lines.append(f"::{COMMANDS[finding.severity]} {','.join(props)}::{_escape(finding.message)}")
        lines.append(f"::notice title=golfkit verify::{_escape(report.path)}: {report.verdict}")
    return "\n".join(lines) + "\n"
