"""Distinct seeds, and every seed log ran one training config apart from its seed.

Configs are compared key by key as parsed values (golfkit/verify/configs.py). A training setting that
differs is an error; an evaluation setting that differs is an error only when the claimed metric uses
it (a TTT flag under a sliding-window claim is not), else info. Reproductions, ablations, explorations
and driver summaries (golfkit/verify/roles.py) are not seed logs.
"""

from __future__ import annotations

from collections import Counter

from golfkit.findings import Finding, error, info
from golfkit.verify.configs import Difference, differences
from golfkit.verify.evidence import LogEvidence, RecordEvidence
from golfkit.verify.matching import headline_matches


def check_seeds(ev: RecordEvidence) -> list[Finding]:
    found: list[Finding] = []
    sub = ev.submission
    if sub is not None:
        repeated = [seed for seed, count in Counter(sub.seeds).items() if count > 1]
        if repeated:
            found.append(error("seeds.duplicate", f"{sub.path} lists seed(s) {', '.join(repeated)} more than once",
                               file=sub.path, evidence={"seeds": sub.seeds}))
    by_seed: dict[int, list[str]] = {}
    for log in ev.distinct_logs():
        if log.seed is not None and log.run.metrics and log.role == "run":
            by_seed.setdefault(log.seed, []).append(log.path)
    for seed, paths in sorted(by_seed.items()):
        if len(paths) > 1:
            found.append(error("seeds.duplicate",
                               f"seed {seed} was run by {len(paths)} logs with different training configs "
                               f"({', '.join(paths)}); each seed log must be a different seed. Mark reproduction or "
                               "ablation logs in submission.json's extra_logs", file=paths[1],
                               evidence={"seed": seed, "logs": paths}))
    logs = [log for log in ev.seed_logs().values() if log.role == "run"]
    if len(logs) >= 2:
        found.extend(_config_differences(ev, logs))
    return found


def _claimed_family(ev: RecordEvidence) -> tuple[str | None, str | None]:
    """The family and label of the metric the headline claim came from (None, None when unmatched)."""
    matches = headline_matches(ev)
    match = matches.get("val_bpb") or matches.get("val_loss")
    return (match.family, match.label) if match else (None, None)


def _config_differences(ev: RecordEvidence, logs: list[LogEvidence]) -> list[Finding]:
    # Compared with the log that differs least from the others, so that the odd one out is the one named.
    base = min(logs, key=lambda log: sum(len(differences(log, other)) for other in logs if other is not log))
    logs = [base, *(log for log in logs if log is not base)]
    family, label = _claimed_family(ev)
    claimed = f"`{label}` ({family})" if label else "the claimed metric (not found in the logs)"
    found: list[Finding] = []
    for log in logs[1:]:
        diffs = differences(base, log)
        used = [d for d in diffs if d.affects(family)]
        unused = [d for d in diffs if not d.affects(family)]
        evidence = {"against": base.path, "differences": {d.key: [d.left, d.right] for d in diffs},
                    "groups": {d.key: d.group for d in diffs}, "claimed_family": family}
        if used:
            training = [d for d in used if d.training]
            what = "another config" if training else f"other evaluation settings that {claimed} uses"
            found.append(error("seeds.config.differs",
                               f"{log.path} ran {what} than {base.path} ({_shown(used)}); seeds must differ "
                               "only in SEED", file=log.path, evidence=evidence))
        elif unused:
            found.append(info("seeds.config.eval_differs",
                              f"{log.path} and {base.path} differ only in evaluation settings that {claimed} does "
                              f"not use ({_shown(unused)})", file=log.path, evidence=evidence))
    return found


def _shown(diffs: list[Difference]) -> str:
    return ", ".join(f"{d.key}: {d.left} vs {d.right}" for d in diffs[:6]) + (
        f", and {len(diffs) - 6} more" if len(diffs) > 6 else "")
