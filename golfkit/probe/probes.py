"""The probes: pure functions from what the child recorded to findings.

Positions are 0-based target indices: position p predicts token p + 1 of the stream from tokens 0..p.
A "score" is one per-token loss the evaluator computed through F.cross_entropy or F.nll_loss and used,
with gradients off (with gradients on when it used none that way): every row of a mean or summed loss,
and, of a per-row loss (reduction="none"), the rows it went on to add up or read (a sliding window
computes a whole window and sums only its last `stride` rows; the child follows the rows, child.py
`pending_losses_class`). Its time is when the loss was computed. An "update" is an optimizer step or
any in-place change of the model's parameters; a "training use" is a model call with gradients on,
which reads tokens [start, start + length] of the stream (inputs and their next-token targets).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from golfkit.data.token_bytes import TokenByteTable
from golfkit.data.tokenizer import BOS_ID
from golfkit.findings import Finding, error, warning
from golfkit.probe.inputs import Plan

LOSS_TOL = 1e-5  # two runs that should agree differ by float noise only
PROB_SUM_TOL = 1e-3
ROW_TOL = 1e-4
SHOWN = 12  # positions quoted in a message


@dataclass(frozen=True)
class Score:
    pos: int
    target: int
    loss: float
    time: int
    grad: bool


@dataclass
class Run:
    scores: list[Score]
    train_uses: list[tuple[int, int, int]]
    updates: list[int]
    unattributed: int
    unnormalized_rows: int
    rows: dict[int, list[float]]
    returned: tuple[float, float] | None
    num_tokens: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        scores = [Score(int(p), int(y), float(loss), int(t), bool(g)) for p, y, loss, t, g in data["scores"]]
        if any(not s.grad for s in scores):
            scores = [s for s in scores if not s.grad]
        returned = data.get("returned")
        return cls(scores, [tuple(u) for u in data.get("train_uses", [])], list(data.get("updates", [])),
                   int(data.get("unattributed", 0)), int(data.get("unnormalized_rows", 0)),
                   {int(k): v for k, v in data.get("rows", {}).items()},
                   (float(returned[0]), float(returned[1])) if returned else None,
                   int(data.get("num_tokens", 0)))

    def by_position(self) -> dict[int, list[Score]]:
        out: dict[int, list[Score]] = defaultdict(list)
        for s in self.scores:
            out[s.pos].append(s)
        return out


@dataclass
class EvaluatorResult:
    """What the probes concluded about one evaluator: findings and a status per probe."""

    name: str
    line: int | None
    seconds: float
    findings: list[Finding] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)
    returned: tuple[float, float] | None = None  # (val_loss, val_bpb) on the probe stream, random model
    scores: int = 0  # per-token scores observed in the base run
    # what the child provided in place of CUDA-only code by the end of this evaluator (flash_attn_interface,
    # triton, "autocast cuda->cpu (bfloat16)": docs/probe.md), and what its `val_data` was
    stand_ins: tuple[str, ...] = ()
    val_data: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "line": self.line, "seconds": round(self.seconds, 3), "status": self.status,
                "val_loss": self.returned[0] if self.returned else None,
                "val_bpb": self.returned[1] if self.returned else None, "scores": self.scores,
                "stand_ins": list(self.stand_ins), "val_data": self.val_data,
                "findings": [f.id for f in self.findings]}


def _where(ev: str, script: str, line: int | None) -> dict[str, Any]:
    return {"file": script, "line": line}


def _positions(ps: list[int]) -> str:
    ps = sorted(ps)
    shown = ", ".join(str(p) for p in ps[:SHOWN])
    return shown + (f", ... ({len(ps)} in all)" if len(ps) > SHOWN else "")


def _ranges(ps: list[int]) -> list[list[int]]:
    """Sorted positions as [first, last] ranges, for evidence."""
    out: list[list[int]] = []
    for p in sorted(set(ps)):
        if out and p == out[-1][1] + 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return out[:50]


def _version(run: Run, time: int) -> int:
    """How many parameter updates happened before event `time`."""
    return sum(1 for u in run.updates if u < time)


# ----------------------------------------------------------------------------- coverage and bytes


def coverage(ev: str, run: Run, stream: list[int], where: dict[str, Any]) -> list[Finding]:
    """Every target scored exactly once (re-scores after an update are C4's), with the stream's target."""
    num_targets = len(stream) - 1
    found: list[Finding] = []
    by_pos = run.by_position()
    # extra scores of a position: those beyond one per model version (a re-score after an update is C4's)
    again = {p: len(ss) - len({_version(run, s.time) for s in ss}) for p, ss in by_pos.items()}
    twice = sorted(p for p, n in again.items() if n > 0)
    skipped = [p for p in range(num_targets) if p not in by_pos]
    wrong = [s.pos for s in run.scores if s.pos < num_targets and s.target != stream[s.pos + 1]]
    if twice:
        extra = sum(again[p] for p in twice)
        found.append(error(
            "probe.coverage.double_scored",
            f"{ev} counts {len(twice)} of {num_targets} targets more than once in its loss ({extra} extra scores "
            f"added): positions {_positions(twice)}; each target must count exactly once (a tail scored L/S "
            "times?)",
            **where, evidence={"evaluator": ev, "positions": _ranges(twice), "extra_scores": extra,
                               "targets": num_targets}))
    if skipped:
        found.append(error(
            "probe.coverage.skipped",
            f"{ev} never scores {len(skipped)} of {num_targets} targets: positions {_positions(skipped)}; "
            "every validation target must be scored (first windows or the tail left out?)",
            **where, evidence={"evaluator": ev, "positions": _ranges(skipped), "targets": num_targets}))
    if wrong:
        found.append(error(
            "probe.coverage.wrong_target",
            f"{ev} scores {len(wrong)} positions against a token other than the next one: positions "
            f"{_positions(wrong)}",
            **where, evidence={"evaluator": ev, "positions": _ranges(wrong)}))
    return found


def counted_scores(run: Run) -> list[Score] | None:
    """The scores the evaluator's returned val_loss is the mean of: all of them, else (a multi-pass
    evaluator reporting one pass) the last or the first score of each position; None when its returned
    numbers follow from none of these."""
    if run.returned is None or not run.scores:
        return None
    val_loss, val_bpb = run.returned
    if not (val_loss > 0 and val_bpb > 0):
        return None
    by_pos = run.by_position()
    for subset in (run.scores, [ss[-1] for ss in by_pos.values()], [ss[0] for ss in by_pos.values()]):
        total = math.fsum(s.loss for s in subset)
        if total > 0 and abs(total / val_loss - len(subset)) <= 0.5 + 1e-6 * len(subset):
            return subset
    return None


def byte_accounting(ev: str, run: Run, stream: list[int], table: TokenByteTable,
                    where: dict[str, Any]) -> list[Finding]:
    """The evaluator's byte total equals golfkit's count over the targets it scored (and counted)."""
    counted = counted_scores(run)
    if counted is None:
        return []
    their_bytes = math.fsum(s.loss for s in counted) / math.log(2) / run.returned[1]
    per_target = table.target_bytes(np.asarray(stream))
    ours = int(sum(int(per_target[s.pos]) for s in counted if s.pos < per_target.size))
    if abs(their_bytes - ours) <= 0.5 + 1e-6 * ours:
        return []
    ratio = their_bytes / ours if ours else float("inf")
    return [error(
        "probe.bytes.mismatch",
        f"{ev} divides by {their_bytes:.1f} bytes but its {len(counted)} scored targets hold {ours} bytes by "
        f"golfkit's count ({ratio:.4f}x); val_bpb is off by that factor (leading space counted twice? "
        "byte-fallback pieces as 3 bytes?)",
        **where, evidence={"evaluator": ev, "evaluator_bytes": round(their_bytes, 3), "golfkit_bytes": ours,
                           "ratio": round(ratio, 6)})]


# ----------------------------------------------------------------------------- legality


def _losses(run: Run, pos: int, cut: int | None = None) -> list[float]:
    """Losses at `pos` in the order they were recorded, only those before event `cut` if given."""
    return [s.loss for s in sorted(run.by_position().get(pos, []), key=lambda s: s.time)
            if cut is None or s.time < cut]


def _changed(base: Run, other: Run, positions: list[int], cut: int | None = None,
             other_cut: int | None = None) -> list[int]:
    out = []
    for p in positions:
        la, lb = _losses(base, p, cut), _losses(other, p, other_cut)
        if len(la) != len(lb) or any(abs(x - y) > LOSS_TOL for x, y in zip(la, lb)):
            out.append(p)
    return out


def consumed_at(run: Run, token: int, doc_start: bool = False) -> int | None:
    """Event time of the first parameter update that used stream token `token`, or None. A document's BOS
    (`doc_start`) read only as the first input of a training window is not used (score_before_update)."""
    last = 0
    for u in sorted(run.updates):
        if any(last < t < u and lo <= token <= hi and not (doc_start and token == lo) for lo, hi, t in run.train_uses):
            return u
        last = u
    return None


def causality(ev: str, base: Run, edited: dict[int, Run], where: dict[str, Any]) -> list[Finding]:
    """C1: replacing the target of position t changes no score at positions before t.

    Scores recorded after an update that trained on that target are left out: the evaluator reached
    the future through its parameters, which is C3's finding (trained before scored), not this one."""
    leaks = {}
    for t, run in edited.items():
        cut, base_cut = consumed_at(run, t + 1), consumed_at(base, t + 1)
        before = sorted(p for p in base.by_position() if p < t and _losses(base, p, base_cut))
        changed = _changed(base, run, before, base_cut, cut)
        if changed:
            leaks[t] = changed
    if not leaks:
        return []
    t, changed = next(iter(sorted(leaks.items())))
    return [error(
        "probe.causality.future_token",
        f"{ev} is not causal (C1): replacing the target of position {t} changed the scores at earlier positions "
        f"{_positions(changed)}; a score may depend only on the tokens before its target",
        **where, evidence={"evaluator": ev, "edited_positions": sorted(leaks),
                           "changed_before": {str(k): _ranges(v) for k, v in leaks.items()}})]


