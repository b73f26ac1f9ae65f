"""verify as a library: paths in, `RecordReport`s out (see docs/verify.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from golfkit.errors import GolfkitError
from golfkit.facts import is_track_folder
from golfkit.files import read_bytes
from golfkit.findings import error
from golfkit.report import RecordReport
from golfkit.verify.checks import run_checks
from golfkit.verify.checks.code import counted_code_bytes
from golfkit.verify.checks.sizes import budget_rows
from golfkit.verify.checks.stats import compare_against, seed_scores
from golfkit.verify.checks.timing import eval_time, train_seconds, warmup_use
from golfkit.verify.evidence import RecordEvidence
from golfkit.verify.matching import headline_matches
from golfkit.verify.plugins import ExtraCheck
from golfkit.verify.record import find_records, read_record
from golfkit.verify.submission import MAX_SUBMISSION_BYTES, load_submission_bytes, normalise
from golfkit.verify.variants import implied_bytes

Against = Path | str | None


def find_folders(paths: Iterable[Path]) -> list[Path]:
    """Every record folder at or under each path, in order. Raises GolfkitError for a path that is missing
    or holds no record folder (before any record is read)."""
    folders: list[Path] = []
    for path in paths:
        found = find_records(Path(path))
        if not found:
            raise GolfkitError(f"{path}: no record folder found (none holds a submission JSON, a train_gpt*.py or a log)")
        folders.extend(found)
    return folders


def verify_folders(folders: Iterable[Path], against: Against = None, extra_checks: Iterable[ExtraCheck] = (),
                   on_start: Callable[[int, Path], None] | None = None) -> Iterator[RecordReport]:
    """Verify record folders one at a time, yielding each report as soon as it is made (a caller prints
    verdicts as they come). `on_start(index, folder)` is called before each folder (0-based index).

    `against` as in `verify_paths`; an `against` folder that cannot be read raises GolfkitError before the
    first folder. A record that cannot be read or checked (any exception) is that record's
    `verify.record.failed` finding; the others go on.
    """
    extra = list(extra_checks)
    fixed = _read_against(Path(against)) if against not in (None, "auto") else None
    for index, folder in enumerate(folders):
        if on_start is not None:
            on_start(index, folder)
        try:
            evidence = read_record(folder)
            other = _auto_against(folder) if against == "auto" else fixed
            yield verify_record(evidence, other, extra)
        except Exception as exc:  # noqa: BLE001 - one record's failure is that record's finding
            yield failed_record(folder, exc)


def verify_paths(paths: Iterable[Path], against: Against = None,
                 extra_checks: Iterable[ExtraCheck] = ()) -> list[RecordReport]:
    """Verify every record folder at or under each path.

    `against`: a record folder to compare statistics with, "auto" (the best record of the same
    track in the same repository), or None. Raises GolfkitError for a path that is missing or
    holds no record folder. A record that cannot be read or checked (any exception) gets a
    `verify.record.failed` finding; the other records are verified as usual.
    """
    return list(verify_folders(find_folders(paths), against, extra_checks))


MAX_REASON_CHARS = 300


def failed_record(folder: Path, exc: BaseException) -> RecordReport:
    """The report of a record that verify could not read or check: one error finding saying why."""
    if isinstance(exc, GolfkitError):
        reason = _shortened(str(exc))
        message = f"{folder}: could not be verified: {reason}; the other records were verified"
    else:
        reason = _shortened(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        message = (f"{folder}: verify stopped on this record ({reason}); the other records were verified. "
                   "Check the folder's files; if they look sound, report this as a golfkit bug")
    finding = error("verify.record.failed", message, evidence={"exception": type(exc).__name__})
    return RecordReport.of(str(folder), [finding], {}, {})


def _shortened(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """At most `limit` characters, cut at a space (an exception may quote a whole file)."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return f"{cut} ... ({len(text) - len(cut)} more characters)"


def verify_record(evidence: RecordEvidence, against: RecordEvidence | None = None,
                  extra_checks: Iterable[ExtraCheck] = ()) -> RecordReport:
    """Run the built-in checks, the statistics against `against`, and `extra_checks` on one record."""
    findings = run_checks(evidence)
    measured = measure(evidence)
    if against is not None and against.root.resolve() != evidence.root.resolve():
        found, stats = compare_against(evidence, against)
        findings += found
        measured["against"] = stats
    for check in extra_checks:
        name = getattr(check, "__name__", "a check")
        try:
            findings += check(evidence)
        except GolfkitError as exc:
            findings.append(error("check.failed", f"{name} could not run: {exc}"))
        except Exception as exc:  # noqa: BLE001 - the built-in checks' findings stand
            findings.append(error("check.failed", f"{name} stopped ({type(exc).__name__}: "
                                  f"{_shortened(str(exc))}); report this as a golfkit bug"))
    claims = evidence.submission.canonical if evidence.submission else {}
    return RecordReport.of(str(evidence.root), findings, claims, measured)


