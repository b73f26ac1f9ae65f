"""`golfkit build` end to end, callable from Python: options -> rules, codec, meta, checkpoint -> either
each tensor's scheme explained, or an artifact built in memory, its code counted, the cap checked, written.

What the build chose or could not do is said in the budget's notes, never skipped in silence: the header
meta it recorded (and what eval will still ask for), the --min-numel it used, rules that matched tensors
they did not apply to, codecs that are not installed, the decoder a version-2 artifact needs.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from golfkit.artifact.quantize import is_control
from golfkit.errors import GolfkitError
from golfkit.eval.model import ModelConfig
from golfkit.facts import SIZE_CAP_BYTES
from golfkit.files import MAX_SCRIPT_BYTES, read_bytes, read_text
from golfkit.packing.arch import header_meta
from golfkit.packing.budget import Budget, render_text
from golfkit.packing.calib import CALIB_TOKENS, load_calibration
from golfkit.packing.checkpoint import load_checkpoint
from golfkit.packing.fit import FitReport, build_fit, measure, prepare, rounded_loss, trade
from golfkit.packing.part_codecs import CodecSpec, codec_notes, parse_codec
from golfkit.packing.pipeline import Built, account_code, build_in_memory, check_cap, code_bytes, write_atomic
from golfkit.packing.policy import (
    MIN_NUMEL,
    Rule,
    assign,
    auto_min_numel,
    load_rules_toml,
    overridden_notes,
    parse_rule,
)
from golfkit.writes import refuse_existing, write_file

LOADER_NAME = "artifact_loader.py"
LOADER_GUESS = 2_500  # bytes of a version-2 decoder, before one is built (a build corrects it)


@dataclass(frozen=True)
class BuildOptions:
    """What `golfkit build` is asked to do: the command's options as values (see its --help)."""

    checkpoint: str | Path
    code: str | Path | None = None
    minified: bool = False
    schemes: tuple[str, ...] = ()
    scheme_file: str | Path | None = None
    codec: str = "best"
    min_numel: int | None = None  # None: auto (policy.auto_min_numel)
    meta_file: str | Path | None = None
    log: str | Path | None = None  # the trainer's log (default: found beside the checkpoint)
    output: str | Path | None = None
    loader: str | Path | None = None  # where to write the decoder a version-2 artifact needs
    force: bool = False
    explain: bool = False
    dry_run: bool = False
    emit_loader: bool = False
    cap: int = SIZE_CAP_BYTES
    fit: str | None = None  # --fit: "auto" (the cap minus code and loader) or a number of model bytes
    calib: str | Path | None = None  # --calib: training shards (and their tokenizer) for --fit
    calib_tokens: int = CALIB_TOKENS
    progress: bool = False  # --fit's progress on standard error
    gptq: bool = True  # --fit: GPTQ error compensation of the chosen integer schemes, kept only if it pays


@dataclass
class BuildRun:
    """What a build produced: the explanation (with `explain`), else the build and, for a dry run with
    rules, the budget of the default policy to compare with."""

    explanation: list[dict[str, Any]] | None = None
    built: Built | None = None
    baseline: Budget | None = None
    notes: list[str] | None = None  # with `explain`: the --min-numel used and rules that did not apply
    fit: FitReport | None = None  # with --fit: the allocation, its measured and predicted loss, the trade


def run_build(options: BuildOptions) -> BuildRun:
    """Read the inputs `options` name, then explain the schemes or build (and, unless a dry run, write)."""
    spec = parse_codec(options.codec)
    rules = read_rules(options.scheme_file, options.schemes)
    check_destination(options)
    given = read_meta(options.meta_file)
    state = load_checkpoint(options.checkpoint)
    min_numel, numel_notes = resolve_min_numel(state, options.min_numel)
    if options.fit is not None:
        return run_fit(options, spec, rules, given, state, min_numel, numel_notes)
    if options.calib is not None:
        raise GolfkitError("--calib is the calibration set of --fit: add --fit (or drop --calib)")
    if options.explain:
        rows = explanation(state, rules, min_numel)
        return BuildRun(explanation=rows, notes=numel_notes + overridden_notes(assign(state, rules, min_numel)))
    source = header_meta(state, options.checkpoint, options.log, given)
    where = str(options.output or "artifact")
    built = build_in_memory(state, rules, spec, source.meta, min_numel, where)
    b = built.budget
    b.info = {"min-numel": min_numel, "header meta": source.summary() + (f" (log: {source.log})" if source.log else ""),
              **b.info}
    b.notes += numel_notes + source.notes + overridden_notes(built.assignments) + codec_notes(spec)
    account_code(built, options.code, options.minified, options.cap)
    baseline = None
    if options.dry_run and rules:
        # The same checkpoint under the default policy, for the dry run's byte-change column.
        baseline = build_in_memory(state, [], spec, source.meta, min_numel, where).budget
    if not options.dry_run:
        write_within_cap(built, options)
    if built.version == 2 and not options.loader and b.loader_bytes:
        b.notes.append(f"a version-2 artifact needs its decoder beside the script: add --loader {LOADER_NAME} "
                       f"(the reference trainer reads it with ARTIFACT_LOADER={LOADER_NAME}; golfkit new ships it)")
    return BuildRun(built=built, baseline=baseline)