def normalization(ev: str, sweep: dict[int, Run], position: int, rows_tokens: tuple[int, ...],
                  vocab_size: int, where: dict[str, Any]) -> tuple[list[Finding], str]:
    """C2: the probabilities of every possible target at one position sum to 1, and the distribution the
    loss is computed from does not depend on which target is the real one."""
    found: list[Finding] = []
    losses = {v: _losses(run, position) for v, run in sweep.items()}
    missing = [v for v in range(vocab_size) if not losses.get(v)]
    if missing:
        return [], f"not run: position {position} was not scored for {len(missing)} of {vocab_size} targets"
    for v, run in sweep.items():
        cut = consumed_at(run, position + 1, doc_start=v == BOS_ID)
        if cut is not None and min(s.time for s in run.scores if s.pos == position) > cut:
            return [], "not run: the target is trained on before it is scored (C3)"
    # the first score of the position: later ones (another pass) come from a model that has seen the target
    total = math.fsum(math.exp(-ls[0]) for ls in losses.values())
    if abs(total - 1) > PROB_SUM_TOL:
        found.append(error(
            "probe.normalization.sum",
            f"{ev} does not score a normalized distribution (C2): at position {position} the probabilities it "
            f"gives the {vocab_size} possible targets sum to {total:.6f}, not 1",
            **where, evidence={"evaluator": ev, "position": position, "probability_sum": total,
                               "vocab_size": vocab_size}))
    rows = {v: sweep[v].rows.get(position) for v in rows_tokens if v in sweep}
    rows = {v: r for v, r in rows.items() if r is not None}
    if len(rows) >= 2:
        (v0, first), *others = rows.items()
        v1, diff = max(((v, max(abs(x - y) for x, y in zip(first, r))) for v, r in others), key=lambda t: t[1])
        if diff > ROW_TOL:
            found.append(error(
                "probe.normalization.target_dependent",
                f"{ev} scores from a distribution that depends on the target (C2): at position {position} "
                f"its log-probabilities change by up to {diff:.4g} when only the target changes "
                f"(token {v0} -> {v1})",
                **where, evidence={"evaluator": ev, "position": position, "max_logprob_change": diff,
                                   "targets": [v0, v1]}))
    return found, ("fail" if found else "pass")


