"""A run as a record presents it: which final metric line is its score, and its curves as plain points.

Built on verify's parsed logs (`LogEvidence`); `plot` draws the `RunCurves`, `new` claims the metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from golfkit.errors import GolfkitError
from golfkit.verify.evidence import LogEvidence, Metric, RecordEvidence, RunEvidence


@dataclass
class RunCurves:
    """One run (usually one seed): its curves as (step, value) points and its final score."""

    label: str
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    val_bpb: list[tuple[int, float]] = field(default_factory=list)
    final_val_bpb: float | None = None


def headline_metric(run: RunEvidence, label: str | None, where: str) -> Metric:
    """The final metric a record claims: the line named `label`, else the last final metric line of
    the run (the last evaluation is the submission's score), in its `_exact` form when printed.
    Diagnostic lines (pre-quantization scores) are passed over when any other line exists."""
    metrics = [m for m in run.metrics if not m.diagnostic] or run.metrics
    if label is not None:
        named = [m for m in metrics if m.label == label]
        if not named:
            found = ", ".join(sorted({m.label for m in metrics})) or "none"
            raise GolfkitError(f"{where}: no final metric line {label!r} (found: {found})")
        return named[-1]
    if not metrics:
        raise GolfkitError(f"{where}: no final metric line: the run was cut short; new needs finished runs")
    last = metrics[-1]
    if not last.label.endswith("_exact"):
        exact = [m for m in metrics if m.label == last.label + "_exact"]
        if exact:
            return exact[-1]
    return last


def run_curves(log: LogEvidence, label: str, metric: Metric | None) -> RunCurves:
    """The step curves of the run that counts in `log`, and `metric` as its final score."""
    steps = log.run.steps if log.runs else []
    return RunCurves(
        label=label,
        train_loss=[(p.step, p.train_loss) for p in steps if p.train_loss is not None],
        val_bpb=[(p.step, p.val_bpb) for p in steps if p.val_bpb is not None],
        final_val_bpb=float(metric.val_bpb.value) if metric is not None and metric.val_bpb is not None else None,
    )


def record_curves(logs: list[LogEvidence] | RecordEvidence) -> list[RunCurves]:
    """One curve set per seed, and one per log without a seed (labelled by its file name).

    A seed's final score is its seed log's (verify's choice: the run, not a reproduction); its curves are
    that log's, else those of another log of the seed that has step lines (the training run beside the
    script's evaluation of a built artifact). Six logs of three seeds are three seeds."""
    distinct = logs.distinct_logs() if isinstance(logs, RecordEvidence) else list(logs)
    chosen = logs.seed_logs() if isinstance(logs, RecordEvidence) else {}
    useful = [log for log in distinct if log.runs and (log.run.steps or log.run.metrics)]
    by_seed: dict[int, list[LogEvidence]] = {}
    for log in useful:
        if log.seed is not None:
            by_seed.setdefault(log.seed, []).append(log)
    curves = []
    for seed in sorted(by_seed):
        group = by_seed[seed]
        scored = chosen.get(seed) if chosen.get(seed) in group else next(
            (log for log in group if log.run.metrics), group[0])
        stepped = scored if scored.run.steps else next((log for log in group if log.run.steps), scored)
        metric = headline_metric(scored.run, None, scored.path) if scored.run.metrics else None
        curves.append(run_curves(stepped, f"seed {seed}", metric))
    for log in useful:
        if log.seed is None:
            metric = headline_metric(log.run, None, log.path) if log.run.metrics else None
            curves.append(run_curves(log, log.path, metric))
    return curves
