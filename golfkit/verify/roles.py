"""What each log of a record is: a run, a driver summary, a reproduction, an ablation or an exploration
(docs/verify.md#seeds-and-logs).

Only runs are seed logs (statistics, duplicate seeds, config comparison); every log stays evidence
for claims. A role comes from submission.json's `extra_logs` ({"<log path>": "<role>"}), else:
- summary: a log with no run in it (no step, config, seed, source, size or traceback line) whose name
  is not a training log's (a driver's `summary.log`);
- reproduction: a log that repeats a seed of an earlier log with the same training config (evaluation
  settings may differ: a re-evaluation);
- exploration: a run that stopped before its final metric (cut short, or a traceback) and that no
  claim uses: another log has final metrics, and its seed is not claimed or has a complete log.
"""

from __future__ import annotations

import re

from golfkit.verify.configs import differences
from golfkit.verify.evidence import LogEvidence, RecordEvidence, Submission

ROLES = ("run", "summary", "reproduction", "ablation", "exploration")
ROLE_WORDS = {
    "run": "run", "seed": "run", "reproduction": "reproduction", "repro": "reproduction", "rerun": "reproduction",
    "re-run": "reproduction", "reevaluation": "reproduction", "re-evaluation": "reproduction",
    "ablation": "ablation", "exploration": "exploration", "exploratory": "exploration", "sweep": "exploration",
    "summary": "summary", "driver": "summary",
}
TRAINING_LOG_NAME = re.compile(r"train|seed", re.IGNORECASE)


def declared_role(text: str) -> str | None:
    """The role a word of `extra_logs` names, or None."""
    return ROLE_WORDS.get(text.strip().lower())


def assign_roles(ev: RecordEvidence) -> None:
    """Set `role` and `role_reason` on every log of `ev` (see the module doc)."""
    declared = ev.submission.log_roles if ev.submission else {}
    by_path = {log.path: log for log in ev.logs}
    for path, word in declared.items():
        log = by_path.get(path)
        role = declared_role(word)
        if log is not None and role is not None:
            log.role, log.role_reason = role, f"declared `{word}` in extra_logs"
    undeclared = [log for log in ev.logs if log.path not in declared and log.copy_of is None]
    for log in undeclared:
        if _is_summary(log):
            log.role, log.role_reason = "summary", "no run in it: no step, config, seed, source or size line"
    _reproductions([log for log in undeclared if log.role == "run"], ev)
    _explorations([log for log in undeclared if log.role == "run"], ev)


def _is_summary(log: LogEvidence) -> bool:
    if TRAINING_LOG_NAME.search(log.path.split("/")[-1]):
        return False
    for run in log.runs:
        if run.steps or run.config or run.seed is not None or run.embedded_source or run.sizes:
            return False
        if run.traceback_line is not None or run.train_time_ms is not None:
            return False
    return True


def _priority(log: LogEvidence) -> tuple:
    """Which of several logs of one seed is its run: named for the seed, nearer the top, then by path."""
    return log.seed_source != "file name", log.path.count("/"), log.path


def _reproductions(candidates: list[LogEvidence], ev: RecordEvidence) -> None:
    by_seed: dict[int, list[LogEvidence]] = {}
    for log in candidates:
        if log.seed is not None and log.run.metrics:
            by_seed.setdefault(log.seed, []).append(log)
    declared = ev.submission.log_roles if ev.submission else {}
    runs = {log.seed: log for log in ev.distinct_logs() if log.path in declared and log.role == "run"
            and log.run.metrics and log.seed is not None}  # a log declared a run stays the run of its seed
    for seed, logs in by_seed.items():
        logs.sort(key=_priority)
        first = runs.get(seed, logs[0])
        for log in logs:
            if log is first:
                continue
            diffs = differences(first, log)
            if any(d.training for d in diffs):
                continue  # another config under the same seed: seeds.duplicate says so
            evaluation = [d.key for d in diffs]
            log.role = "reproduction"
            log.role_reason = (f"repeats seed {seed} of {first.path} with the same training config"
                               + (f" (evaluation settings differ: {', '.join(evaluation[:4])})" if evaluation else ""))


def _explorations(candidates: list[LogEvidence], ev: RecordEvidence) -> None:
    complete = [log for log in ev.distinct_logs() if log.run.metrics]
    if not complete:
        return
    claimed = _claimed_seeds(ev.submission)
    complete_seeds = {log.seed for log in complete if log.seed is not None}
    for log in candidates:
        if log.run.metrics or log.role != "run":
            continue
        if log.seed is not None and log.seed in claimed and log.seed not in complete_seeds:
            continue  # a claimed seed's only log: log.truncated says it was cut short
        stopped = "a traceback" if log.run.traceback_line is not None else "no final metric"
        why = "no seed" if log.seed is None else (f"seed {log.seed} is not claimed" if log.seed not in claimed
                                                   else f"seed {log.seed} has a complete log")
        log.role, log.role_reason = "exploration", f"stopped ({stopped}); no claim uses it ({why})"


def _claimed_seeds(sub: Submission | None) -> set[int]:
    if sub is None:
        return set()
    found = set()
    for seed in [*sub.seeds, *sub.seed_results]:
        try:
            found.add(int(seed))
        except ValueError:
            continue
    return found