def score_before_update(ev: str, run: Run, where: dict[str, Any], doc_starts: frozenset[int] = frozenset()
                        ) -> list[Finding]:
    """C3: no parameter update uses a token before that token's score is recorded.

    A document's BOS (`doc_starts`: its stream indices) read as the first input of a training window is
    not counted: every document begins with one, so training on a window of the next document tells
    nothing about the previous document's last target, which is that BOS (per-document test-time training
    that runs documents side by side trains the next document's first chunk before it scores the previous
    document's last one)."""
    first_score: dict[int, int] = {}
    for s in run.scores:
        first_score[s.pos + 1] = min(first_score.get(s.pos + 1, s.time), s.time)
    early: dict[int, int] = {}
    last_update = 0
    for u in sorted(run.updates):
        for lo, hi, t in run.train_uses:
            if last_update < t < u:
                for tok in range(lo, hi + 1):
                    if tok == lo and tok in doc_starts:
                        continue
                    if tok in first_score and first_score[tok] > u and tok not in early:
                        early[tok] = u
        last_update = u
    if not early:
        return []
    positions = sorted(tok - 1 for tok in early)
    return [error(
        "probe.score_before_update.trained_first",
        f"{ev} trains on tokens before scoring them (C3): the targets of positions {_positions(positions)} "
        "went into a parameter update before their scores were recorded",
        **where, evidence={"evaluator": ev, "positions": _ranges(positions), "updates": len(run.updates)})]


