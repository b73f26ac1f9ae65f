"""The validation token count is a known variant (or the one the record declares), and the byte
total each final metric implies (val_loss / ln 2 x tokens / val_bpb) is that variant's byte count.
A byte total off by more than 0.1% is a byte-accounting bug (those seen were 4-17%:
docs/verify.md#validation-data-and-bits-per-byte); a smaller gap beyond rounding means some targets
were scored twice or not at all (docs/verify.md#sliding-window-evaluation)."""

from __future__ import annotations

from decimal import Decimal

from golfkit.facts import Variant, variant_for_tokens
from golfkit.findings import Finding, error, info, warning
from golfkit.verify.evidence import LogEvidence, Metric, RecordEvidence
from golfkit.verify.matching import claimed_label
from golfkit.verify.variants import implied_bytes

BUG_RELATIVE = 0.001


def check_data(ev: RecordEvidence) -> list[Finding]:
    found: list[Finding] = []
    declared = ev.submission.data if ev.submission else None
    label = claimed_label(ev)
    claimed = _claimed_labels(ev, label)
    gaps: dict[tuple[str, str], list[dict]] = {}
    for log in ev.distinct_logs():
        run = log.run
        if run.val_tokens is None or not run.metrics:
            continue
        variant = _variant(ev, log, declared, found)
        if variant is None or variant.val_bytes is None:
            continue
        for metric in run.metrics:
            if metric.val_loss is None or metric.val_bpb is None or metric.val_bpb.value == 0:
                continue
            total, slack = implied_bytes(metric.val_loss, metric.val_bpb, run.val_tokens)
            gap = total - variant.val_bytes
            if abs(gap) <= slack:
                continue
            gaps.setdefault((metric.label, variant.name), []).append({
                "file": log.path, "line": metric.line, "implied": round(float(total)), "canonical": variant.val_bytes,
                "gap": round(float(gap)), "relative": float(gap / variant.val_bytes), "diagnostic": metric.diagnostic,
                "targets": round(abs(float(gap)) * run.val_tokens / variant.val_bytes),
                "bytes_per_target": variant.val_bytes / run.val_tokens,
            })
    for (metric_label, variant_name), rows in gaps.items():
        found.append(_byte_finding(metric_label, variant_name, rows, label is None or metric_label in claimed))
    return found


def _claimed_labels(ev: RecordEvidence, label: str | None) -> set[str]:
    """The claimed metric's label and those of the lines that print the same evaluation in a log: its
    `_exact` twin, or a line of another name with the same scores (at the coarser precision)."""
    if label is None:
        return set()
    found = {label}
    for log in ev.distinct_logs():
        claimed = [m for m in log.run.metrics if m.label == label]
        for metric in log.run.metrics:
            if metric.label not in found and any(_same_scores(metric, other) for other in claimed):
                found.add(metric.label)
    return found


def _same_scores(a: Metric, b: Metric) -> bool:
    for unit in ("val_loss", "val_bpb"):
        x, y = getattr(a, unit), getattr(b, unit)
        if x is None or y is None:
            return False
        coarse = min(x.places, y.places)
        if abs(round(x.value, coarse) - round(y.value, coarse)) > Decimal(1).scaleb(-coarse) / 2:
            return False
    return True


def _variant(ev: RecordEvidence, log: LogEvidence, declared, found: list[Finding]) -> Variant | None:
    run = log.run
    if declared is not None and declared.val_tokens is not None:
        if run.val_tokens != declared.val_tokens:
            other = variant_for_tokens(run.val_tokens)
            note = f" (the count of {other.name})" if other else ""
            found.append(error("data.val_tokens.mismatch",
                               f"{log.path} scored {run.val_tokens} validation tokens{note}, but the record declares "
                               f"variant {declared.variant} with {declared.val_tokens}", file=log.path,
                               line=run.val_tokens_line, evidence={"logged": run.val_tokens,
                                                                   "declared": declared.val_tokens}))
            return None
        return Variant(declared.variant or "declared", declared.val_tokens, declared.val_bytes, "submission.json")
    variant = variant_for_tokens(run.val_tokens)
    if variant is None:
        found.append(warning("data.val_tokens.unknown",
                             f"{log.path} scored {run.val_tokens} validation tokens, the count of no known variant "
                             "(golfkit/data/variants.json): a truncated or altered validation split? Declare the "
                             "variant in submission.json's data block if it is deliberate", file=log.path,
                             line=run.val_tokens_line, evidence={"logged": run.val_tokens}))
    return variant


def _byte_finding(label: str, variant: str, rows: list[dict], claimed: bool) -> Finding:
    worst = max(rows, key=lambda r: abs(r["gap"]))
    message = (f"`{label}` implies {worst['implied']:,} validation bytes ({worst['file']}:{worst['line']}"
               f"{f' and {len(rows) - 1} more' if len(rows) > 1 else ''}); {variant} has {worst['canonical']:,} "
               f"({worst['gap']:+,}, {worst['relative']:+.4%})")
    kw = {"file": worst["file"], "line": worst["line"], "evidence": {"label": label, "variant": variant, "lines": rows}}
    if abs(worst["relative"]) > BUG_RELATIVE:
        return error("data.bytes.mismatch", message + ": the bytes per token are miscounted, so val_bpb is wrong", **kw)
    if claimed:
        per = worst["bytes_per_target"]
        return warning("data.bytes.small_mismatch",
                       message + f", about {worst['targets']:,} targets' worth at {per:.2f} bytes per target: some "
                       "targets of the claimed metric were scored twice or not at all "
                       "(docs/verify.md#sliding-window-evaluation)", **kw)
    return info("data.bytes.small_mismatch_unclaimed", message + " (a line no claim comes from)", **kw)
