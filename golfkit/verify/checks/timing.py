"""Training at most 600 s and the evaluation phases summed at most 600 s, per seed (10-minute track).

GPTQ calibration after the training clock stops counts as training (#677); every evaluation
phase counts: compile warm-up, test-time training, scoring (#1972, #1722). Lines labelled
`diagnostic` or `pre-quantization` are not part of the scored evaluation and are left out.
"""

from __future__ import annotations

from golfkit.facts import EVAL_BUDGET_S, TRAIN_BUDGET_S, UNTIMED_TRACK
from golfkit.findings import Finding, error, info, warning
from golfkit.verify.evidence import Metric, Number, RecordEvidence
from golfkit.verify.matching import agrees


def check_times(ev: RecordEvidence) -> list[Finding]:
    if ev.track == UNTIMED_TRACK:
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
    for group in same_evaluation(run.metrics):
        timed = [m for m in group if m.eval_time_s is not None and not m.diagnostic]
        if timed:
            longest = max(timed, key=lambda m: m.eval_time_s or 0.0)
            total += longest.eval_time_s or 0.0
            parts.append(f"{longest.label} {longest.eval_time_s:g} s (line {longest.line})")
    for phase in run.phases:
        if phase.kind in ("compile_warmup", "eval_other"):
            total += phase.seconds
            parts.append(f"{phase.kind} {phase.seconds:g} s (line {phase.line})")
    return total, parts


def same_evaluation(metrics: list[Metric]) -> list[list[Metric]]:
    """Metric lines grouped by evaluation: a rounded line and its `_exact` twin, or a `:done` line and its
    summary, report one evaluation (same loss and bpb at the coarser precision) and are counted once."""
    groups: list[list[Metric]] = []
    for metric in metrics:
        if groups and _same_scores(groups[-1][-1], metric):
            groups[-1].append(metric)
        else:
            groups.append([metric])
    return groups


def _same_scores(a: Metric, b: Metric) -> bool:
    for unit in ("val_loss", "val_bpb"):
        x, y = getattr(a, unit), getattr(b, unit)
        if x is None or y is None:
            return False
        coarse = min(x.places, y.places)
        if not (agrees(x.value, x.places, Number(round(y.value, coarse), coarse))
                or agrees(y.value, y.places, Number(round(x.value, coarse), coarse))):
            return False
    return True


def _train(log) -> list[Finding]:
    seconds, parts = train_seconds(log)
    if seconds is None or seconds <= TRAIN_BUDGET_S:
        return []
    run = log.run
    over = seconds - TRAIN_BUDGET_S
    avg_ms = run.step_avg_ms
    evidence = {"seconds": round(seconds, 3), "limit": TRAIN_BUDGET_S, "over_s": round(over, 3),
                "step_avg_ms": avg_ms, "parts": parts}
    where = {"file": log.path, "line": run.train_stop_line, "evidence": evidence}
    if avg_ms is not None and over * 1000.0 <= avg_ms:
        return [warning("time.train.last_step_over",
                        f"{log.path}: training ran {seconds:.3f} s, {over * 1000:.0f} ms past {TRAIN_BUDGET_S:.0f} s; less than "
                        f"one average step ({avg_ms:.1f} ms), so the last step ended late", **where)]
    return [error("time.train.over_limit",
                  f"{log.path}: training ran {seconds:.3f} s ({'; '.join(parts)}), over the {TRAIN_BUDGET_S:.0f} s limit by "
                  f"{over:.3f} s", **where)]


def _eval(log) -> list[Finding]:
    seconds, parts = eval_seconds(log)
    if seconds <= EVAL_BUDGET_S:
        return []
    line = max((m.line for m in log.run.metrics), default=None)
    return [error("time.eval.over_limit",
                  f"{log.path}: evaluation phases sum to {seconds:.1f} s, over the {EVAL_BUDGET_S:.0f} s limit ({'; '.join(parts)})",
                  file=log.path, line=line, evidence={"seconds": round(seconds, 3), "limit": EVAL_BUDGET_S,
                                                      "parts": parts})]