def single_pass(ev: str, run: Run, where: dict[str, Any]) -> list[Finding]:
    """C4: no target is scored again by a model updated after its first score."""
    again = [p for p, ss in run.by_position().items() if len({_version(run, s.time) for s in ss}) > 1]
    if not again:
        return []
    return [error(
        "probe.single_pass.rescored",
        f"{ev} scores {len(again)} targets again after updating the model (C4): positions {_positions(again)}; "
        "each token's score must be recorded once, in one left-to-right pass",
        **where, evidence={"evaluator": ev, "positions": _ranges(again)})]


def _updated_before(run: Run, pos: int) -> bool:
    times = [s.time for s in run.scores if s.pos == pos]
    return bool(times) and any(u < min(times) for u in run.updates)


def _first_update(run: Run) -> int | None:
    return min(run.updates) if run.updates else None


def document_isolation(ev: str, base: Run, edited: Run, boundary: int, where: dict[str, Any]) -> list[Finding]:
    """Replacing the previous document leaves the score at the next document's BOS position unchanged
    (scores recorded after the model was first updated are left out: TTT carries what it learnt)."""
    cut, other_cut = _first_update(base), _first_update(edited)
    if not _losses(base, boundary, cut):
        return []
    if not _changed(base, edited, [boundary], cut, other_cut):
        return []
    after = sorted(p for p in base.by_position() if p > boundary)
    others = _changed(base, edited, after, cut, other_cut)
    before, now = _losses(base, boundary, cut)[0], (_losses(edited, boundary, other_cut) or [float("nan")])[0]
    return [error(
        "probe.doc_isolation.leak",
        f"{ev} leaks across documents although the record claims document-isolated evaluation: replacing the "
        f"previous document changed the score at the BOS position {boundary} ({before:.6f} -> {now:.6f}) "
        "(a smear or cache across BOS?)",
        **where, evidence={"evaluator": ev, "bos_position": boundary, "loss_before": before, "loss_after": now,
                           "later_positions_changed": len(others)})]


# ----------------------------------------------------------------------------- one evaluator


