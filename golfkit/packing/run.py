"""`golfkit build` end to end, callable from Python: options -> rules, codec, meta, checkpoint -> either
each tensor's scheme explained, or an artifact built in memory, its code counted, the cap checked, written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from golfkit.errors import GolfkitError
from golfkit.facts import SIZE_CAP_BYTES
from golfkit.files import read_text
from golfkit.packing.budget import Budget, render_text
from golfkit.packing.checkpoint import load_checkpoint
from golfkit.packing.part_codecs import parse_codec
from golfkit.packing.pipeline import Built, account_code, build_in_memory, check_cap, write_atomic
from golfkit.packing.policy import MIN_NUMEL, Rule, assign, load_rules_toml, parse_rule
from golfkit.writes import refuse_existing


@dataclass(frozen=True)
class BuildOptions:
    """What `golfkit build` is asked to do: the command's options as values (see its --help)."""

    checkpoint: str | Path
    code: str | Path | None = None
    minified: bool = False
    schemes: tuple[str, ...] = ()
    scheme_file: str | Path | None = None
    codec: str = "best"
    min_numel: int = MIN_NUMEL
    meta_file: str | Path | None = None
    output: str | Path | None = None
    force: bool = False
    explain: bool = False
    dry_run: bool = False
    emit_loader: bool = False
    cap: int = SIZE_CAP_BYTES


@dataclass
class BuildRun:
    """What a build produced: the explanation (with `explain`), else the build and, for a dry run with
    rules, the budget of the default policy to compare with."""

    explanation: list[dict[str, Any]] | None = None
    built: Built | None = None
    baseline: Budget | None = None


def run_build(options: BuildOptions) -> BuildRun:
    """Read the inputs `options` name, then explain the schemes or build (and, unless a dry run, write)."""
    rules = read_rules(options.scheme_file, options.schemes)
    spec = parse_codec(options.codec)
    check_destination(options)
    meta = read_meta(options.meta_file)
    state = load_checkpoint(options.checkpoint)
    if options.explain:
        return BuildRun(explanation=explanation(state, rules, options.min_numel))
    where = str(options.output or "artifact")
    built = build_in_memory(state, rules, spec, meta, options.min_numel, where)
    account_code(built, options.code, options.minified, options.cap)
    baseline = None
    if options.dry_run and rules:
        # The same checkpoint under the default policy, for the dry run's byte-change column.
        baseline = build_in_memory(state, [], spec, meta, options.min_numel, where).budget
    if not options.dry_run:
        write_within_cap(built, options)
    return BuildRun(built=built, baseline=baseline)


def read_rules(scheme_file: str | Path | None, schemes: tuple[str, ...]) -> list[Rule]:
    """The scheme rules: the TOML file's first, then each PATTERN=SCHEME (the last match wins)."""
    rules = load_rules_toml(scheme_file) if scheme_file else []
    return rules + [parse_rule(s) for s in schemes]


def check_destination(options: BuildOptions) -> None:
    """Refuse a build that would write nowhere, or over an existing artifact without `force`."""
    output, looking = options.output, options.explain or options.dry_run
    if not (looking or options.emit_loader or output):
        raise GolfkitError("say where to write the artifact: -o ARTIFACT (or use --dry-run / --explain)")
    if output and not looking:
        refuse_existing(output, options.force)


def read_meta(meta_file: str | Path | None) -> dict:
    """The JSON object stored as the header's meta; empty without a file."""
    if not meta_file:
        return {}
    try:
        meta = json.loads(read_text(meta_file, 1 << 20, "a JSON object of metadata"))
    except json.JSONDecodeError as exc:
        raise GolfkitError(f"{meta_file}: not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise GolfkitError(f"{meta_file}: meta must be a JSON object")
    return meta


def explanation(state: dict[str, torch.Tensor], rules: list[Rule], min_numel: int) -> list[dict[str, Any]]:
    """Each tensor's name, shape, scheme and the reason it got that scheme."""
    return [{"name": a.name, "shape": list(state[a.name].shape), "scheme": a.scheme.text, "reason": a.reason}
            for a in assign(state, rules, min_numel)]


def write_within_cap(built: Built, options: BuildOptions) -> None:
    """Refuse a build over the cap; else write the artifact (when there is an output) and note where."""
    check_cap(built.budget)
    if options.output:
        write_atomic(options.output, built.blob, options.force)
        built.budget.info = {"artifact": str(options.output), **built.budget.info}


def render_explanation(explanation: list[dict[str, Any]]) -> str:
    """One aligned line per tensor: name, shape, scheme, reason."""
    width = max(len(row["name"]) for row in explanation)
    return "\n".join(f"{row['name']:<{width}}  {row['shape']!s:<14} {row['scheme']:<18} {row['reason']}"
                     for row in explanation)


def render_build(built: Built, baseline: Budget | None) -> str:
    """The budget table, then the largest round-trip error."""
    text = render_text(built.budget, baseline)
    worst = max(built.errors.values(), key=lambda e: e["rel_rms"], default=None)
    if worst is not None:
        text += f"\n\nround trip: every part decoded exactly; largest relative RMS error {worst['rel_rms']:.5f}"
    return text
