"""Seed statistics: mean and std recomputed from the seed logs; against another record, the
improvement in nats and bpb and a one-sided Welch t-test for beating it by 0.005 nats."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from decimal import Decimal

from golfkit.findings import Finding, info, warning
from golfkit.verify.evidence import RecordEvidence
from golfkit.verify.matching import agrees, claimed_label, seed_values

MARGIN_NATS = 0.005
P_NEEDED = 0.01


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


def compare_against(ev: RecordEvidence, other: RecordEvidence) -> tuple[list[Finding], dict]:
    """Findings and numbers for `ev` against the record `other` (the one it claims to beat)."""
    mine, theirs = seed_scores(ev), seed_scores(other)
    measured: dict = {"against": str(other.root), "this": mine.summary(), "other": theirs.summary()}
    if len(mine.val_loss) < 2 or len(theirs.val_loss) < 2:
        return [warning("stats.against.too_few_seeds",
                        f"cannot test against {other.name}: {len(mine.val_loss)} seed log(s) here and "
                        f"{len(theirs.val_loss)} there reconcile with their claims; the test needs at least 2 each "
                        "(3 is the usual minimum)", evidence=measured)], measured
    nats = statistics.fmean(theirs.val_loss) - statistics.fmean(mine.val_loss)
    bpb = statistics.fmean(theirs.val_bpb) - statistics.fmean(mine.val_bpb) if mine.val_bpb and theirs.val_bpb else None
    t, df, p = welch_p_value(mine.val_loss, theirs.val_loss)
    measured.update({"improvement_nats": nats, "improvement_bpb": bpb, "welch_t": t, "welch_df": df, "p_value": p,
                     "margin_nats": MARGIN_NATS})
    bpb_text = f"{bpb:+.5f} bpb" if bpb is not None else "bpb unknown"
    found = [info("stats.against.summary",
                  f"against {other.name}: improvement {nats:+.5f} nats, {bpb_text}; one-sided Welch t-test for beating "
                  f"it by {MARGIN_NATS} nats: t = {t:.3f}, df = {df:.1f}, p = {p:.4g}", evidence=measured)]
    if nats < MARGIN_NATS:
        found.append(warning("stats.against.below_margin",
                             f"the mean improvement over {other.name} is {nats:.5f} nats, less than the {MARGIN_NATS} "
                             "nats a new record needs", evidence=measured))
    elif p >= P_NEEDED:
        found.append(warning("stats.against.not_significant",
                             f"beating {other.name} by {MARGIN_NATS} nats is not shown at p < {P_NEEDED} "
                             f"(p = {p:.4g}); add seeds", evidence=measured))
    return found, measured
