"""Each claimed val_bpb / val_loss, top level and per seed, equals a final metric of the right log; the
headline is what the README and blurb say it is (a mean, not the best seed); a record claim rests on
more than one seed; bytes_total is model + bytes_code and the largest seed's total."""

from __future__ import annotations

import re
from decimal import Decimal

from golfkit.facts import UNTIMED_TRACK
from golfkit.findings import Finding, error, info, warning
from golfkit.verify.evidence import Number, RecordEvidence
from golfkit.verify.matching import (
    agrees,
    candidates,
    earlier_run_match,
    headline_matches,
    logs_for_seed,
    match_claim,
    match_in_log,
    seed_values,
)
from golfkit.verify.readme import MEAN_OF, NOT_RECORD, RECORD_WORD, Readme, parse_readme

# submission.json keys (top level, kept under `extra`) that hold the compressed model's bytes.
MODEL_BYTES_KEY = re.compile(r"^(?:bytes_model\w*|model_bytes|artifact_model_bytes|bytes_model)$")
SEED_KEY = re.compile(r"^(?:seed[_-]?)?(\d{1,12})$", re.IGNORECASE)

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
    for seed, where in _seeds_without_logs(ev):
        found.append(error("claim.seed.log_missing",
                           f"seed {seed} is claimed in {sub.path} ({where}) but no log of seed {seed} is shipped",
                           file=sub.path, evidence={"seed": seed, "where": where,
                                                    "logged_seeds": sorted(ev.seed_logs())}))
    for seed, seed_claim in sorted(sub.seed_results.items()):
        logs = logs_for_seed(ev, seed)
        if not logs:
            continue
        log = logs[0]
        for unit in ("val_bpb", "val_loss"):
            claim = getattr(seed_claim, unit)
            if claim is None:
                continue
            # The seed's run, else a reproduction or re-evaluation of it (a subfolder of re-evaluation logs).
            match = next((m for m in (match_in_log(claim, other, unit) for other in logs) if m is not None), None)
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
    readme = parse_readme(ev.readme) if ev.readme else Readme()
    found.extend(_best_seed_as_mean(ev, readme))
    found.extend(_record_on_one_seed(ev, readme))
    found.extend(_bytes_total(ev))
    return found


def _seeds_without_logs(ev: RecordEvidence) -> list[tuple[str, str]]:
    """Seeds submission.json gives values for (seed_results, or a per-seed map or list under another key) or
    lists in `seeds`, that no shipped log ran: [(seed, where)]."""
    sub = ev.submission
    assert sub is not None
    found: dict[str, str] = {}
    for seed in sub.seed_results:
        found.setdefault(seed, "seed_results")
    extra = sub.canonical.get("extra")
    for key, value in (extra.items() if isinstance(extra, dict) else []):
        for seed in _per_seed_keys(value):
            found.setdefault(seed, f"`{key}`")
    for seed in sub.seeds:
        found.setdefault(seed, "seeds")
    return [(seed, where) for seed, where in found.items() if not logs_for_seed(ev, seed)]


def _per_seed_keys(value: object) -> list[str]:
    """The seeds of a per-seed map (`{"42": 1.0826, ...}`, `{"seed_42": {...}}`) or list (`[{"seed": 42, ...}]`)
    of numbers or metric objects; [] for anything else."""
    def metric(item: object) -> bool:
        return isinstance(item, (int, Decimal)) and not isinstance(item, bool) or isinstance(item, dict) and any(
            k in item for k in ("val_bpb", "val_loss", "bpb", "loss"))
    if isinstance(value, dict) and value and len(value) <= 100:
        keys = [SEED_KEY.match(str(k)) for k in value]
        if all(keys) and all(metric(v) for v in value.values()):
            return [m.group(1) for m in keys if m]
    if isinstance(value, list) and value and len(value) <= 100 and all(
            isinstance(item, dict) and isinstance(item.get("seed"), int) and metric(item) for item in value):
        return [str(item["seed"]) for item in value]
    return []


