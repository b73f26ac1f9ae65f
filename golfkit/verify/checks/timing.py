"""Training at most 600 s and the evaluation phases summed at most 600 s, per seed (10-minute track):
docs/verify.md#time-budgets.

Training: the clock is read between steps, so the last step of a run ends a little past 600 s. That is
a warning; an error needs evidence that training went on past the cap: an overshoot longer than the
slowest step the log shows, steps logged after the clock passed 600 s (a forced stop step), or a last
stretch slower than any logged step explains. GPTQ calibration (Hessian collection) after the clock
stops counts as training. Evaluation: every phase counts (scoring, test-time training, timed eval
steps); a compile warm-up counts unless the code it timed reads no validation data (a static scan of
the script, golfkit/verify/checks/program.py). Lines labelled `diagnostic` or `pre-quantization` are not
part of the scored evaluation and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from golfkit.facts import EVAL_BUDGET_S, TRAIN_BUDGET_S, UNTIMED_TRACK
from golfkit.findings import Finding, error, info, warning
from golfkit.verify.checks.program import Block, program_name, program_tree, warmup_block
from golfkit.verify.evidence import LogEvidence, Metric, Number, RecordEvidence, RunEvidence, TimedPhase
from golfkit.verify.matching import agrees

CAP_MS = TRAIN_BUDGET_S * 1000.0


def check_times(ev: RecordEvidence) -> list[Finding]:
    if ev.track == UNTIMED_TRACK:
        return [info("time.not_checked", "non-record track: the 600 s limits, the three-seed minimum and the "
                     "8xH100 hardware rule do not apply; the files, the claims and the 16,000,000-byte cap are "
                     "checked as for a record")]
    found: list[Finding] = []
    warmup = warmup_use(ev)
    logs = ev.distinct_logs()
    for log in logs:
        found.extend(_train(log))
        found.extend(_eval(log, ev, warmup))
    timed = [log for log in logs if log.run.metrics]
    if timed and all(log.run.train_time_ms is None for log in timed):
        found.append(warning("time.train.not_logged",
                             f"no log of {ev.name} prints a training time ({', '.join(log.path for log in timed[:3])}"
                             f"{' ...' if len(timed) > 3 else ''}), so the 600 s training limit cannot be checked; "
                             "ship the logs the script wrote (a `stopping_early:` line or `train_time:` on step lines)",
                             file=timed[0].path, evidence={"logs": [log.path for log in timed]}))
    return found


# ---------------------------------------------------------------- training


def train_seconds(log: LogEvidence) -> tuple[float | None, list[str]]:
    """Training seconds of the log's last run (with GPTQ calibration after the stop), and the parts."""
    run = log.run
    if run.train_time_ms is None:
        return None, []
    seconds = run.train_time_ms / 1000.0
    parts = [f"train_time {seconds:.3f} s"]
    for phase in _gptq_after_stop(run):
        seconds += phase.seconds
        parts.append(f"GPTQ calibration {phase.seconds:g} s (line {phase.line})")
    return seconds, parts


def _gptq_after_stop(run: RunEvidence) -> list[TimedPhase]:
    return [phase for phase in run.phases if phase.kind == "gptq_calibration"
            and (run.train_stop_line is None or phase.line > run.train_stop_line)]


@dataclass(frozen=True)
class Pace:
    """Step times a run logged: the slowest per-step time between two logged points (before the last
    one), the stretch into the last point, and the first point logged past the cap that more steps followed."""

    slowest_ms: float | None
    slowest_from: int | None
    slowest_to: int | None
    slowest_line: int | None
    last_from: tuple[int, float, int | None] | None  # (step, train ms, line) of the point before the last one
    last: tuple[int, float, int | None] | None
    forced: tuple[int, float, int | None] | None


def pace(run: RunEvidence) -> Pace:
    """The step times of `run`: per-step time between consecutive logged points (train_time and step number;
    the start of training is step 0 at 0 ms), the last stretch, and a step logged past the cap that was
    not the last one."""
    points: list[tuple[int, float, int | None]] = [(0, 0.0, None)]
    for point in run.steps:
        if point.train_time_ms is not None and (point.step, point.train_time_ms) != points[-1][:2]:
            points.append((point.step, point.train_time_ms, point.line))
    if run.train_time_ms is not None and run.stop_step is not None and (run.stop_step, run.train_time_ms) != points[-1][:2]:
        points.append((run.stop_step, run.train_time_ms, run.train_stop_line))
    points = sorted(points, key=lambda p: (p[0], p[1]))
    intervals = []
    for a, b in pairwise(points):
        if b[0] > a[0] and b[1] >= a[1]:
            intervals.append(((b[1] - a[1]) / (b[0] - a[0]), a, b))
    earlier = intervals[:-1] if len(intervals) > 1 else intervals
    slowest = max(earlier, key=lambda i: i[0]) if earlier else None
    forced = next((p for p in points[:-1] if p[1] > CAP_MS and points[-1][0] > p[0]), None)
    return Pace(
        slowest_ms=slowest[0] if slowest else None,
        slowest_from=slowest[1][0] if slowest else None,
        slowest_to=slowest[2][0] if slowest else None,
        slowest_line=slowest[2][2] if slowest else None,
        last_from=intervals[-1][1] if len(intervals) > 1 else None,
        last=points[-1] if len(points) > 1 else None,
        forced=forced,
    )


