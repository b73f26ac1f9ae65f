"""Distinct seeds, and every seed log ran one config apart from its seed."""

from __future__ import annotations

import re
from collections import Counter

from golfkit.findings import Finding, error
from golfkit.verify.evidence import LogEvidence, RecordEvidence

NUMERIC = re.compile(r"^[-+0-9.eE/]+$")
PER_RUN_KEYS = {"seed", "run_id", "logfile", "rank", "local_rank", "is_main_process", "s"}


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
        if log.seed is not None and log.run.metrics:
            by_seed.setdefault(log.seed, []).append(log.path)
    for seed, paths in sorted(by_seed.items()):
        if len(paths) > 1:
            found.append(error("seeds.duplicate",
                               f"seed {seed} was run by {len(paths)} different logs ({', '.join(paths)}); "
                               "each seed log must be a different seed", file=paths[1], evidence={"seed": seed,
                                                                                                  "logs": paths}))
    logs = list(ev.seed_logs().values())
    if len(logs) >= 2:
        found.extend(_config_differences(logs))
    return found


def _normalised(log: LogEvidence) -> dict[str, str]:
    seed = str(log.run.seed if log.run.seed is not None else log.seed)
    pattern = re.compile(rf"(?<!\d){re.escape(seed)}(?!\d)")
    out = {}
    for key, value in log.run.config.items():
        if key.lower() in PER_RUN_KEYS or NUMERIC.match(value):
            out[key] = value
            continue
        if "/" in value:
            # Paths name the machine a seed ran on; only the file or folder name is config.
            value = value.rstrip("/").split("/")[-1]
        out[key] = pattern.sub("<seed>", value)
    return {k: v for k, v in out.items() if k.lower() not in PER_RUN_KEYS}


def _config_differences(logs: list[LogEvidence]) -> list[Finding]:
    configs = [(log, _normalised(log)) for log in logs]
    base_log, base = configs[0]
    found: list[Finding] = []
    for log, config in configs[1:]:
        keys = sorted(k for k in set(base) & set(config) if base[k] != config[k])
        if keys:
            diffs = {k: [base[k], config[k]] for k in keys}
            shown = ", ".join(f"{k}: {base[k]} vs {config[k]}" for k in keys[:6])
            found.append(error("seeds.config.differs",
                               f"{log.path} ran another config than {base_log.path} ({shown}); seeds must differ "
                               "only in SEED", file=log.path, evidence={"against": base_log.path, "differences": diffs}))
    return found
