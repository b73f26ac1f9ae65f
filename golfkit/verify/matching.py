"""Match claimed numbers to final metric lines by value, at the claim's own precision.

Line names do not say what was measured (docs/verify.md#claims-and-logs), so a claim is compared with every final
metric of every log (one run) and with the mean of each metric label over the seed logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from golfkit.verify.evidence import LogEvidence, Metric, Number, RecordEvidence, ScriptEvidence, places_of


@dataclass(frozen=True)
class Match:
    """Where a claimed number was found: one metric line, or the mean of a label over seed logs."""

    how: str  # "line" or "mean"
    label: str
    family: str
    file: str | None
    line: int | None
    value: Decimal
    logs: tuple[str, ...]

    def describe(self) -> str:
        if self.how != "line":
            how = "the mean" if self.how == "mean" else f"the {self.how}"
            return f"{how} of `{self.label}` ({self.family}) over {len(self.logs)} seed logs"
        return f"`{self.label}` ({self.family}) at {self.file}:{self.line}"

    def to_json(self) -> dict:
        return {"how": self.how, "label": self.label, "family": self.family, "file": self.file,
                "line": self.line, "value": float(self.value), "logs": list(self.logs)}


def agrees(value: Decimal, value_places: int, claim: Number) -> bool:
    """True when `value` rounds to `claim` at the claim's decimals (and is known that precisely)."""
    if value_places < claim.places:
        return False
    return abs(value - claim.value) <= claim.half_unit


def log_for_seed(evidence: RecordEvidence, seed: str) -> LogEvidence | None:
    """The log of a claimed seed: by the seed in its file name, else by its seed line."""
    try:
        wanted = int(seed)
    except ValueError:
        return None
    return evidence.seed_logs().get(wanted)


def logs_for_seed(evidence: RecordEvidence, seed: str) -> list[LogEvidence]:
    """Every log of a claimed seed (copies left out): its seed log first, then reproductions and
    re-evaluations, in subfolders too (`ttt_<pr>/seed_42.log`)."""
    first = log_for_seed(evidence, seed)
    if first is None:
        return []
    others = [log for log in evidence.distinct_logs() if log.seed == first.seed and log is not first]
    return [first, *sorted(others, key=lambda log: (log.path.count("/"), log.path))]


def seed_groups(evidence: RecordEvidence) -> list[list[LogEvidence]]:
    """Sets of seed logs, one log per seed, whose means a headline claim may be: the record's seed logs,
    and the logs of each folder that holds two seeds or more (re-evaluations in a subfolder)."""
    main = list(evidence.seed_logs().values())
    groups = [main]
    by_folder: dict[str, dict[int, LogEvidence]] = {}
    for log in sorted(evidence.distinct_logs(), key=lambda log: log.seed_source != "file name"):
        if log.seed is not None and log.role in ("run", "reproduction"):
            folder = log.path.rsplit("/", 1)[0] if "/" in log.path else ""
            by_folder.setdefault(folder, {}).setdefault(log.seed, log)
    for folder in sorted(by_folder):
        logs = list(by_folder[folder].values())
        if len(logs) >= 2 and {id(log) for log in logs} != {id(log) for log in main}:
            groups.append(logs)
    return groups


def seed_values(logs: list[LogEvidence], label: str, unit: str) -> list[tuple[LogEvidence, Metric]]:
    """The last `label` metric of each log's last run that has it."""
    found = []
    for log in logs:
        metrics = [m for m in log.run.metrics if m.label == label and getattr(m, unit) is not None]
        if metrics:
            found.append((log, metrics[-1]))
    return found


