"""Rules reviewers enforced beyond the claims (docs/verify.md#rules-reviewers-enforce): what a
`track_10min_16mb` record must show (three seeds, 8xH100, the challenge's validation set, a track that
agrees with its folder), calibration that reads validation data, the train/validation overlap
fingerprint of CaseOps preparation, and the Python version the script's syntax needs.

The time rules (GPTQ inside the training budget, warm-ups on validation tokens) are in timing.py, the
significance rules in stats.py.
"""

from __future__ import annotations

import re

from golfkit.facts import TIMED_TRACK, is_track_folder, normalise_track, variant_for_tokens
from golfkit.findings import Finding, error, info, warning
from golfkit.verify.checks.program import calibration_reads, program_name, program_tree, python_need
from golfkit.verify.evidence import RecordEvidence

SEEDS_NEEDED = 3
HARDWARE = "8xH100"
# `8xH100`, `8 x H100`, `8×H100 SXM`, `8xNVIDIA H100 80GB HBM3`, `8 H100s`, `eight H100`
EIGHT_H100 = re.compile(r"(?:\b8\s*(?:x|×|\*)?\s*|\beight\s+)(?:NVIDIA\s+)?H100", re.IGNORECASE)
# The train shard count that CaseOps preparation's default printed when it copied validation documents
# into the training shards.
OVERLAP_TRAIN_SHARDS = "1499"
NON_RECORD = ("not a record attempt? Put it under records/track_non_record_16mb/ (no time limit, seed minimum or "
              "hardware rule: docs/verify.md#tracks-and-record-folders)")


def check_rules(ev: RecordEvidence) -> list[Finding]:
    found: list[Finding] = []
    found += _track_agrees(ev)
    if ev.track == TIMED_TRACK:
        found += _seeds(ev)
        found += _hardware(ev)
        found += _validation_set(ev)
    found += _train_val_overlap(ev)
    found += _calibration(ev)
    found += _python(ev)
    return found


# ---------------------------------------------------------------- track_10min_16mb


def _seeds(ev: RecordEvidence) -> list[Finding]:
    seeds = sorted(seed for seed, log in ev.seed_logs().items() if log.run.metrics)
    if len(seeds) >= SEEDS_NEEDED:
        return []
    shown = ", ".join(str(s) for s in seeds) or "none"
    return [warning("rules.track.seeds",
                    f"{len(seeds)} seed log(s) with a final metric (seeds: {shown}); a track_10min_16mb record needs "
                    f"{SEEDS_NEEDED} seeds of the same config to show its improvement at p < 0.01; {NON_RECORD}",
                    evidence={"seeds": seeds, "needed": SEEDS_NEEDED})]


def _hardware(ev: RecordEvidence) -> list[Finding]:
    """8xH100 stated by submission.json's `hardware`, the logs' nvidia-smi tables or the README; other
    hardware stated there is an error, none stated a warning."""
    sub = ev.submission
    stated = sub.canonical.get("hardware") if sub is not None else None
    if isinstance(stated, str) and stated.strip():
        if EIGHT_H100.search(stated):
            return []
        return [error("rules.track.hardware",
                      f"{sub.path} states hardware {stated!r}: track_10min_16mb records train and evaluate on "
                      f"{HARDWARE} (SXM) within 600 s each; {NON_RECORD}", file=sub.path,
                      evidence={"stated": stated, "source": sub.path})]
    for log in ev.distinct_logs():
        gpus = log.run.gpus
        if not gpus:
            continue
        names = [name for _index, name, _line in gpus]
        if len(gpus) == 8 and all("H100" in name for name in names):
            return []
        summary = ", ".join(f"{names.count(n)}x {n}" for n in dict.fromkeys(names))
        return [error("rules.track.hardware",
                      f"{log.path}'s nvidia-smi table lists {summary}: track_10min_16mb records run on {HARDWARE}; "
                      f"{NON_RECORD}", file=log.path, line=gpus[0][2],
                      evidence={"gpus": names, "source": log.path})]
    if ev.readme and EIGHT_H100.search(ev.readme):
        return []
    return [warning("rules.track.hardware_not_stated",
                    f"neither submission.json (`hardware`), the logs (an nvidia-smi table) nor the README says the run "
                    f"was on {HARDWARE}: state the hardware; track_10min_16mb records run on {HARDWARE}",
                    file=sub.path if sub is not None else None)]