def run_fit(options: BuildOptions, spec: CodecSpec, rules: list[Rule], given: dict, state: dict[str, torch.Tensor],
            min_numel: int, numel_notes: list[str]) -> BuildRun:
    """--fit: measure, allocate under the budget, build (and write unless a dry run), report; with --explain,
    also the trade against uniform bits and the hand policy."""
    if options.calib is None:
        raise GolfkitError("--fit needs a calibration set: --calib DIR of training shards (fineweb_train_*.bin) and "
                           "their tokenizer, e.g. from `golfkit data synth DIR --vocab-size V`")
    if options.emit_loader:
        raise GolfkitError("--fit builds an artifact; --emit-loader prints a decoder only: use one or the other")
    source = header_meta(state, options.checkpoint, options.log, given)
    model = source.meta.get("model")
    if not isinstance(model, dict):
        raise GolfkitError(f"{options.checkpoint}: --fit measures sensitivity on golfkit's own model of the reference "
                           "family, and this checkpoint's tensors are another architecture; choose schemes by hand "
                           "(--scheme) for it")
    config = ModelConfig.from_dict(model, where=f"{options.checkpoint}: model")
    seq_len = int(source.meta.get("train_seq_len") or 1024)
    notes = list(numel_notes)
    if source.meta.get("train_seq_len") is None:
        notes.append("--fit: no train_seq_len in the trainer's log; calibration windows of 1,024 tokens")
    calib = load_calibration(options.calib, config.vocab_size, seq_len, options.calib_tokens)
    where = str(options.output or "artifact")
    say = _progress if options.progress else None
    plan = prepare(state, config, calib, rules, spec, source.meta, min_numel, where, say, gptq=options.gptq)
    explicit = options.fit not in (None, "auto")
    budget = int(options.fit) if explicit else options.cap - _other_bytes(options)
    built, choice, builds, budget = _fit_build(plan, budget, explicit, options, source, notes, min_numel, spec, say)
    report = measure(plan, built, choice, budget, builds, progress=say)
    if plan.gptq:
        rounded = rounded_loss(plan, built)
        if rounded <= report.loss:  # it did not pay on this calibration set: the file rounds to nearest
            plan.gptq = False
            built, choice, builds, budget = _fit_build(plan, budget, explicit, options, source, notes, min_numel, spec,
                                                       say, choice)
            report = measure(plan, built, choice, budget, builds, progress=say)
        report.gptq, report.rounded_loss = plan.gptq, rounded
    if options.explain:
        report.trade = trade(plan, report, say)
    if not options.dry_run:
        write_within_cap(built, options)
    elif built.budget.headroom < 0:
        check_cap(built.budget)
    if built.version == 2 and not options.loader and built.budget.loader_bytes:
        built.budget.notes.append(f"a version-2 artifact needs its decoder beside the script: add --loader {LOADER_NAME}")
    return BuildRun(built=built, fit=report)


def _fit_build(plan, budget: int, explicit: bool, options: BuildOptions, source, notes: list[str], min_numel: int,
               spec: CodecSpec, say, choice: dict | None = None) -> tuple[Built, dict, int, int]:
    """build_fit under `budget`, the budget's info and notes filled, the code counted; without an explicit
    budget, once more with the decoder's real size when the guess was short. With `choice`, that choice is
    built first and kept when it fits (GPTQ dropped: rounding to nearest rarely takes more bytes)."""

    def account(built: Built) -> Built:
        b = built.budget
        b.info = {"min-numel": min_numel, "header meta": source.summary() + (f" (log: {source.log})" if source.log else ""),
                  **b.info}
        b.notes += notes + source.notes + overridden_notes(built.assignments) + codec_notes(spec)
        account_code(built, options.code, options.minified, options.cap)
        return built

    if choice is not None:
        t0 = time.perf_counter()
        built = account(plan.build({n: o.scheme for n, o in choice.items()}))
        plan.seconds["build"] = plan.seconds.get("build", 0.0) + time.perf_counter() - t0
        if built.budget.model_bytes <= budget and (explicit or built.budget.headroom >= 0):
            return built, choice, 1, budget
    for _ in range(3):
        t0 = time.perf_counter()
        built, choice, builds = build_fit(plan, budget, say)
        plan.seconds["build"] = plan.seconds.get("build", 0.0) + time.perf_counter() - t0
        b = account(built).budget
        if explicit or b.headroom >= 0:
            break
        budget += b.headroom  # the decoder a version-2 file needs came out larger than guessed
    return built, choice, builds, budget


