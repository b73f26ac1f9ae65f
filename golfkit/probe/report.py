"""Render a ProbeReport: text for people, JSON for programs, GitHub annotations and Markdown for CI."""

from __future__ import annotations

import json

from golfkit.probe.run import ProbeReport

FORMATS = ("text", "json", "github", "markdown")


def render(report: ProbeReport, fmt: str) -> str:
    """The report in one of FORMATS."""
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2, default=str)
    if fmt == "github":
        return _github(report)
    if fmt == "markdown":
        return _markdown(report)
    return _text(report)


def _summary(report: ProbeReport) -> str:
    errors = sum(f.severity.value == "error" for f in report.findings)
    warnings = sum(f.severity.value == "warning" for f in report.findings)
    return (f"{len(report.evaluators)} evaluator(s) probed in {report.seconds:.1f} s: "
            f"{errors} error(s), {warnings} warning(s)")


def _text(report: ProbeReport) -> str:
    lines = [f"probe {report.record} ({report.script})"]
    if report.wrapper_layers:
        lines.append(f"  decoded wrapper: {' / '.join(report.wrapper_layers)}")
    claim = report.document_isolation_claim or "not claimed"
    lines.append(f"  sandbox: {report.sandbox.get('status')} in {report.sandbox.get('seconds', 0):.1f} s; "
                 f"document isolation: {claim}")
    for ev in report.evaluators:
        where = f"{report.script}:{ev.line}" if ev.line else report.script
        numbers = f", val_loss {ev.returned[0]:.4f} val_bpb {ev.returned[1]:.4f}" if ev.returned else ""
        lines.append(f"  {ev.name} ({where}, {ev.scores} scores{numbers}, {ev.seconds:.1f} s)")
        for name, status in ev.status.items():
            lines.append(f"    {name:<20} {status}")
    for f in report.findings:
        where = f"{f.file}:{f.line}: " if f.file and f.line else (f"{f.file}: " if f.file else "")
        lines.append(f"{f.severity.value}: {where}{f.message} [{f.id}]")
    lines.append(_summary(report))
    return "\n".join(lines)


def _github(report: ProbeReport) -> str:
    level = {"error": "error", "warning": "warning", "info": "notice"}
    out = []
    for f in report.findings:
        props = [f"title={f.id}"]
        if f.file:
            props.insert(0, f"file={f.file}")
        if f.line:
            props.insert(1, f"line={f.line}")
        message = f.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        out.append(f"::{level[f.severity.value]} {','.join(props)}::{message}")
    out.append(_summary(report))
    return "\n".join(out)


def _markdown(report: ProbeReport) -> str:
    probes = list(dict.fromkeys(name for ev in report.evaluators for name in ev.status))
    out = [f"### golfkit probe: `{report.script}`", "", _summary(report), ""]
    if report.evaluators:
        out.append("| evaluator | " + " | ".join(probes) + " |")
        out.append("|---" * (len(probes) + 1) + "|")
        for ev in report.evaluators:
            cells = [ev.status.get(p, "").split(":")[0] for p in probes]
            out.append(f"| `{ev.name}` | " + " | ".join(cells) + " |")
        out.append("")
    for f in report.findings:
        out.append(f"- **{f.severity.value}** `{f.id}`: {f.message}")
    return "\n".join(out)
