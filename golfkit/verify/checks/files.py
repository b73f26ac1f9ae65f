"""Required files, and the state of each log: traceback, cut short, binary, copies, seed labels."""

from __future__ import annotations

from golfkit.findings import Finding, error, info, warning
from golfkit.schema import schema_errors
from golfkit.verify.evidence import ReadProblem, RecordEvidence


def _read_problem(problem: ReadProblem) -> Finding | None:
    """The finding for what the reader could not do with a file (None for a log's or a script's)."""
    where = problem.file
    if problem.kind == "symlink_outside":
        return error("files.symlink.outside", f"{where} is a symlink to {problem.detail}, outside the record "
                     "folder; ship the file itself", file=where, evidence={"target": problem.detail})
    if problem.kind == "symlink_inside":
        return warning("files.symlink.inside", f"{where} is a symlink to {problem.detail}; golfkit follows no "
                       "symlink, so it was not read: ship the file itself under this name", file=where,
                       evidence={"target": problem.detail})
    if problem.kind == "not_regular":
        return error("files.not_regular", f"{where} is a {problem.detail}, not a regular file; it was not opened: "
                     "a record folder holds regular files only, remove it", file=where,
                     evidence={"kind": problem.detail})
    if problem.kind == "too_many_files":
        return error("files.too_many", f"more than {problem.limit} files; a record folder holds a handful: remove "
                     "checkpoints, caches and data", file=where)
    if problem.kind == "readme_too_large":
        return warning("files.readme.too_large", f"{where} is over {problem.limit} bytes", file=where)
    if problem.kind == "readme_unreadable":
        return error("files.readme.unreadable", problem.detail, file=where)
    if problem.kind == "submission_invalid":
        return error("files.submission.invalid", problem.detail, file=where)
    return None


def check_files(ev: RecordEvidence) -> list[Finding]:
    found = [f for f in map(_read_problem, ev.problems) if f is not None]
    if ev.readme is None:
        found.append(error("files.readme.missing", "no README.md: a record explains its method in README.md"))
    if ev.submission is None and ev.submission_problem is None:
        found.append(error("files.submission.missing",
                           "no submission.json: write one (golfkit new fills it from the logs)"))
    if ev.submission_problem is not None:
        found.append(_read_problem(ev.submission_problem))
    if ev.script is None:
        found.append(error("files.script.missing",
                           "no training script (train_gpt.py) is shipped; the code that produced the logs "
                           "must be in the folder and run from it"))
    if not any(log.run.metrics for log in ev.distinct_logs()):
        found.append(error("files.log.missing",
                           f"no log with a final metric line among {len(ev.logs)} log file(s); ship the log "
                           "that the script wrote"))
    return found


def check_logs(ev: RecordEvidence) -> list[Finding]:
    found = [error("log.unreadable", p.detail, file=p.file) for p in ev.problems if p.kind == "log_unreadable"]
    for log in ev.logs:
        if log.copy_of is not None:
            found.append(info("log.copy", f"{log.path} is a byte copy of {log.copy_of}; counted once",
                              file=log.path, evidence={"copy_of": log.copy_of}))
            continue
        run = log.run
        if log.truncated_read:
            found.append(warning("log.too_large",
                                 f"{log.path} is {log.size} bytes; only its last {log.read_bytes} were read",
                                 file=log.path, evidence={"bytes": log.size, "read": log.read_bytes}))
        if log.binary:
            found.append(error("log.binary", f"{log.path} holds binary data (NUL bytes), not a text log",
                               file=log.path))
            continue
        if not log.utf8:
            found.append(warning("log.not_utf8", f"{log.path} is not valid UTF-8; odd bytes were replaced",
                                 file=log.path))
        after = [m for m in run.metrics if run.traceback_line is None or m.line > run.traceback_line]
        if log.role in ("summary", "exploration"):
            pass  # a driver summary, or a stopped run no claim uses: log.summary / log.exploration (checks/roles.py)
        elif run.traceback_line is not None and not after:
            found.append(error("log.traceback",
                               f"{log.path} ends in a traceback (line {run.traceback_line}): the run failed",
                               file=log.path, line=run.traceback_line))
        elif not run.metrics:
            last = run.steps[-1].line if run.steps else run.last_line
            found.append(error("log.truncated",
                               f"{log.path} has no final metric line in its last run (lines {run.first_line}-"
                               f"{run.last_line}): the log was cut short", file=log.path, line=last))
        if len(log.runs) > 1:
            found.append(info("log.runs", f"{log.path} holds {len(log.runs)} runs back to back; the last one "
                              f"(from line {run.first_line}) counts", file=log.path, line=run.first_line,
                              evidence={"runs": [[r.first_line, r.last_line] for r in log.runs]}))
        if log.seed_source == "file name" and run.seed is not None and run.seed != log.seed:
            found.append(warning("log.seed.conflict",
                                 f"{log.path} is named for seed {log.seed} but its run logged seed {run.seed}",
                                 file=log.path, line=run.seed_line,
                                 evidence={"file_name_seed": log.seed, "logged_seed": run.seed}))
    return found


def check_submission(ev: RecordEvidence) -> list[Finding]:
    sub = ev.submission
    if sub is None:
        return []
    found: list[Finding] = []
    for guess in sub.guesses:
        message, kw = f"{sub.path}: {guess.note}", {"file": sub.path,
                                                    "evidence": {"key": guess.key, "canonical": guess.canonical}}
        if guess.severity == "warning":
            found.append(warning("submission.alias", message, **kw))
        else:
            found.append(info("submission.shape", message, **kw))
    problems = schema_errors(sub.canonical)
    if problems:
        message = f"{sub.path} does not fit golfkit's canonical schema: " + "; ".join(problems[:5])
        kw = {"file": sub.path, "evidence": {"problems": problems}}
        # Records written before golfkit lack canonical keys (info); a wrong type or value is a warning.
        if all("is a required property" in p for p in problems):
            found.append(info("submission.schema", message, **kw))
        else:
            found.append(warning("submission.wrong_type", message, **kw))
    return found
