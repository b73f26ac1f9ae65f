"""Each claimed val_bpb / val_loss, top level and per seed, equals a final metric of the right log."""

from __future__ import annotations

from golfkit.findings import Finding, error, info
from golfkit.verify.evidence import Number, RecordEvidence
from golfkit.verify.matching import (
    candidates,
    earlier_run_match,
    log_for_seed,
    match_claim,
    match_in_log,
)

OTHER = {"val_bpb": "val_loss", "val_loss": "val_bpb"}


def check_claims(ev: RecordEvidence) -> list[Finding]:
    sub = ev.submission
    if sub is None or not ev.logs:
        return []
    found: list[Finding] = []
    for unit in ("val_bpb", "val_loss"):
        claim: Number | None = getattr(sub, unit)
        if claim is not None:
            found.append(_top_level(ev, unit, claim))
    for seed, seed_claim in sorted(sub.seed_results.items()):
        log = log_for_seed(ev, seed)
        if log is None:
            found.append(error("claim.seed.log_missing",
                               f"seed {seed} is claimed in {sub.path} but no log of seed {seed} is shipped",
                               file=sub.path, evidence={"seed": seed, "logged_seeds": sorted(ev.seed_logs())}))
            continue
        for unit in ("val_bpb", "val_loss"):
            claim = getattr(seed_claim, unit)
            if claim is None:
                continue
            match = match_in_log(claim, log, unit)
            if match is not None:
                found.append(info(f"claim.seed_{unit}.matched",
                                  f"seed {seed} {unit} {claim} = {match.describe()}", file=match.file,
                                  line=match.line, evidence={"seed": seed, "claimed": str(claim), **match.to_json()}))
            elif match_in_log(claim, log, OTHER[unit]) is not None:
                found.append(error(f"claim.seed_{unit}.wrong_unit",
                                   f"seed {seed} {unit} {claim} is the log's {OTHER[unit]}, not its {unit}",
                                   file=log.path, evidence={"seed": seed, "claimed": str(claim)}))
            else:
                logged = [str(getattr(m, unit)) for m in log.run.metrics if getattr(m, unit) is not None]
                found.append(error(f"claim.seed_{unit}.not_in_log",
                                   f"seed {seed} {unit} {claim} (at {claim.places} decimals) is no final metric of "
                                   f"{log.path}, which logs {', '.join(logged) or 'none'}",
                                   file=log.path, line=log.run.metrics[-1].line if log.run.metrics else None,
                                   evidence={"seed": seed, "claimed": str(claim), "logged": logged}))
    return found


def _top_level(ev: RecordEvidence, unit: str, claim: Number) -> Finding:
    sub = ev.submission
    assert sub is not None
    match = match_claim(claim, candidates(ev, unit, sub.seeds))
    if match is not None:
        return info(f"claim.{unit}.matched", f"{unit} {claim} = {match.describe()}", file=match.file,
                    line=match.line, evidence={"claimed": str(claim), **match.to_json()})
    if match_claim(claim, candidates(ev, OTHER[unit], sub.seeds)) is not None:
        return error(f"claim.{unit}.wrong_unit",
                     f"{unit} {claim} in {sub.path} is a logged {OTHER[unit]}, not a {unit}: "
                     "bits per byte and nats per token are different units", file=sub.path,
                     evidence={"claimed": str(claim)})
    earlier = earlier_run_match(claim, ev, unit)
    nearest = _nearest(ev, unit, claim)
    message = (f"{unit} {claim} in {sub.path} (at {claim.places} decimals) equals no final metric of any log and no "
               f"seed mean")
    if earlier is not None:
        message += f"; it is `{earlier.label}` of an earlier run ({earlier.logs[0]}, line {earlier.line}), not the " \
                   "last run that counts"
    elif nearest is not None:
        message += f"; the nearest is {nearest[1]} ({nearest[0]})"
    return error(f"claim.{unit}.not_in_logs", message, file=sub.path,
                 evidence={"claimed": str(claim), "nearest": nearest[1] if nearest else None,
                           "nearest_from": nearest[0] if nearest else None,
                           "earlier_run": earlier.to_json() if earlier else None})


def _nearest(ev: RecordEvidence, unit: str, claim: Number) -> tuple[str, str] | None:
    options = candidates(ev, unit, ev.submission.seeds if ev.submission else None)
    if not options:
        return None
    best = min(options, key=lambda m: abs(m.value - claim.value))
    value = round(best.value, max(claim.places, 8)) if best.how != "line" else best.value
    return best.describe(), str(value)