def _train(log: LogEvidence) -> list[Finding]:
    seconds, parts = train_seconds(log)
    if seconds is None or seconds <= TRAIN_BUDGET_S:
        return []
    run = log.run
    assert run.train_time_ms is not None
    gptq = _gptq_after_stop(run)
    steps = pace(run)
    over_ms = run.train_time_ms - CAP_MS
    evidence = {"seconds": round(seconds, 3), "limit": TRAIN_BUDGET_S, "over_s": round(seconds - TRAIN_BUDGET_S, 3),
                "step_avg_ms": run.step_avg_ms, "slowest_step_ms": steps.slowest_ms, "parts": parts}
    where = {"file": log.path, "line": run.train_stop_line, "evidence": evidence}
    if gptq:
        collected = sum(p.seconds for p in gptq)
        return [error("time.train.gptq_over_limit",
                      f"{log.path}: training {run.train_time_ms / 1000:.3f} s plus GPTQ calibration "
                      f"{collected:g} s after the clock stopped (line {gptq[0].line}) is {seconds:.3f} s, over the "
                      f"{TRAIN_BUDGET_S:.0f} s limit by {seconds - TRAIN_BUDGET_S:.3f} s: Hessian collection counts as "
                      "training; reserve its time inside the 600 s (stop the training clock earlier)",
                      file=log.path, line=gptq[0].line, evidence=evidence)]
    head = f"{log.path}: training ran {seconds:.3f} s, {over_ms:.0f} ms past {TRAIN_BUDGET_S:.0f} s"
    if steps.forced is not None:
        step, at_ms, line = steps.forced
        last = steps.last
        return [error("time.train.over_limit",
                      f"{head}: step {step} was logged at {at_ms / 1000:.3f} s (line {line}), past the cap, and "
                      f"training went on to step {last[0] if last else '?'}: a stop step forced past the clock",
                      **{**where, "line": line})]
    slowest = steps.slowest_ms if steps.slowest_ms is not None else run.step_avg_ms
    if slowest is None:
        return [error("time.train.over_limit", f"{head}, and the log gives no step time that explains it", **where)]
    step_words = _slowest_words(steps, run)
    if over_ms > slowest:
        return [error("time.train.over_limit",
                      f"{head}: more than the slowest logged step ({step_words}); training went on past the cap",
                      **where)]
    gap = _unexplained_gap(steps)
    if gap is not None:
        (from_step, from_ms, from_line), (to_step, to_ms, _), extra_ms = gap
        return [error("time.train.over_limit",
                      f"{head}: steps {from_step}-{to_step} took {(to_ms - from_ms) / 1000:.3f} s (from line "
                      f"{from_line}), {extra_ms / 1000:.3f} s more than the slowest logged step ({step_words}) "
                      "explains: something else ran on the training clock", **where)]
    return [warning("time.train.last_step_over",
                    f"{head}, within the slowest logged step ({step_words}; average {run.step_avg_ms or 0:.1f} ms): "
                    "the clock is read between steps, so the last step ended late", **where)]


def _slowest_words(steps: Pace, run: RunEvidence) -> str:
    if steps.slowest_ms is None:
        return f"the average step, {run.step_avg_ms or 0:.1f} ms"
    span = (f"step {steps.slowest_to}" if steps.slowest_to == (steps.slowest_from or 0) + 1
            else f"steps {steps.slowest_from}-{steps.slowest_to}")
    at = f", line {steps.slowest_line}" if steps.slowest_line else ""
    return f"{steps.slowest_ms:.1f} ms per step over {span}{at}"


def _unexplained_gap(steps: Pace):
    """The last stretch (point before the last -> last point) when it took more than one slowest step longer
    than its steps at the slowest logged pace: ((from), (to), extra ms), else None."""
    if steps.last_from is None or steps.last is None or steps.slowest_ms is None:
        return None
    (from_step, from_ms, _), (to_step, to_ms, _) = steps.last_from, steps.last
    extra = (to_ms - from_ms) - (to_step - from_step) * steps.slowest_ms
    return (steps.last_from, steps.last, extra) if extra > steps.slowest_ms else None


# ---------------------------------------------------------------- evaluation


@dataclass
class WarmupUse:
    """What the script's warm-up block reads: the block found (or None), and the program it is in."""

    block: Block | None
    program: str | None

    @property
    def touches_validation(self) -> bool | None:
        """True/False when the block was found; None when golfkit cannot tell."""
        return None if self.block is None else bool(self.block.refs)

    def lines(self) -> str:
        assert self.block is not None and self.program is not None
        return f"{self.program} lines {self.block.first}-{self.block.last}"