def candidates(evidence: RecordEvidence, unit: str, seeds: list[str] | None = None) -> list[Match]:
    """Every value a top-level claim of `unit` (val_bpb or val_loss) may equal: lines, then means."""
    out: list[Match] = []
    for log in evidence.distinct_logs():
        for metric in log.run.metrics:
            number: Number | None = getattr(metric, unit)
            if number is not None:
                out.append(Match("line", metric.label, metric.family, log.path, metric.line, number.value,
                                 (log.path,)))
    groups = seed_groups(evidence)
    if seeds:
        for group in list(groups):
            by_seed = {log.seed: log for log in group}
            chosen = [by_seed[int(s)] for s in seeds if s.lstrip("-").isdigit() and int(s) in by_seed]
            if chosen and len(chosen) != len(group):
                groups.append(chosen)
    for logs in groups:
        labels = {m.label for log in logs for m in log.run.metrics}
        for label in sorted(labels):
            found = seed_values(logs, label, unit)
            if len(found) < 2:
                continue
            values = [getattr(m, unit) for _, m in found]
            mean = sum(v.value for v in values) / len(values)
            family = found[0][1].family
            paths = tuple(log.path for log, _ in found)
            out.append(Match("mean", label, family, None, None, mean, paths))
            for places in sorted({c.places for c in claimed_seed_values(evidence, unit)}):
                rounded = sum(round(v.value, places) for v in values) / len(values)
                out.append(Match(f"mean of values rounded to {places} decimals", label, family, None, None,
                                 rounded, paths))
    return out


def claimed_seed_values(evidence: RecordEvidence, unit: str) -> list[Number]:
    sub = evidence.submission
    if sub is None:
        return []
    return [getattr(c, unit) for c in sub.seed_results.values() if getattr(c, unit) is not None]


def match_claim(claim: Number, options: list[Match]) -> Match | None:
    """The first option that agrees with the claim: single lines are preferred over means."""
    for option in options:
        places = places_of(option.value) if option.how == "line" else 28
        if agrees(option.value, places, claim):
            return option
    return None


def match_in_log(claim: Number, log: LogEvidence, unit: str) -> Match | None:
    """A metric line of the log's last run equal to the claim."""
    options = [Match("line", m.label, m.family, log.path, m.line, getattr(m, unit).value, (log.path,))
               for m in log.run.metrics if getattr(m, unit) is not None]
    return match_claim(claim, options)


def earlier_run_match(claim: Number, evidence: RecordEvidence, unit: str) -> Match | None:
    """A metric of an earlier (superseded) run equal to the claim: worth saying when nothing else is."""
    for log in evidence.distinct_logs():
        for run_index, run in enumerate(log.runs[:-1]):
            for m in run.metrics:
                number = getattr(m, unit)
                if number is not None and agrees(number.value, number.places, claim):
                    return Match("line", m.label, m.family, log.path, m.line, number.value,
                                 (f"{log.path} run {run_index + 1} of {len(log.runs)}",))
    return None


def headline_matches(evidence: RecordEvidence) -> dict[str, Match]:
    """The matches of the top-level val_bpb / val_loss claims that were found ({} when none)."""
    sub = evidence.submission
    if sub is None:
        return {}
    found: dict[str, Match] = {}
    for unit in ("val_bpb", "val_loss"):
        claim = getattr(sub, unit)
        if claim is not None:
            match = match_claim(claim, candidates(evidence, unit, sub.seeds))
            if match is not None:
                found[unit] = match
    return found


def claimed_label(evidence: RecordEvidence) -> str | None:
    """The metric label the headline claim came from (bpb first), or None."""
    matches = headline_matches(evidence)
    match = matches.get("val_bpb") or matches.get("val_loss")
    return match.label if match else None


def same_source(text: str, embedded: str) -> bool:
    """Whether an embedded source is `text`: the script logs its own text and then a newline before the
    rule line, so trailing newlines are not compared."""
    return text == embedded or text.rstrip("\n") == embedded.rstrip("\n")


def script_for_log(evidence: RecordEvidence, log: LogEvidence) -> tuple[ScriptEvidence | None, str]:
    """The shipped script a log ran, and how it was chosen: the script (or decoded wrapper) its embedded
    source equals ("embedded source"), else the one whose size its `Code size` line names ("code size"),
    else the main script ("main script"). In folders of several variants each log names its own."""
    main = evidence.script
    source = log.run.embedded_source
    ordered = ([main] if main is not None else []) + [s for s in evidence.scripts if s is not main]
    if source is not None:
        for script in ordered:
            texts = [t for t in (script.text, script.unwrapped) if t is not None]
            if any(same_source(text, source.text) for text in texts):
                return script, "embedded source"
    logged = log.run.size("code")
    if logged is not None:
        for script in ordered:
            if script.bytes == logged.bytes:
                return script, "code size"
    return main, "main script"
