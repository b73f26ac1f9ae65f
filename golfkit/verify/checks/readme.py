"""The README's claims, at their printed precision (docs/verify.md#readme-claims): its headline numbers
equal submission.json's claim (or at least a logged value), and every per-seed number of its tables
equals a value in that seed's logs."""

from __future__ import annotations

from golfkit.findings import Finding, error, warning
from golfkit.verify.evidence import LogEvidence, Number, RecordEvidence
from golfkit.verify.matching import agrees, candidates, logs_for_seed, match_claim
from golfkit.verify.readme import Cell, Headline, parse_readme

SIZE_KINDS = {"total": ("total", "budget", "total_raw"), "code": ("code", "code_compressed"), "model": ("model",)}


def check_readme(ev: RecordEvidence) -> list[Finding]:
    if not ev.readme:
        return []
    readme = parse_readme(ev.readme)
    name = next((f.path for f in ev.files if "/" not in f.path and f.path.lower().startswith("readme")), "README.md")
    found: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for headline in readme.headlines:
        key = (headline.unit, str(headline.number))
        if key not in seen:
            seen.add(key)
            finding = _headline(ev, headline, name)
            if finding is not None:
                found.append(finding)
    if ev.logs:
        for table in readme.tables:
            for row in table.rows:
                found.extend(_seed_row(ev, name, row.seed, row.line, row.cells))
    return found


def _headline(ev: RecordEvidence, headline: Headline, name: str) -> Finding | None:
    sub = ev.submission
    claim = getattr(sub, headline.unit) if sub is not None else None
    if claim is not None and agrees(claim.value, claim.places, headline.number):
        return None
    if not ev.logs:
        return None
    options = candidates(ev, headline.unit, sub.seeds if sub else None)
    if headline.mean_of is not None:  # "3-seed mean": a seed mean before any single line
        options.sort(key=lambda option: option.how == "line")
    match = match_claim(headline.number, options)
    evidence = {"readme": str(headline.number), "unit": headline.unit, "claimed": str(claim) if claim else None,
                "qualifier": headline.qualifier}
    if match is not None:
        if claim is None:
            return None
        return warning("readme.headline.differs",
                       f"{name} gives {headline.unit} {headline.number} (line {headline.line}) but {sub.path} claims "
                       f"{claim}; the README's number is {match.describe()}", file=name, line=headline.line,
                       evidence={**evidence, "match": match.to_json()})
    also = f", nor {sub.path}'s {claim}" if claim is not None else ""
    return error("readme.headline.not_in_logs",
                 f"{name} gives {headline.unit} {headline.number} (line {headline.line}, at {headline.number.places} "
                 f"decimals), which is no final metric of any log and no seed mean{also}", file=name,
                 line=headline.line, evidence=evidence)


def _seed_row(ev: RecordEvidence, name: str, seed: int, line: int, cells: list[Cell]) -> list[Finding]:
    logs = logs_for_seed(ev, str(seed))
    if not logs:
        shown = ", ".join(_shown(c) for c in cells[:4])
        return [error("readme.seed_value.not_in_log",
                      f"{name} line {line} gives seed {seed} ({shown}) but no log of seed {seed} is shipped",
                      file=name, line=line, evidence={"seed": seed, "logged_seeds": sorted(ev.seed_logs())})]
    found = []
    for cell in cells:
        if _in_logs(cell, logs):
            continue
        logged = _logged(cell, logs)
        found.append(error("readme.seed_value.not_in_log",
                           f"{name} line {line} gives seed {seed} {cell.column.strip('* ')} {_shown(cell)}, which is "
                           f"no value of {', '.join(log.path for log in logs)} (logged: {', '.join(logged) or 'none'})",
                           file=name, line=line, evidence={"seed": seed, "column": cell.column, "readme": _shown(cell),
                                                           "logged": logged, "logs": [log.path for log in logs]}))
    return found


def _shown(cell: Cell) -> str:
    return str(cell.number) if cell.number is not None else f"{cell.bytes:,}"


def _units(cell: Cell) -> tuple[str, ...]:
    return ("val_bpb", "val_loss") if cell.kind == "metric" else (cell.kind,)


def _in_logs(cell: Cell, logs: list[LogEvidence]) -> bool:
    for log in logs:
        run = log.run
        if cell.bytes is not None:
            if any(size.bytes == cell.bytes for size in run.sizes if size.kind in SIZE_KINDS[cell.kind]):
                return True
            continue
        number: Number = cell.number  # type: ignore[assignment]
        for unit in _units(cell):
            for metric in run.metrics:
                value = getattr(metric, unit)
                if value is not None and agrees(value.value, value.places, number):
                    return True
    return False


def _logged(cell: Cell, logs: list[LogEvidence]) -> list[str]:
    out: list[str] = []
    for log in logs:
        if cell.bytes is not None:
            out += [f"{s.bytes:,}" for s in log.run.sizes if s.kind in SIZE_KINDS[cell.kind]]
        else:
            out += [str(getattr(m, unit)) for unit in _units(cell) for m in log.run.metrics
                    if getattr(m, unit) is not None]
    return list(dict.fromkeys(out))[:8]