def _other_bytes(options: BuildOptions) -> int:
    """The bytes besides the model that count against the cap: the code (as it will be counted) and a
    version-2 decoder's usual size (corrected once a build says what its decoder takes)."""
    if options.code is None:
        return LOADER_GUESS
    data = read_bytes(options.code, MAX_SCRIPT_BYTES, "a Python script")
    return code_bytes(options.code, data, options.minified)[0] + LOADER_GUESS


def _progress(text: str) -> None:
    sys.stderr.write(f"\r\033[K--fit: {text}")
    sys.stderr.flush()


def resolve_min_numel(state: dict[str, torch.Tensor], given: int | None) -> tuple[int, list[str]]:
    """The --min-numel to use (auto when `given` is None) and notes that say why, loudly when it keeps
    most of the model's matrices float."""
    if given is None:
        value, why = auto_min_numel(state)
        return value, [f"--min-numel {why}"] if value != MIN_NUMEL else []
    if given < 0:
        raise GolfkitError(f"--min-numel {given}: must be 0 or more (or auto)")
    matrices = [t.numel() for n, t in state.items() if t.is_floating_point() and t.dim() >= 2 and not is_control(n)]
    kept = [numel for numel in matrices if numel <= given]
    total = sum(matrices)
    if total and sum(kept) * 2 > total:
        return given, [(f"--min-numel {given:,} keeps {len(kept)} matrices ({100 * sum(kept) / total:.0f}% of the "
                       "matrix values) float: globs and the default policy quantize only larger ones; lower it "
                       "(or leave it out: auto) to quantize them")]
    return given, []


def read_rules(scheme_file: str | Path | None, schemes: tuple[str, ...]) -> list[Rule]:
    """The scheme rules: the TOML file's first, then each PATTERN=SCHEME (the last match wins)."""
    rules = load_rules_toml(scheme_file) if scheme_file else []
    return rules + [parse_rule(s) for s in schemes]


def check_destination(options: BuildOptions) -> None:
    """Refuse a build that would write nowhere, or over an existing artifact without `force`."""
    output, looking = options.output, options.explain or options.dry_run
    if not (looking or options.emit_loader or output):
        raise GolfkitError("say where to write the artifact: -o ARTIFACT (or use --dry-run / --explain)")
    if output and not (options.dry_run or (looking and options.fit is None)):
        refuse_existing(output, options.force)  # before --fit's minutes of work, not after


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
    """Each tensor's name, shape, scheme, the reason it got that scheme, and the rules that matched it but
    did not apply (and why)."""
    return [{"name": a.name, "shape": list(state[a.name].shape), "scheme": a.scheme.text, "reason": a.reason,
             "overridden": list(a.overridden)}
            for a in assign(state, rules, min_numel)]


def write_within_cap(built: Built, options: BuildOptions) -> None:
    """Refuse a build over the cap; else write the artifact (when there is an output) and its decoder (when
    asked), and note where."""
    check_cap(built.budget)
    if options.loader:
        refuse_existing(options.loader, options.force)
    if options.output:
        write_atomic(options.output, built.blob, options.force)
        built.budget.info = {"artifact": str(options.output), **built.budget.info}
    if options.loader:
        write_file(options.loader, built.loader, force=options.force)
        built.budget.info = {**built.budget.info, "loader": str(options.loader)}


def render_explanation(explanation: list[dict[str, Any]], notes: list[str] | None = None) -> str:
    """One aligned line per tensor: name, shape, scheme, reason (and each rule that matched but did not
    apply), then the notes."""
    width = max(len(row["name"]) for row in explanation)
    lines = []
    for row in explanation:
        lines.append(f"{row['name']:<{width}}  {row['shape']!s:<14} {row['scheme']:<18} {row['reason']}")
        lines += [f"{'':<{width}}  {'':<14} {'':<18} but: {text}" for text in row.get("overridden", [])]
    lines += [f"note: {note}" for note in notes or []]
    return "\n".join(lines)


def render_build(built: Built, baseline: Budget | None) -> str:
    """The budget table, then the largest round-trip error."""
    text = render_text(built.budget, baseline)
    worst = max(built.errors.values(), key=lambda e: e["rel_rms"], default=None)
    if worst is not None:
        text += f"\n\nround trip: every part decoded exactly; largest relative RMS error {worst['rel_rms']:.5f}"
    return text