def _read_against(path: Path) -> RecordEvidence:
    if not path.is_dir():
        raise GolfkitError(f"--against {path}: not a record folder")
    return read_record(path)


def _auto_against(folder: Path) -> RecordEvidence | None:
    """The record with the lowest claimed val_bpb among the other folders of the same track folder."""
    best: tuple[Decimal, Path] | None = None
    parent = folder.resolve().parent
    if not is_track_folder(parent.name):
        return None
    for other in sorted(parent.iterdir()):
        if other == folder.resolve() or other.is_symlink() or not other.is_dir():
            continue
        bpb = _claimed_bpb(other)
        if bpb is not None and (best is None or bpb < best[0]):
            best = (bpb, other)
    return read_record(best[1]) if best else None


def _claimed_bpb(folder: Path) -> Decimal | None:
    for candidate in sorted(folder.glob("submission*.json")):
        if candidate.is_symlink():
            continue  # verify follows no symlink
        try:
            data = read_bytes(candidate, MAX_SUBMISSION_BYTES, "a submission JSON", candidate.name)
            sub = normalise(load_submission_bytes(data, candidate.name), candidate.name)
        except GolfkitError:
            continue
        if sub.val_bpb is not None:
            return sub.val_bpb.value
    return None


def measure(ev: RecordEvidence) -> dict[str, Any]:
    """What verify measured in a record: per log, code bytes, headline matches, seed statistics."""
    logs = []
    warmup = warmup_use(ev)
    for log in ev.logs:
        run = log.run
        train, _ = train_seconds(log)
        spent = eval_time(log, warmup)
        total = run.total_bytes
        metrics = []
        for m in run.metrics:
            row: dict[str, Any] = {"label": m.label, "family": m.family, "line": m.line,
                                   "val_loss": m.val_loss.value if m.val_loss else None,
                                   "val_bpb": m.val_bpb.value if m.val_bpb else None, "eval_time_s": m.eval_time_s}
            if run.val_tokens and m.val_loss and m.val_bpb and m.val_bpb.value:
                row["implied_val_bytes"] = round(float(implied_bytes(m.val_loss, m.val_bpb, run.val_tokens)[0]))
            metrics.append(row)
        logs.append({
            "path": log.path, "seed": log.seed, "seed_source": log.seed_source, "runs": len(log.runs),
            "copy_of": log.copy_of, "final_metrics": metrics, "total_bytes": total.bytes if total else None,
            "code_bytes_logged": run.size("code").bytes if run.size("code") else None,
            "code_compressed_logged": run.size("code_compressed").bytes if run.size("code_compressed") else None,
            "train_seconds": train, "eval_seconds": spent.seconds,
            "eval_uncounted_warmup_seconds": sum(p.seconds for p in spent.left_out), "val_tokens": run.val_tokens,
            "steps": run.stop_step, "embedded_source_bytes": run.embedded_source.bytes if run.embedded_source else None,
        })
    script = ev.script
    return {
        "track": ev.track,
        "logs": logs,
        "script": {"path": script.path, "bytes": script.bytes, "wrapper_layers": list(script.wrapper_layers),
                   "siblings": [vars(ref) for ref in script.siblings]} if script else None,
        "code_bytes": counted_code_bytes(ev),
        "budget": _budget(ev),
        "claims_matched": {unit: match.to_json() for unit, match in headline_matches(ev).items()},
        "seeds": seed_scores(ev).summary(),
    }


def _budget(ev: RecordEvidence) -> dict[str, Any]:
    """The totals held to the cap, and, for runs that count their code compressed, both totals."""
    rows, compressed = budget_rows(ev)
    return {
        "totals": [{"bytes": r.bytes, "file": r.file, "line": r.line, "what": r.what} for r in rows],
        "compressed_code": [{"file": c.log.path, "line": c.line, "model": c.model, "compressed_code": c.compressed.bytes,
                             "counted_total": c.counted, "shipped_total": c.shipped} for c in compressed],
    }