def warmup_use(ev: RecordEvidence) -> WarmupUse:
    """The compile warm-up block of the record's script, looked for only when a log times a warm-up."""
    if not any(p.kind == "compile_warmup" for log in ev.distinct_logs() for p in log.run.phases):
        return WarmupUse(None, None)
    tree = program_tree(ev.script)
    if tree is None or ev.script is None:
        return WarmupUse(None, None)
    return WarmupUse(warmup_block(tree), program_name(ev.script))


@dataclass
class EvalTime:
    """The evaluation seconds of a run: the counted total and its parts, and warm-ups left out or unsure."""

    seconds: float = 0.0
    parts: list[str] = field(default_factory=list)
    left_out: list[TimedPhase] = field(default_factory=list)
    unsure: list[TimedPhase] = field(default_factory=list)
    on_validation: list[TimedPhase] = field(default_factory=list)


def eval_time(log: LogEvidence, warmup: WarmupUse | None = None) -> EvalTime:
    """Evaluation seconds of the last run: scored metric lines, warm-ups and other timed eval steps. A compile
    warm-up whose code reads no validation data (`warmup`, from the script) is left out."""
    run = log.run
    out = EvalTime()
    for group in same_evaluation(run.metrics):
        timed = [m for m in group if m.eval_time_s is not None and not m.diagnostic]
        if timed:
            longest = max(timed, key=lambda m: m.eval_time_s or 0.0)
            out.seconds += longest.eval_time_s or 0.0
            out.parts.append(f"{longest.label} {longest.eval_time_s:g} s (line {longest.line})")
    touches = warmup.touches_validation if warmup is not None else None
    for phase in run.phases:
        if phase.kind == "compile_warmup" and touches is False:
            out.left_out.append(phase)
            continue
        if phase.kind in ("compile_warmup", "eval_other"):
            out.seconds += phase.seconds
            note = ""
            if phase.kind == "compile_warmup" and touches:
                out.on_validation.append(phase)
                note = ", reads validation data"
            elif phase.kind == "compile_warmup":
                out.unsure.append(phase)
            out.parts.append(f"{phase.kind} {phase.seconds:g} s (line {phase.line}{note})")
    return out


def eval_seconds(log: LogEvidence, warmup: WarmupUse | None = None) -> tuple[float, list[str]]:
    """Evaluation seconds of the last run and the parts counted (see `eval_time`)."""
    found = eval_time(log, warmup)
    return found.seconds, found.parts


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


def _eval(log: LogEvidence, ev: RecordEvidence, warmup: WarmupUse) -> list[Finding]:
    found: list[Finding] = []
    spent = eval_time(log, warmup)
    line = max((m.line for m in log.run.metrics), default=None)
    if spent.on_validation and warmup.block is not None:
        first = warmup.block.refs[0]
        names = ", ".join(dict.fromkeys(r.name for r in warmup.block.refs))
        found.append(warning("time.eval.warmup_on_validation",
                             f"{log.path}: the compile warm-up ({spent.on_validation[0].seconds:g} s, line "
                             f"{spent.on_validation[0].line}) runs code that reads validation data ({names}; "
                             f"{warmup.program}:{first.line}, in its warm-up block at {warmup.lines()}): warm-ups "
                             "must not touch validation tokens, and one that does counts toward the 600 s",
                             file=log.path, line=spent.on_validation[0].line,
                             evidence={"program": warmup.program, "block": [warmup.block.first, warmup.block.last],
                                       "reads": [[r.line, r.name] for r in warmup.block.refs]}))
    for phase in spent.left_out:
        found.append(info("time.eval.warmup_uncounted",
                          f"{log.path}: the compile warm-up of {phase.seconds:g} s (line {phase.line}) is not counted: "
                          f"the code it timed ({warmup.lines()}) reads no validation data; evaluation is "
                          f"{spent.seconds:.1f} s without it, {spent.seconds + phase.seconds:.1f} s with it",
                          file=log.path, line=phase.line,
                          evidence={"seconds": phase.seconds, "eval_seconds": round(spent.seconds, 3),
                                    "program": warmup.program,
                                    "block": [warmup.block.first, warmup.block.last] if warmup.block else None}))
    if spent.seconds <= EVAL_BUDGET_S:
        return found
    evidence = {"seconds": round(spent.seconds, 3), "limit": EVAL_BUDGET_S, "parts": spent.parts}
    unsure = sum(p.seconds for p in spent.unsure)
    if spent.unsure and spent.seconds - unsure <= EVAL_BUDGET_S:
        found.append(warning("time.eval.warmup_unresolved",
                             f"{log.path}: evaluation phases sum to {spent.seconds:.1f} s with the compile warm-up "
                             f"({'; '.join(spent.parts)}), {spent.seconds - unsure:.1f} s without it; golfkit could not "
                             "find the warm-up's code in the script, so it cannot tell whether it touches validation "
                             "data (then it counts) or not (then it does not)",
                             file=log.path, line=spent.unsure[0].line, evidence=evidence))
        return found
    found.append(error("time.eval.over_limit",
                       f"{log.path}: evaluation phases sum to {spent.seconds:.1f} s, over the {EVAL_BUDGET_S:.0f} s "
                       f"limit ({'; '.join(spent.parts)})", file=log.path, line=line, evidence=evidence))
    return found