def _best_seed_as_mean(ev: RecordEvidence, readme: Readme) -> list[Finding]:
    """The headline val_bpb is one seed's value (the best) while the README or the blurb calls it a mean."""
    sub = ev.submission
    assert sub is not None
    claim = sub.val_bpb
    match = headline_matches(ev).get("val_bpb")
    if claim is None or match is None or match.how != "line":
        return []
    # The README's headline says "N-seed mean" (whatever number it prints: the mean, or this claim).
    said = [h.line for h in readme.headlines if h.unit == "val_bpb" and h.mean_of is not None]
    blurb = " ".join(str(v) for v in (sub.canonical.get("blurb"), sub.name) if isinstance(v, str))
    where = f"README.md line {said[0]}" if said else (f"{sub.path}'s blurb" if MEAN_OF.search(blurb) else None)
    if where is None:
        return []
    seed_logs = list(ev.seed_logs().values())
    values = seed_values(seed_logs, match.label, "val_bpb")
    if len(values) < 2 or not any(log.path == match.file for log, _ in values):
        return []
    mean = sum(m.val_bpb.value for _, m in values) / len(values)  # type: ignore[union-attr]
    if agrees(mean, 28, claim):
        return []
    best = min(values, key=lambda item: item[1].val_bpb.value)  # type: ignore[union-attr]
    which = "the best seed's" if best[0].path == match.file else "one seed's"
    return [error("claim.val_bpb.best_seed_as_mean",
                  f"val_bpb {claim} in {sub.path} is {which} value ({match.file}:{match.line}), but {where} says it "
                  f"is a mean; the mean of `{match.label}` over the {len(values)} seed logs is {round(mean, 8)}",
                  file=sub.path, evidence={"claimed": str(claim), "said_at": where, "mean": float(mean),
                                           "seeds": {str(log.seed): float(m.val_bpb.value)  # type: ignore[union-attr]
                                                     for log, m in values}, "match": match.to_json()})]


def _record_on_one_seed(ev: RecordEvidence, readme: Readme) -> list[Finding]:
    """A record claim (README title or submission name) on the 10-minute track with one seed log behind it."""
    sub = ev.submission
    assert sub is not None
    name = sub.name or ""
    claims = readme.claims_record or bool(RECORD_WORD.search(name) and not NOT_RECORD.search(name))
    if not claims or ev.track == UNTIMED_TRACK:
        return []
    seeds = {log.seed for log in ev.distinct_logs() if log.role == "run" and log.run.metrics}
    if len(seeds) != 1:
        return []
    where = f"README.md ({readme.title})" if readme.claims_record else f"the name `{name}`"
    return [error("claim.record.one_seed",
                    f"{where} claims a record, which must beat the best by 0.005 nats at p < 0.01, but one seed log "
                    "backs it; three seeds is the usual minimum", file=sub.path,
                    evidence={"seeds": sorted(s for s in seeds if s is not None), "title": readme.title})]


def _bytes_total(ev: RecordEvidence) -> list[Finding]:
    sub = ev.submission
    assert sub is not None
    found: list[Finding] = []
    total = sub.bytes_total
    if total is None:
        return found
    model, model_from = _model_bytes(ev, total)
    if model is not None and sub.bytes_code is not None and model + sub.bytes_code != total:
        compressed = {s.bytes for log in ev.distinct_logs() for s in log.run.sizes if s.kind == "code_compressed"}
        if total - model not in compressed:  # a total over the compressed code: the budget check reports it
            found.append(error("claim.bytes_total.not_sum",
                               f"bytes_total {total} in {sub.path} is not the model's {model} bytes ({model_from}) + "
                               f"bytes_code {sub.bytes_code} = {model + sub.bytes_code}", file=sub.path,
                               evidence={"claimed": total, "model": model, "model_from": model_from,
                                         "bytes_code": sub.bytes_code}))
    seeds: dict[str, tuple[int, str]] = {}
    for log in ev.seed_logs().values():
        if log.run.total_bytes is not None and log.role == "run":
            seeds[str(log.seed)] = (log.run.total_bytes.bytes, log.path)
    for seed, claim in sub.seed_results.items():
        if claim.bytes_total is not None and seed not in seeds:
            seeds[seed] = (claim.bytes_total, f"{sub.path} seed_results")
    if len(seeds) >= 2:
        seed, (largest, where) = max(seeds.items(), key=lambda item: item[1][0])
        if total < largest:
            mean = sum(b for b, _ in seeds.values()) / len(seeds)
            what = " (their mean)" if abs(total - mean) <= 1 else ""
            found.append(warning("claim.bytes_total.not_max",
                                 f"bytes_total {total} in {sub.path}{what} is less than seed {seed}'s total of {largest} "
                                 f"bytes ({where}); every seed's artifact must fit, so the headline size is the largest",
                                 file=sub.path, evidence={"claimed": total, "largest": largest, "seed": seed,
                                                          "totals": {k: v[0] for k, v in seeds.items()}}))
    return found


def _model_bytes(ev: RecordEvidence, total: int) -> tuple[int | None, str]:
    """The compressed model's bytes that bytes_total should include: a `bytes_model*` key of submission.json,
    else the model size logged in the run whose total is bytes_total."""
    sub = ev.submission
    assert sub is not None
    extra = sub.canonical.get("extra")
    for key, value in (extra.items() if isinstance(extra, dict) else []):
        if MODEL_BYTES_KEY.match(key) and isinstance(value, int) and not isinstance(value, bool):
            return value, f"`{key}` in {sub.path}"
    for log in ev.distinct_logs():
        logged = log.run.total_bytes
        model = log.run.size("model")
        if logged is not None and logged.bytes == total and model is not None:
            return model.bytes, f"{log.path}:{model.line}"
    return None, ""


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
