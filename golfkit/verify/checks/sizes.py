"""Per-seed sizes equal that seed's logged total; the total that counts is at most 16,000,000 bytes
(docs/verify.md#size-cap).

Some logs count the compressed size of the readable script they ship (`Code size (uncompressed)` and
`Code size (compressed)` both printed, the logged total = model + compressed code). Counted that way a
record may fit while the folder, as shipped, does not: that is a warning naming both totals and how to
ship what was counted, after golfkit compresses the shipped script itself (with the compressor the log
names, else lzma and brotli) to see that the logged figure is one a compressor can reach. It is an
error only when even the compressed count is over the cap, or the logged figure is implausibly small.
"""

from __future__ import annotations

import lzma
import zlib
from dataclasses import dataclass
from functools import lru_cache

from golfkit.facts import SIZE_CAP_BYTES
from golfkit.findings import Finding, error, warning
from golfkit.verify.checks.code import counted_code_bytes
from golfkit.verify.evidence import LogEvidence, RecordEvidence, RunEvidence, SizeLine
from golfkit.verify.matching import log_for_seed

# A logged compressed size under this fraction of what golfkit's compressor makes of the shipped script is
# not one a compressor reached (the records' own recipes, minify + compress + base85, log 1.1-1.3x golfkit's
# plain compression of the readable script).
PLAUSIBLE_FRACTION = 0.5
CODECS = ("brotli", "lzma", "xz", "zstd", "zlib")


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


@dataclass(frozen=True)
class BudgetRow:
    """One total that must fit the cap: bytes, where it comes from (file, line), what it adds up."""

    bytes: int
    file: str
    line: int | None
    what: str


@dataclass(frozen=True)
class CompressedCount:
    """A run whose logged total counts the compressed code: model + compressed code vs model + shipped code."""

    log: LogEvidence
    model: int
    compressed: SizeLine
    counted: int
    shipped: int
    line: int | None


def budget_rows(ev: RecordEvidence) -> tuple[list[BudgetRow], list[CompressedCount]]:
    """The totals that must fit (per run: model + the code that counts; else the logged total; the claimed
    bytes_total), and the runs that count their code compressed (their row is model + compressed code)."""
    code = counted_code_bytes(ev)
    rows: list[BudgetRow] = []
    compressed_runs: list[CompressedCount] = []
    for log in ev.distinct_logs():
        run = log.run
        total = run.total_bytes
        model = run.size("model")
        compressed = run.size("code_compressed")
        logged_code = compressed or run.size("code")
        model_bytes = model.bytes if model else (total.bytes - logged_code.bytes if total and logged_code else None)
        line = (model or total).line if (model or total) else None
        if model_bytes is not None and code is not None:
            if compressed is not None and _counts_compressed(run, model_bytes, compressed):
                counted = model_bytes + compressed.bytes
                compressed_runs.append(CompressedCount(log, model_bytes, compressed, counted, model_bytes + code,
                                                       total.line if total else line))
                rows.append(BudgetRow(counted, log.path, total.line if total else line,
                                      f"model {model_bytes} + compressed code {compressed.bytes} as logged"))
            else:
                rows.append(BudgetRow(model_bytes + code, log.path, line, f"model {model_bytes} + shipped code {code}"))
        elif total is not None:
            rows.append(BudgetRow(total.bytes, log.path, total.line, "logged total"))
    sub = ev.submission
    if sub is not None and sub.bytes_total is not None:
        rows.append(BudgetRow(sub.bytes_total, sub.path, None, "claimed bytes_total"))
    return rows, compressed_runs


def _counts_compressed(run: RunEvidence, model_bytes: int, compressed: SizeLine) -> bool:
    """The run's total is model + compressed code (or it logs no total to say otherwise)."""
    total = run.total_bytes
    return total is None or total.bytes == model_bytes + compressed.bytes


def check_budget(ev: RecordEvidence) -> list[Finding]:
    rows, compressed_runs = budget_rows(ev)
    if not rows:
        return []
    found: list[Finding] = []
    largest = max(rows, key=lambda row: row.bytes)
    if largest.bytes > SIZE_CAP_BYTES:
        over = [{"bytes": r.bytes, "file": r.file, "line": r.line, "what": r.what} for r in rows if r.bytes > SIZE_CAP_BYTES]
        found.append(error("budget.over_cap",
                           f"the artifact is {largest.bytes} bytes ({largest.what}, {largest.file}), "
                           f"{largest.bytes - SIZE_CAP_BYTES} over the {SIZE_CAP_BYTES:,} byte cap (decimal; code + "
                           "compressed model)", file=largest.file, line=largest.line,
                           evidence={"largest": largest.bytes, "cap": SIZE_CAP_BYTES, "over": over}))
    relied = [c for c in compressed_runs if c.shipped > SIZE_CAP_BYTES and c.counted <= SIZE_CAP_BYTES]
    if relied and ev.script is not None and ev.script.text is not None:
        found.extend(_compressed_code(ev, relied))
    return found


