"""A ProbeReport in verify's report formats (golfkit.report): one record, its findings, and what the
probes measured (per evaluator: the status of each probe, the time taken) under `measured.probe`."""

from __future__ import annotations

from golfkit.findings import Finding, info
from golfkit.probe.run import ProbeReport
from golfkit.report import FORMATS, RecordReport
from golfkit.report import render as render_reports

__all__ = ["FORMATS", "record_report", "render", "summary_finding"]


def summary_finding(report: ProbeReport) -> Finding:
    """`probe.summary` (info): which probes ran on which evaluator, and how long it all took."""
    parts = []
    for ev in report.evaluators:
        passed = [name for name, status in ev.status.items() if status == "pass"]
        others = [f"{name} {status}" for name, status in ev.status.items() if status != "pass"]
        parts.append(f"{ev.name} ({ev.seconds:.1f} s): " + ", ".join([f"{len(passed)} pass", *others]))
    what = "; ".join(parts) if parts else "no evaluator probed"
    # CPU stand-ins the child provided for CUDA-only code (docs/probe.md, "What the child does")
    stand_ins = sorted({name for ev in report.evaluators for name in ev.stand_ins})
    used = f"; CPU stand-ins: {', '.join(stand_ins)}" if stand_ins else ""
    return info("probe.summary",
                f"probes took {report.seconds:.1f} s (sandbox {report.sandbox.get('status', '?')}): {what}{used}",
                file=report.script,
                evidence={"seconds": round(report.seconds, 3),
                          "evaluators": {ev.name: ev.status for ev in report.evaluators},
                          "stand_ins": stand_ins})


def record_report(report: ProbeReport) -> RecordReport:
    """The probe report as verify's RecordReport (findings plus the summary; details under measured)."""
    details = report.to_json()
    details.pop("findings")
    details.pop("notices")
    return RecordReport.of(report.record, [*report.findings, summary_finding(report)], {}, {"probe": details},
                           notices=report.notices)


def render(report: ProbeReport, fmt: str) -> str:
    """The report in one of FORMATS (text, json, github, markdown), as verify renders its own."""
    return render_reports([record_report(report)], fmt)
