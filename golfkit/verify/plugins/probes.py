"""The probes as one of verify's extra checks (see golfkit.verify.plugins).

verify passes it only when the user asked for probes and trusts the code (`verify --probes --trust-code`):
    verify_paths(paths, extra_checks=[probe_check])
It probes the record's main script as verify decoded it (no file is read twice) and adds the
`probe.summary` finding with the time the probes took.
"""

from __future__ import annotations

import json

from golfkit.findings import Finding, info
from golfkit.probe.report import summary_finding
from golfkit.probe.run import ProbeOptions, probe_program
from golfkit.verify.evidence import RecordEvidence
from golfkit.verify.plugins import ExtraCheck


def make_probe_check(options: ProbeOptions | None = None) -> ExtraCheck:
    """A probe check with its own sandbox limits (see ProbeOptions)."""

    def probe_check(evidence: RecordEvidence) -> list[Finding]:
        script = evidence.script
        if script is None or script.program is None:
            why = script.problem if script is not None and script.problem else "the record ships no train_gpt.py"
            return [info("probe.skipped", f"no evaluation code to probe: {why}")]
        texts = [evidence.readme or ""]
        if evidence.submission is not None:
            texts.append(json.dumps(evidence.submission.canonical, default=str))
        report = probe_program(evidence.root, script.path, script.program, script.wrapper_layers, texts, options,
                               str(evidence.root))
        return [*report.findings, summary_finding(report)]

    probe_check.__name__ = "probe_check"
    return probe_check


probe_check = make_probe_check()