def _compressed_code(ev: RecordEvidence, relied: list[CompressedCount]) -> list[Finding]:
    """The warning (or the implausibility error) for runs that fit only with their code counted compressed."""
    script = ev.script
    assert script is not None and script.text is not None
    worst = max(relied, key=lambda c: c.shipped)
    codecs = _codecs_named(worst.log.run)
    ours = {codec: compressed_size(script.text, codec) for codec in codecs}
    ours = {codec: size for codec, size in ours.items() if size is not None} or {"lzma": compressed_size(script.text, "lzma")}
    code = counted_code_bytes(ev) or 0
    smallest_logged = min(relied, key=lambda c: c.compressed.bytes)
    evidence = {
        "logs": [{"file": c.log.path, "line": c.line, "model": c.model, "compressed_code": c.compressed.bytes,
                  "counted_total": c.counted, "shipped_total": c.shipped} for c in relied],
        "shipped_code": code, "golfkit_compressed": ours, "cap": SIZE_CAP_BYTES,
    }
    ours_text = ", ".join(f"{codec} {size:,}" for codec, size in ours.items())
    both = (f"{worst.log.path} counts the compressed code: model {worst.model:,} + compressed code "
            f"{worst.compressed.bytes:,} = {worst.counted:,} bytes (line {worst.line}), under the {SIZE_CAP_BYTES:,} "
            f"cap; counted as shipped ({script.path} and the code it uses, {code:,} bytes) the artifact is "
            f"{worst.shipped:,} bytes, {worst.shipped - SIZE_CAP_BYTES:,} over"
            + (f" ({len(relied)} logs count this way)" if len(relied) > 1 else ""))
    best = min(size for size in ours.values() if size is not None)
    if smallest_logged.compressed.bytes < PLAUSIBLE_FRACTION * best:
        return [error("budget.compressed_code.implausible",
                      f"{both}. The logged compressed size, {smallest_logged.compressed.bytes:,} bytes "
                      f"({smallest_logged.log.path}:{smallest_logged.compressed.line}), is less than half of what "
                      f"golfkit's compressor makes of {script.path} ({ours_text} bytes): no compressor reaches that, so "
                      "the compressed count cannot be trusted and the shipped total is what counts",
                      file=smallest_logged.log.path, line=smallest_logged.compressed.line, evidence=evidence)]
    return [warning("budget.compressed_code",
                    f"{both}. The logged figure is plausible: golfkit compresses {script.path} to {ours_text} bytes. "
                    "The folder must hold what was counted: ship the self-extracting form as the script "
                    f"(`golfkit minify {script.path}` writes it, proven to be the same program; rename its output to "
                    f"{script.path}), or count the shipped bytes",
                    file=worst.log.path, line=worst.line, evidence=evidence)]


def _codecs_named(run: RunEvidence) -> list[str]:
    """The compressor the run's log names (its `compressor` setting, else the label of its total), else lzma
    and brotli."""
    names = [run.config.get("code_compressor", ""), run.config.get("compressor", "")]
    total = run.total_bytes
    if total is not None:
        names += total.label.replace("+", " ").replace("-", " ").split()
    for name in names:
        name = name.strip().lower()
        if name in CODECS:
            return ["lzma" if name == "xz" else name]
    return ["lzma", "brotli"]


@lru_cache(maxsize=32)
def compressed_size(text: str, codec: str) -> int | None:
    """Bytes of `text` (UTF-8) compressed by golfkit at the codec's strongest setting; None when the codec's
    module is not installed."""
    data = text.encode("utf-8", errors="surrogateescape")
    if codec == "lzma":
        return len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    if codec == "zlib":
        return len(zlib.compress(data, 9))
    try:
        if codec == "brotli":
            import brotli

            return len(brotli.compress(data, quality=11))
        if codec == "zstd":
            import zstandard

            return len(zstandard.ZstdCompressor(level=22).compress(data))
    except ImportError:
        return None
    return None
