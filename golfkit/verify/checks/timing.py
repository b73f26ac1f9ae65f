"""Training at most 600 s and the evaluation phases summed at most 600 s, per seed (10-minute track).

GPTQ calibration after the training clock stops counts as training (#677); every evaluation
phase counts: compile warm-up, test-time training, scoring (#1972, #1722). Lines labelled
`diagnostic` or `pre-quantization` are not part of the scored evaluation and are left out.
"""

from __future__ import annotations

from golfkit.findings import Finding, error, info, warning
from golfkit.verify.evidence import RecordEvidence

LIMIT_S = 600.0


def check_times(ev: RecordEvidence) -> list[Finding]:
    if ev.track == "non_record_16mb":
        return [info("time.not_checked", "non-record track: the 600 s limits do not apply")]
    found: list[Finding] = []
    for log in ev.distinct_logs():
        found.extend(_train(log))
        found.extend(_eval(log))
    return found


def train_seconds(log) -> tuple[float | None, list[str]]:
    """Training seconds of the log's last run (with GPTQ calibration after the stop), and the parts."""
    run = log.run
    if run.train_time_ms is None:
        return None, []
    seconds = run.train_time_ms / 1000.0
    parts = [f"train_time {seconds:.3f} s"]
    for phase in run.phases:
        if phase.kind == "gptq_calibration" and (run.train_stop_line is None or phase.line > run.train_stop_line):
            seconds += phase.seconds
            parts.append(f"GPTQ calibration {phase.seconds:g} s (line {phase.line})")
    return seconds, parts


def eval_seconds(log) -> tuple[float, list[str]]:
    """Evaluation seconds of the last run: scored metric lines, warm-ups and other timed eval steps."""
    run = log.run
    total = 0.0
    parts = []
    for metric in run.metrics:
        if metric.eval_time_s is not None and not metric.diagnostic:
            total += metric.eval_time_s
            parts.append(f"{metric.label} {metric.eval_time_s:g} s (line {metric.line})")
    for phase in run.phases:
        if phase.kind in ("compile_warmup", "eval_other"):
            total += phase.seconds
            parts.append(f"{phase.kind} {phase.seconds:g} s (line {phase.line})")
    return total, parts


def _train(log) -> list[Finding]:
    seconds, parts = train_seconds(log)
    if seconds is None or seconds <= LIMIT_S:
        return []
    run = log.run
    over = seconds - LIMIT_S
    avg_ms = run.step_avg_ms
    evidence = {"seconds": round(seconds, 3), "limit": LIMIT_S, "over_s": round(over, 3),
                "step_avg_ms": avg_ms, "parts": parts}
    where = {"file": log.path, "line": run.train_stop_line, "evidence": evidence}
    if avg_ms is not None and over * 1000.0 <= avg_ms:
        return [warning("time.train.last_step_over",
                        f"{log.path}: training ran {seconds:.3f} s, {over * 1000:.0f} ms past 600 s; less than "
                        f"one average step ({avg_ms:.1f} ms), so the last step ended late", **where)]
    return [error("time.train.over_limit",
                  f"{log.path}: training ran {seconds:.3f} s ({'; '.join(parts)}), over the 600 s limit by "
                  f"{over:.3f} s", **where)]


def _eval(log) -> list[Finding]:
    seconds, parts = eval_seconds(log)
    if seconds <= LIMIT_S:
        return []
    line = max((m.line for m in log.run.metrics), default=None)
    return [error("time.eval.over_limit",
                  f"{log.path}: evaluation phases sum to {seconds:.1f} s, over the 600 s limit ({'; '.join(parts)})",
                  file=log.path, line=line, evidence={"seconds": round(seconds, 3), "limit": LIMIT_S,
                                                      "parts": parts})]
