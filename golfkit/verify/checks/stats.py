"""Seed statistics: mean and std recomputed from the seed logs; against another record, the
improvement in nats and bpb and one-sided Welch t-tests under both significance rules in use (the
README's: at least 0.005 nats at p < 0.01; leaderboard updates': any improvement at p < 0.25), each
in nats and in bits per byte side by side (docs/verify.md#significance).

Welch's test has non-integer degrees of freedom, so its p-value needs the Student t distribution at
any df: scipy.stats.t (a dependency of golfkit already) rather than a hand-written incomplete beta."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from decimal import Decimal

from golfkit.findings import Finding, info, warning
from golfkit.verify.evidence import RecordEvidence
from golfkit.verify.matching import agrees, claimed_label, seed_values

MARGIN_NATS = 0.005
P_NEEDED = 0.01  # the README's rule: at least MARGIN_NATS better, at p < 0.01
P_CHRONOLOGICAL = 0.25  # the rule leaderboard updates used: better than the record before it, at p < 0.25
# Two records score the same tokens when their bpb per nat agree this closely (else a nat is not comparable).
TOKENIZATION_TOLERANCE = 0.001
LN2 = math.log(2)


@dataclass
class SeedScores:
    """Per-seed final scores of a record, from the metric line its headline claim came from."""

    label: str | None
    seeds: list[int]
    val_loss: list[float]
    val_bpb: list[float]

    def summary(self) -> dict:
        out: dict = {"label": self.label, "seeds": self.seeds}
        for unit in ("val_loss", "val_bpb"):
            values = getattr(self, unit)
            if values:
                out[f"{unit}_mean"] = statistics.fmean(values)
                out[f"{unit}_std"] = statistics.stdev(values) if len(values) > 1 else None
        return out


def seed_scores(ev: RecordEvidence) -> SeedScores:
    label = claimed_label(ev)
    logs = ev.seed_logs()
    if label is None:
        return SeedScores(None, [], [], [])
    found = seed_values(list(logs.values()), label, "val_bpb")
    return SeedScores(
        label,
        [log.seed for log, _ in found if log.seed is not None],
        [float(m.val_loss.value) for _, m in found if m.val_loss is not None],
        [float(m.val_bpb.value) for _, m in found if m.val_bpb is not None],
    )


def check_seed_statistics(ev: RecordEvidence) -> list[Finding]:
    sub = ev.submission
    scores = seed_scores(ev)
    found: list[Finding] = []
    if sub is None or len(scores.val_bpb) < 2:
        return found
    for unit, claim in (("val_bpb", sub.val_bpb_std), ("val_loss", sub.val_loss_std)):
        values = getattr(scores, unit)
        if claim is None or len(values) < 2:
            continue
        sample, population = statistics.stdev(values), statistics.pstdev(values)
        if not any(agrees(Decimal(repr(v)), 28, claim) for v in (sample, population)):
            found.append(warning(f"stats.{unit}_std.mismatch",
                                 f"{unit}_std {claim} in {sub.path} is neither the sample std {sample:.8f} nor the "
                                 f"population std {population:.8f} of `{scores.label}` over {len(values)} seed logs",
                                 file=sub.path, evidence={"claimed": str(claim), "sample_std": sample,
                                                          "population_std": population, "values": values}))
    return found


def welch_p_value(new: list[float], old: list[float], margin: float = MARGIN_NATS) -> tuple[float, float, float]:
    """One-sided Welch test of mean(old) - mean(new) > margin: returns (t, degrees of freedom, p)."""
    from scipy.stats import t as student_t

    n1, n2 = len(new), len(old)
    v1, v2 = statistics.variance(new) / n1, statistics.variance(old) / n2
    diff = statistics.fmean(old) - statistics.fmean(new) - margin
    se = math.sqrt(v1 + v2)
    if se == 0:
        return (math.inf if diff > 0 else -math.inf), float(n1 + n2 - 2), (0.0 if diff > 0 else 1.0)
    t = diff / se
    df = (v1 + v2) ** 2 / (v1 ** 2 / (n1 - 1) + v2 ** 2 / (n2 - 1)) if v1 + v2 > 0 else float(n1 + n2 - 2)
    return t, df, float(student_t.sf(t, df))


@dataclass(frozen=True)
class RuleTest:
    """One significance rule applied in one unit: the margin, the one-sided Welch test, and whether it is met."""

    unit: str
    margin: float
    t: float
    df: float
    p: float
    p_needed: float
    improvement: float

    @property
    def met(self) -> bool:
        return self.improvement >= self.margin and self.p < self.p_needed

    def to_json(self) -> dict:
        return {"unit": self.unit, "margin": self.margin, "t": self.t, "df": self.df, "p": self.p,
                "p_needed": self.p_needed, "improvement": self.improvement, "met": self.met}


def _rule(unit: str, new: list[float], old: list[float], margin: float, p_needed: float) -> RuleTest:
    t, df, p = welch_p_value(new, old, margin)
    return RuleTest(unit, margin, t, df, p, p_needed, statistics.fmean(old) - statistics.fmean(new))


def compare_against(ev: RecordEvidence, other: RecordEvidence) -> tuple[list[Finding], dict]:
    """Findings and numbers for `ev` against the record `other` (the one it claims to beat), under both
    significance rules in use, each in nats and in bits per byte (docs/verify.md#significance)."""
    mine, theirs = seed_scores(ev), seed_scores(other)
    measured: dict = {"against": str(other.root), "this": mine.summary(), "other": theirs.summary()}
    if len(mine.val_loss) < 2 or len(theirs.val_loss) < 2:
        return [warning("stats.against.too_few_seeds",
                        f"cannot test against {other.name}: {len(mine.val_loss)} seed log(s) here and "
                        f"{len(theirs.val_loss)} there reconcile with their claims; the test needs at least 2 each "
                        "(3 is the usual minimum)", evidence=measured)], measured
    nats = statistics.fmean(theirs.val_loss) - statistics.fmean(mine.val_loss)
    with_bpb = len(mine.val_bpb) >= 2 and len(theirs.val_bpb) >= 2
    bpb = statistics.fmean(theirs.val_bpb) - statistics.fmean(mine.val_bpb) if with_bpb else None
    t, df, p = welch_p_value(mine.val_loss, theirs.val_loss)
    measured.update({"improvement_nats": nats, "improvement_bpb": bpb, "welch_t": t, "welch_df": df, "p_value": p,
                     "margin_nats": MARGIN_NATS})
    tests = {"readme": {"nats": _rule("nats", mine.val_loss, theirs.val_loss, MARGIN_NATS, P_NEEDED)},
             "chronological": {"nats": _rule("nats", mine.val_loss, theirs.val_loss, 0.0, P_CHRONOLOGICAL)}}
    ratio_here, ratio_there = _bpb_per_nat(mine), _bpb_per_nat(theirs)
    if with_bpb and ratio_here is not None:
        tests["readme"]["bpb"] = _rule("bpb", mine.val_bpb, theirs.val_bpb, MARGIN_NATS * ratio_here, P_NEEDED)
        tests["chronological"]["bpb"] = _rule("bpb", mine.val_bpb, theirs.val_bpb, 0.0, P_CHRONOLOGICAL)
    same_tokens = (ratio_here is not None and ratio_there is not None
                   and abs(ratio_here - ratio_there) <= TOKENIZATION_TOLERANCE * ratio_there)
    decides = "nats" if same_tokens or "bpb" not in tests["readme"] else "bpb"
    measured["rules"] = {name: {unit: test.to_json() for unit, test in by_unit.items()} for name, by_unit in tests.items()}
    measured["decided_in"] = decides
    measured["bpb_per_nat"] = {"this": ratio_here, "other": ratio_there}
    readme, chrono = tests["readme"], tests["chronological"]
    found = [info("stats.against.summary", _summary(other.name, nats, bpb, readme, chrono, decides), evidence=measured)]
    if not same_tokens and ratio_here is not None and ratio_there is not None:
        found.append(info("stats.against.tokenization_differs",
                          f"{ev.name} and {other.name} score different tokens ({1 / ratio_here / LN2:.4f} vs "
                          f"{1 / ratio_there / LN2:.4f} bytes per token): a loss per token is not comparable between "
                          "them, so the rules are judged in bits per byte (the 0.005 nats margin converted at this "
                          "record's bytes per token)", evidence=measured))
    if "bpb" in readme and readme["nats"].met != readme["bpb"].met:
        met, unmet = ("nats", "bpb") if readme["nats"].met else ("bpb", "nats")
        found.append(warning("stats.against.units_disagree",
                             f"against {other.name}, the README rule is met in {met} but not in {unmet} "
                             f"(nats: p = {readme['nats'].p:.4g}; bpb: p = {readme['bpb'].p:.4g}); state which unit a "
                             f"claim is in: this one is judged in {decides}", evidence=measured))
    rule = readme[decides]
    if rule.improvement < rule.margin:
        found.append(warning("stats.against.below_margin",
                             f"the mean improvement over {other.name} is {nats:.5f} nats"
                             f"{f' ({bpb:.5f} bpb)' if bpb is not None else ''}, less than the {MARGIN_NATS} nats"
                             f"{f' ({readme[decides].margin:.5f} bpb)' if decides == 'bpb' else ''} a new record needs",
                             evidence=measured))
    elif rule.p >= P_NEEDED:
        found.append(warning("stats.against.not_significant",
                             f"beating {other.name} by {MARGIN_NATS} nats is not shown at p < {P_NEEDED} "
                             f"(p = {rule.p:.4g} in {decides}); add seeds", evidence=measured))
    if chrono[decides].p >= P_CHRONOLOGICAL:
        found.append(warning("stats.against.chronological_not_significant",
                             f"even the leaderboard rule (any improvement over the record before it, one-sided p < "
                             f"{P_CHRONOLOGICAL}) is not met against {other.name}: p = {chrono[decides].p:.4g} in "
                             f"{decides}", evidence=measured))
    return found, measured


def _bpb_per_nat(scores: SeedScores) -> float | None:
    """val_bpb / val_loss of a record's seeds (1 / ln 2 / bytes per token): how a nat per token converts to bpb."""
    pairs = [b / loss for loss, b in zip(scores.val_loss, scores.val_bpb, strict=False) if loss]
    return statistics.fmean(pairs) if pairs else None


def _summary(name: str, nats: float, bpb: float | None, readme: dict, chrono: dict, decides: str) -> str:
    def side(tests: dict) -> str:
        return "; ".join(f"{unit}: margin {test.margin:.5f}, t = {test.t:.3f}, df = {test.df:.1f}, p = {test.p:.4g}"
                         for unit, test in tests.items())

    bpb_text = f"{bpb:+.5f} bpb" if bpb is not None else "bpb unknown"
    return (f"against {name}: improvement {nats:+.5f} nats, {bpb_text}. README rule (at least {MARGIN_NATS} nats, "
            f"one-sided Welch p < {P_NEEDED}): {'met' if readme[decides].met else 'not met'} ({side(readme)}). "
            f"Leaderboard rule (any improvement, chronological p < {P_CHRONOLOGICAL}): "
            f"{'met' if chrono[decides].met else 'not met'} ({side(chrono)}). Judged in {decides}")
