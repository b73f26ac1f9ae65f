"""GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` annotation per finding."""

from __future__ import annotations

from pathlib import Path

from golfkit.findings import Severity
from golfkit.report import RecordReport

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render(reports: list[RecordReport]) -> str:
    lines = []
    for report in reports:
        for finding in report.findings:
            if finding.severity == Severity.INFO:
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