def analyse_evaluator(ev: str, data: dict[str, Any], plan: Plan, table: TokenByteTable, script: str,
                      claims_isolation: bool) -> EvaluatorResult:
    """Run every probe on one evaluator's recorded runs."""
    result = EvaluatorResult(ev, data.get("line"), float(data.get("seconds", 0.0)))
    names = data.get("stand_ins")
    result.stand_ins = tuple(str(n)[:80] for n in names[:20] if isinstance(n, str)) if isinstance(names, list) else ()
    result.val_data = str(data["val_data"])[:300] if isinstance(data.get("val_data"), str) else None
    where = _where(ev, script, result.line)
    runs = {k: Run.from_json(v) for k, v in data.get("runs", {}).items()}
    err = data.get("error")
    if err is not None:
        kind = err.get("kind", "failed")
        result.findings.append(error(
            "probe.not_run",
            f"{ev} could not be probed to the end: {str(err.get('message', ''))[:300]}; the probes it did not "
            "reach did not run",
            **where, evidence={"evaluator": ev, "stage": "run", "reason": kind,
                               "traceback": str(err.get("traceback", ""))[-1500:]}))
        result.status = {name: "not run: evaluator failed" for name in PROBES}
        if "base" not in runs:
            return result
    base, stream = runs.get("base"), plan.streams["base"]
    if base is None:
        return result
    result.returned, result.scores = base.returned, len(base.scores)
    if base.unattributed:
        result.findings.append(warning(
            "probe.harness.unattributed",
            f"{ev}: {base.unattributed} scored rows could not be tied to a stream position (logits changed "
            "before the loss, or windows not taken from the validation tokens); results cover the rest",
            **where, evidence={"evaluator": ev, "rows": base.unattributed}))
    if not base.scores:
        result.findings.append(error(
            "probe.not_run",
            f"{ev} computed no per-token loss through F.cross_entropy or F.nll_loss, so its scores cannot be "
            "observed and no probe ran; expose them through golfkit_probe_adapter() (docs/probe.md)",
            **where, evidence={"evaluator": ev, "stage": "scores", "reason": "no_scores"}))
        result.status = {name: "not run: no observable scores" for name in PROBES}
        return result
    base2 = runs.get("base2")
    deterministic = base2 is None or not _changed(base, base2, sorted(base.by_position()))
    if not deterministic:
        result.findings.append(warning(
            "probe.harness.nondeterministic",
            f"{ev} gives different scores on two identical runs; the comparison probes (causality, document "
            "isolation, normalization) were skipped",
            **where, evidence={"evaluator": ev}))

    def record(name: str, found: list[Finding]) -> None:
        result.findings.extend(found)
        result.status[name] = "fail" if found else "pass"

    record("coverage", coverage(ev, base, stream, where))
    if counted_scores(base) is None and base.returned is not None:
        result.findings.append(warning(
            "probe.harness.unreconciled",
            f"{ev} returned val_loss {base.returned[0]:.6f}, which is not the mean of the {len(base.scores)} "
            "per-token losses golfkit saw it compute; it changes scores where golfkit cannot see (a cache or "
            "mixture?), so its byte total was not checked",
            **where, evidence={"evaluator": ev, "returned": list(base.returned), "scores": len(base.scores)}))
        result.status["bytes"] = "not run: val_loss does not follow from the observed scores"
    else:
        record("bytes", byte_accounting(ev, base, stream, table, where))
    doc_starts = frozenset(i for i, tok in enumerate(stream) if tok == BOS_ID)
    record("score_before_update", score_before_update(ev, base, where, doc_starts))
    record("single_pass", single_pass(ev, base, where))
    if not deterministic:
        for name in ("causality", "doc_isolation", "normalization"):
            result.status[name] = "not run: nondeterministic"
        return result
    edited = {t: runs[f"c1_{t}"] for t in plan.causality_positions if f"c1_{t}" in runs}
    record("causality", causality(ev, base, edited, where))
    if plan.doc_boundary is None or "doc" not in runs:
        result.status["doc_isolation"] = "not run: no document boundary in the stream"
    elif not claims_isolation:
        result.status["doc_isolation"] = "not run: the record does not claim document-isolated evaluation"
    elif _updated_before(base, plan.doc_boundary):
        # test-time training carries what it learned from earlier documents on purpose
        result.status["doc_isolation"] = "not run: the model is updated before that BOS position is scored"
    else:
        record("doc_isolation", document_isolation(ev, base, runs["doc"], plan.doc_boundary, where))
    if plan.sweep_position is None:
        result.status["normalization"] = "not run: no vocabulary sweep requested"
    else:
        sweep = {v: runs[f"sweep_{v}"] for v in plan.sweep_tokens if f"sweep_{v}" in runs}
        found, status = normalization(ev, sweep, plan.sweep_position, plan.rows_tokens, plan.vocab_size, where)
        result.findings.extend(found)
        result.status["normalization"] = status
    return result


PROBES = ("coverage", "bytes", "causality", "normalization", "score_before_update", "single_pass",
          "doc_isolation")