def _validation_set(ev: RecordEvidence) -> list[Finding]:
    """A record declaring a validation set of no known variant (a synthetic or custom one)."""
    sub = ev.submission
    declared = sub.data if sub is not None else None
    if declared is None or declared.val_tokens is None or variant_for_tokens(declared.val_tokens) is not None:
        return []
    return [error("rules.track.validation_set",
                  f"{sub.path} declares the validation set {declared.variant or 'custom'!s} ({declared.val_tokens:,} "
                  "tokens), which is none of the challenge's FineWeb validation sets: a track_10min_16mb record is "
                  f"scored on the challenge's validation data; {NON_RECORD}", file=sub.path,
                  evidence={"variant": declared.variant, "val_tokens": declared.val_tokens})]


def _track_agrees(ev: RecordEvidence) -> list[Finding]:
    sub = ev.submission
    folder = next((normalise_track(part) for part in reversed(ev.root.resolve().parts)
                   if is_track_folder(part.lower())), None)
    if sub is None or sub.track is None or folder is None or sub.track == folder:
        return []
    return [warning("rules.track.mismatch",
                    f"{sub.path} names track {sub.track} but the folder sits in track_{folder}; the folder's track "
                    "is the one checked: move the folder or fix the track", file=sub.path,
                    evidence={"claimed": sub.track, "folder": folder})]


# ---------------------------------------------------------------- data and calibration


def _train_val_overlap(ev: RecordEvidence) -> list[Finding]:
    found: list[Finding] = []
    for log in ev.distinct_logs():
        shards = log.run.config.get("train_shards")
        if shards is None or shards.strip() != OVERLAP_TRAIN_SHARDS:
            continue
        found.append(error("rules.data.train_val_overlap",
                           f"{log.path} trained on {OVERLAP_TRAIN_SHARDS} train shards: the count CaseOps preparation's "
                           "default produces when it copies validation documents into the training shards (about 80% "
                           "of validation leaks into training); prepare the data so that train and validation do not "
                           "overlap and re-run", file=log.path, line=log.run.config_lines.get("train_shards"),
                           evidence={"train_shards": shards}))
    return found


def _calibration(ev: RecordEvidence) -> list[Finding]:
    tree = program_tree(ev.script)
    if tree is None or ev.script is None:
        return []
    reads = calibration_reads(tree)
    if not reads:
        return []
    program = program_name(ev.script)
    shown = "; ".join(f"{r.where} (line {r.line}) names {', '.join(dict.fromkeys(x.name for x in r.refs))}"
                      for r in reads[:4])
    first = reads[0]
    return [warning("rules.calibration.validation_data",
                    f"{program}: calibration code names validation data: {shown}"
                    f"{f' and {len(reads) - 4} more' if len(reads) > 4 else ''}; GPTQ/Hessian calibration may use "
                    "training shards or generated text, never validation data (a static scan: check these lines)",
                    file=ev.script.path, line=first.refs[0].line if ev.script.unwrapped is None else None,
                    evidence={"program": program, "reads": [{"where": r.where, "line": r.line,
                                                             "names": [[x.line, x.name] for x in r.refs]}
                                                            for r in reads]})]


# ---------------------------------------------------------------- Python version


def _python(ev: RecordEvidence) -> list[Finding]:
    script = ev.script
    if script is None or script.program is None:
        return []
    need = python_need(script.program, script.tree)
    if need is None:
        return []
    program = program_name(script)
    version = ".".join(map(str, need.version))
    return [info("rules.python.version",
                 f"{program} needs Python {version} or newer: line {need.line} uses {need.what}; state it (e.g. in "
                 f"requirements or the README), and run golfkit under Python {version} to check that code fully",
                 file=script.path, line=need.line if script.unwrapped is None else None,
                 evidence={"program": program, "version": version, "line": need.line, "what": need.what})]
