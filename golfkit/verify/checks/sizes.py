"""Per-seed sizes equal that seed's logged total; the total that counts is at most 16,000,000 bytes."""

from __future__ import annotations

from golfkit.facts import SIZE_CAP_BYTES
from golfkit.findings import Finding, error
from golfkit.verify.checks.code import counted_code_bytes
from golfkit.verify.evidence import RecordEvidence
from golfkit.verify.matching import log_for_seed


def check_seed_sizes(ev: RecordEvidence) -> list[Finding]:
    sub = ev.submission
    if sub is None:
        return []
    found: list[Finding] = []
    for seed, claim in sorted(sub.seed_results.items()):
        log = log_for_seed(ev, seed)
        if claim.bytes_total is None or log is None:
            continue
        total = log.run.total_bytes
        if total is None:
            found.append(error("size.seed_bytes.not_logged",
                               f"seed {seed} claims {claim.bytes_total} bytes but {log.path} logs no total size",
                               file=log.path, evidence={"seed": seed, "claimed": claim.bytes_total}))
        elif total.bytes != claim.bytes_total:
            owner = next((other.path for other in ev.distinct_logs()
                          if other.run.total_bytes and other.run.total_bytes.bytes == claim.bytes_total), None)
            note = f"; that is the total of {owner}" if owner and owner != log.path else ""
            found.append(error("size.seed_bytes.mismatch",
                               f"seed {seed} claims {claim.bytes_total} bytes in {sub.path} but {log.path} logs a "
                               f"total of {total.bytes}{note}", file=log.path, line=total.line,
                               evidence={"seed": seed, "claimed": claim.bytes_total, "logged": total.bytes}))
    if sub.bytes_total is not None:
        totals = {log.path: log.run.total_bytes.bytes for log in ev.distinct_logs() if log.run.total_bytes}
        if totals:
            seeded = [log.run.total_bytes.bytes for log in ev.seed_logs().values() if log.run.total_bytes]
            options = set(totals.values())
            if seeded:
                mean = sum(seeded) / len(seeded)
                options |= {max(seeded), int(mean), int(mean) + 1, round(mean)}
            if sub.bytes_total not in options:
                found.append(error("size.bytes_total.not_in_logs",
                                   f"bytes_total {sub.bytes_total} in {sub.path} is no logged total, nor their max "
                                   f"or mean (logged: {', '.join(f'{k} {v}' for k, v in totals.items())})",
                                   file=sub.path, evidence={"claimed": sub.bytes_total, "logged": totals}))
    return found


def check_budget(ev: RecordEvidence) -> list[Finding]:
    """The largest of: each run's model bytes plus the shipped code bytes, each logged total, the claim."""
    code = counted_code_bytes(ev)
    rows = []
    for log in ev.distinct_logs():
        run = log.run
        total = run.total_bytes
        model = run.size("model")
        logged_code = run.size("code_compressed") or run.size("code")
        model_bytes = model.bytes if model else (total.bytes - logged_code.bytes if total and logged_code else None)
        if model_bytes is not None and code is not None:
            rows.append((model_bytes + code, log.path, (model or total).line,
                         f"model {model_bytes} + shipped code {code}"))
        elif total is not None:
            rows.append((total.bytes, log.path, total.line, "logged total"))
    sub = ev.submission
    if sub is not None and sub.bytes_total is not None:
        rows.append((sub.bytes_total, sub.path, None, "claimed bytes_total"))
    if not rows:
        return []
    largest = max(rows, key=lambda row: row[0])
    if largest[0] <= SIZE_CAP_BYTES:
        return []
    over = [{"bytes": b, "file": f, "line": ln, "what": what} for b, f, ln, what in rows if b > SIZE_CAP_BYTES]
    return [error("budget.over_cap",
                  f"the artifact is {largest[0]} bytes ({largest[3]}, {largest[1]}), "
                  f"{largest[0] - SIZE_CAP_BYTES} over the {SIZE_CAP_BYTES:,} byte cap (decimal; code + compressed model)", file=largest[1], line=largest[2],
                  evidence={"largest": largest[0], "cap": SIZE_CAP_BYTES, "over": over})]
