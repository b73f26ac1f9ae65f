"""`golfkit new`: make a record folder from a finished run, every number copied by golfkit itself.

    logs (+ artifacts, code, data files) -> SeedRun per seed -> submission.json + README + curves

The logs are parsed by verify's log parser (one parser in golfkit); this module only chooses, per
seed, the numbers a record claims, checks that the files given are the ones the logs describe,
and writes the folder. Nothing is typed by hand, so the folder passes `golfkit verify` as made.

A seed may have two logs: the training run, and the script's evaluation of an artifact that `golfkit
build` made from its checkpoint (`EVAL_ARTIFACT=... ARTIFACT_LOADER=... python train_gpt.py`). The log
whose model size is the shipped artifact's is the seed's log (`train_seed<N>.log`, its numbers are
claimed); the others ship beside it (`train_seed<N>_training.log`, `train_seed<N>_<k>.log`) as evidence,
and the training run's steps and time fill what the evaluation did not log. A version-2 golfkit container
needs its decoder: the `--code` file that holds it, else golfkit writes it as `artifact_loader.py` (the
name the reference trainer's ARTIFACT_LOADER loader is found by), and its bytes count as code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from golfkit.author import plot
from golfkit.author.curves import headline_metric, run_curves
from golfkit.errors import GolfkitError
from golfkit.facts import (
    RECORDS_DIR,
    SIZE_CAP_BYTES,
    TRACKS,
    folder_name_problem,
    is_track_folder,
    normalise_track,
    variant_for_tokens,
)
from golfkit.schema import schema_errors
from golfkit.verify.evidence import LogEvidence, Metric, Number, RunEvidence
from golfkit.verify.logparse import parse_log_file
from golfkit.writes import signals_interrupt, write_file

SEPARATOR = "=" * 100
LOADER_FILE = "artifact_loader.py"
GPU_ROW = re.compile(r"^\|\s+\d+\s+(NVIDIA[^|]*?)\s{2,}(?:On|Off)\s+\|")


@dataclass
class SeedRun:
    """What the record claims about one seed, each number with the file and line it came from."""

    seed: int
    log: LogEvidence
    log_name: str  # file name inside the record
    metric: Metric
    bytes_total: int | None
    bytes_model: int | None
    steps: int | None
    train_time_ms: float | None
    artifact: Path | None = None
    others: list[tuple[LogEvidence, str]] = field(default_factory=list)  # more logs of this seed, their names

    @property
    def run(self) -> RunEvidence:
        return self.log.run

    @property
    def curve_log(self) -> LogEvidence:
        """The log with this seed's training curve: its own, else the training run among the others."""
        if self.log.runs and self.log.run.steps:
            return self.log
        return next((log for log, _ in self.others if log.runs and log.run.steps), self.log)


@dataclass
class NewRecord:
    """A record folder as written: where, its submission.json content, and notes for the person."""

    path: Path
    submission: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def new_record(
    folder: Path,
    logs: Sequence[Path],
    *,
    code: Sequence[Path],
    artifacts: Sequence[Path] = (),
    data_files: Sequence[Path] = (),
    author: str,
    github_id: str,
    name: str | None = None,
    blurb: str = "",
    metric_label: str | None = None,
    hardware: str | None = None,
    config: dict[str, Any] | None = None,
    variant: str | None = None,
    with_plot: bool = True,
) -> NewRecord:
    """Writes the record folder `folder` (records/track_*/YYYY-MM-DD_slug) from a run's files.

    `logs`: one log per seed; `code`: the script(s) that ran (their bytes are `bytes_code`);
    `artifacts`: the model files, matched to seeds by the model size each log printed;
    `data_files`: tokenizer and validation shards to ship (with them, `data.val_bytes` is counted);
    `metric_label`: the final metric line claimed (default: each log's last, `_exact` form);
    `hardware`: when the logs do not say; `config`: stored as `extra.config`; `variant`: the name
    of the validation set (default: the known one with the logged token count, else "custom").
    Raises GolfkitError when the folder exists or the files and logs disagree; writes nothing then.
    """
    folder, logs, code = Path(folder), [Path(p) for p in logs], [Path(p) for p in code]
    artifacts, data_files = [Path(p) for p in artifacts], [Path(p) for p in data_files]
    track, date = _check_target(folder)
    sources = _check_inputs(logs, code, artifacts, data_files)
    runs = _read_runs(logs, metric_label, artifacts)
    loader = _loader_for(artifacts, code)
    bytes_code = _check_files_against_logs(runs, code, artifacts, loader)
    submission = _submission(
        runs,
        track=track,
        date=date,
        name=name or folder.name.split("_", 1)[1].replace("_", " "),
        author=author,
        github_id=github_id,
        blurb=blurb,
        bytes_code=bytes_code,
        code=code,
        data_files=data_files,
        hardware=hardware,
        config=config,
        variant=variant,
    )
    extra = {LOADER_FILE: loader.text} if loader is not None and loader.written else {}
    notes = _write_record(folder, sources, runs, submission, with_plot, extra)
    if extra:
        notes.insert(0, f"wrote {LOADER_FILE} ({loader.bytes} bytes), the decoder the version-2 artifact needs; "
                        "its bytes count as code (the reference trainer reads it with ARTIFACT_LOADER)")
    return NewRecord(folder, submission, notes)


# ---------------------------------------------------------------- inputs


def _check_target(folder: Path) -> tuple[str, str]:
    """The track (without `track_`) and the date of a new record folder path."""
    if folder.exists():
        raise GolfkitError(f"{folder} already exists: golfkit new never overwrites a record; pick a new name")
    track_dir = folder.parent.name
    track = normalise_track(track_dir) if is_track_folder(track_dir) else None
    if track is None or folder.parent.parent.name != RECORDS_DIR:
        raise GolfkitError(
            f"{folder}: a record folder lives in records/track_<track>/, the track one of {', '.join(TRACKS)} "
            "(e.g. records/track_non_record_16mb/2026-05-01_my_idea)"
        )
    problem = folder_name_problem(folder.name)
    if problem:
        raise GolfkitError(f"{folder.name!r} is not a valid record folder name: {problem}")
    return track, folder.name[:10]


def _check_inputs(logs: list[Path], code: list[Path], artifacts: list[Path], data_files: list[Path]) -> list[Path]:
    """The files copied as they are (code, artifacts, data), after checking that all inputs exist."""
    if not logs:
        raise GolfkitError("no logs given: pass the training log of every seed with --logs")
    if not code:
        raise GolfkitError("no script given: pass the train_gpt.py that produced the logs with --code")
    copied = [*code, *artifacts, *data_files]
    for path in [*logs, *copied]:
        if not Path(path).is_file():
            raise GolfkitError(f"{path}: no such file")
    names = [p.name for p in copied]
    clashes = sorted({n for n in names if names.count(n) > 1} | {n for n in names if n in
                     ("submission.json", "README.md", plot.CURVES_FILE)}
                     | {p.name for p in [*artifacts, *data_files] if p.name == LOADER_FILE})
    if clashes:
        raise GolfkitError(f"two files would be written as {', '.join(clashes)} in the record: rename one")
    return [Path(p) for p in copied]


def _read_runs(logs: list[Path], metric_label: str | None, artifacts: list[Path] = ()) -> list[SeedRun]:
    """One SeedRun per seed, checked to be distinct seeds with the same final line and validation set.

    A seed with several logs is claimed from the one whose logged model size is an artifact's; the others
    ship beside it (the training run of an artifact that `golfkit build` made, re-evaluations)."""
    by_seed: dict[int, list[tuple[LogEvidence, Path]]] = {}
    for path in logs:
        log = parse_log_file(path)
        _check_log(log, str(path))
        by_seed.setdefault(log.seed, []).append((log, path))
    sizes = {path.stat().st_size for path in artifacts}
    runs = []
    for seed, group in by_seed.items():
        if len(group) == 1:
            log, path = group[0]
            runs.append(_seed_run(log, path, metric_label))
            continue
        scored = [(log, path) for log, path in group if _model_size(log) in sizes]
        if len(scored) != 1:
            names = ", ".join(str(path) for _, path in group)
            why = ("no artifact given" if not artifacts else
                   "none of them logged the model size of an artifact given" if not scored else
                   "more than one logged the size of an artifact given")
            raise GolfkitError(
                f"seed {seed} appears in {len(group)} logs ({names}) and {why}: give one log per seed, or the "
                "artifact whose size one of them logged (the log of the script evaluating it is claimed)")
        log, path = scored[0]
        run = _seed_run(log, path, metric_label)
        rest = [(other, other_path) for other, other_path in group if other is not log]
        for index, (other, _) in enumerate(rest):
            trained = other.runs and other.run.steps and not (run.run.steps)
            name = f"train_seed{seed}_training.log" if trained else f"train_seed{seed}_{index + 1}.log"
            run.others.append((other, name))
        curve = run.curve_log.run if run.curve_log.runs else run.run
        if run.steps is None and curve.steps:
            run.steps = curve.stop_step if curve.stop_step is not None else curve.steps[-1].step
        if run.train_time_ms is None and curve.steps:
            run.train_time_ms = curve.train_time_ms or next(
                (p.train_time_ms for p in reversed(curve.steps) if p.train_time_ms), None)
        runs.append(run)
    return _check_runs(runs)


def _model_size(log: LogEvidence) -> int | None:
    size = log.run.size("model") if log.runs else None
    return size.bytes if size else None


def _check_log(log: LogEvidence, where: str) -> None:
    if not log.runs:
        raise GolfkitError(f"{where}: not a training log (no run found in it)")
    if log.run.traceback_line is not None:
        raise GolfkitError(f"{where}:{log.run.traceback_line}: the run ended with a traceback; rerun it")
    if log.seed is None:
        raise GolfkitError(f"{where}: no seed in the file name or in a `seed:N` line; name it train_seed<N>.log")


def _seed_run(log: LogEvidence, path: Path, metric_label: str | None) -> SeedRun:
    where = str(path)
    _check_log(log, where)
    run = log.run
    metric = headline_metric(run, metric_label, where)
    if metric.val_bpb is None or metric.val_loss is None:
        raise GolfkitError(f"{where}:{metric.line}: {metric.label} lacks val_loss or val_bpb; choose --metric")
    total = run.total_bytes
    model = run.size("model")
    steps = run.stop_step
    train_time_ms = run.train_time_ms
    if run.steps:
        steps = steps if steps is not None else run.steps[-1].step
        if train_time_ms is None:
            train_time_ms = next((p.train_time_ms for p in reversed(run.steps) if p.train_time_ms), None)
    return SeedRun(
        seed=log.seed,
        log=log,
        log_name=f"train_seed{log.seed}.log",
        metric=metric,
        bytes_total=total.bytes if total else None,
        bytes_model=model.bytes if model else None,
        steps=steps,
        train_time_ms=train_time_ms,
    )


def _check_runs(runs: list[SeedRun]) -> list[SeedRun]:
    seeds = [r.seed for r in runs]
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise GolfkitError(f"seed {repeated[0]} appears in more than one log: give one log per seed")
    labels = {r.metric.label for r in runs}
    if len(labels) > 1:
        raise GolfkitError(
            f"the logs end with different final metric lines ({', '.join(sorted(labels))}): "
            "choose the one the record claims with --metric"
        )
    tokens = {r.run.val_tokens for r in runs if r.run.val_tokens is not None}
    if len(tokens) > 1:
        raise GolfkitError(f"the logs evaluated different validation sets (tokens: {sorted(tokens)})")
    return runs


@dataclass
class Loader:
    """The decoder a version-2 golfkit container needs: its text, and whether golfkit writes it (no --code
    file holds it)."""

    text: str
    written: bool

    @property
    def bytes(self) -> int:
        return len(self.text.encode())


def _loader_for(artifacts: list[Path], code: list[Path]) -> Loader | None:
    """The decoder the artifacts need (None when none is a version-2 golfkit container)."""
    from golfkit.artifact.container import container_version
    from golfkit.artifact.record_formats import read_record_artifact
    from golfkit.packing.loader import emit_loader

    needed: dict[str, list[str]] = {}
    for path in artifacts:
        try:
            rec = read_record_artifact(path)
        except GolfkitError:
            continue  # not a format golfkit reads: verify says what it makes of it
        if rec.container is None or container_version(rec.container) < 2:
            continue
        outer = rec.layers[0] if rec.layers in (["zstd"], ["zlib"]) else "zstd"
        needed.setdefault(emit_loader(rec.container, outer), []).append(path.name)
    if not needed:
        return None
    if len(needed) > 1:
        groups = "; ".join(", ".join(names) for names in needed.values())
        raise GolfkitError(f"the artifacts need different decoders ({groups}): one record ships one "
                           f"{LOADER_FILE}; build every seed with the same --codec and schemes (e.g. --codec ans)")
    text = next(iter(needed))
    body = text.split("\n", 1)[1]
    for path in code:
        if body in path.read_bytes().decode("utf-8", errors="replace"):
            return Loader(text, written=False)
    named = [p for p in code if p.name == LOADER_FILE]
    if named:
        raise GolfkitError(f"{named[0]} is not the decoder {', '.join(next(iter(needed.values())))} needs: leave it out "
                           f"(golfkit writes the right one) or write it again with golfkit build --loader")
    return Loader(text, written=True)


def _check_files_against_logs(runs: list[SeedRun], code: list[Path], artifacts: list[Path],
                              loader: Loader | None = None) -> int:
    """The code's bytes (with the decoder golfkit writes), after checking them and each artifact's size against
    what the logs printed."""
    extra = loader.bytes if loader is not None and loader.written else 0
    bytes_code = sum(path.stat().st_size for path in code) + extra
    _match_artifacts(runs, artifacts)
    _check_code_size(runs, bytes_code, code, extra)
    _check_totals(runs, bytes_code)
    return bytes_code


def _check_code_size(runs: list[SeedRun], bytes_code: int, code: list[Path], loader_bytes: int = 0) -> None:
    for run in runs:
        logged = run.run.size("code")
        if logged is not None and logged.bytes != bytes_code:
            files = " + ".join([f"{p} ({p.stat().st_size})" for p in code] +
                               [f"{LOADER_FILE} ({loader_bytes}, the artifact's decoder)"] * bool(loader_bytes))
            raise GolfkitError(
                f"{run.log.path}:{logged.line}: the run logged Code size {logged.bytes} bytes but {files} "
                f"make {bytes_code}: ship the exact script that ran"
                + (" (and evaluate the artifact with the loader golfkit build --loader wrote)" if loader_bytes else "")
            )


def _match_artifacts(runs: list[SeedRun], artifacts: list[Path]) -> None:
    """Gives each run its artifact: the file whose size the run printed as its model size."""
    for path in artifacts:
        size = path.stat().st_size
        candidates = [r for r in runs if r.bytes_model == size and r.artifact is None]
        if len(candidates) > 1:
            named = [r for r in candidates if re.search(rf"(?<!\d){r.seed}(?!\d)", path.name)]
            candidates = named if len(named) == 1 else candidates
        if len(candidates) != 1:
            logged = ", ".join(f"seed {r.seed}: {r.bytes_model}" for r in runs)
            why = "no log printed that model size" if not candidates else "several seeds printed that size"
            if not candidates and _is_golfkit_container(path):
                raise GolfkitError(
                    f"{path} ({size} bytes) is a golfkit build output that no log evaluated (logged model sizes: "
                    f"{logged}); a record claims what its script measured on the artifact it ships: run it on this "
                    f"one (EVAL_ARTIFACT={path.name} ARTIFACT_LOADER={LOADER_FILE} python train_gpt.py, same "
                    "environment as the run) and pass that log too"
                )
            raise GolfkitError(
                f"{path} ({size} bytes): {why} (logged model sizes: {logged}); "
                "pass the artifacts these runs wrote, named with their seed"
            )
        candidates[0].artifact = path


def _check_totals(runs: list[SeedRun], bytes_code: int) -> None:
    """Each logged total is the code + the artifact matched to that run."""
    for run in runs:
        if run.artifact is None or run.bytes_total is None:
            continue
        size = run.artifact.stat().st_size
        if run.bytes_total != bytes_code + size:
            raise GolfkitError(
                f"{run.log.path}: logged total {run.bytes_total} bytes is not code {bytes_code} + "
                f"{run.artifact.name} {size}: the code or the artifact is not the one that ran"
            )


def _is_golfkit_container(path: Path) -> bool:
    from golfkit.artifact.record_formats import read_record_artifact

    try:
        return read_record_artifact(path).container is not None
    except GolfkitError:
        return False


# ---------------------------------------------------------------- writing the folder


def _write_record(folder: Path, sources: list[Path], runs: list[SeedRun], submission: dict[str, Any],
                  with_plot: bool, extra: dict[str, str] | None = None) -> list[str]:
    """Fill a staging folder beside `folder`, then rename it into place; on any failure nothing is left.
    Returns the notes for the person.

    SIGTERM, SIGINT and SIGHUP remove the staging folder before the process ends (golfkit.writes);
    one left by a SIGKILL is removed by the next `golfkit new` of the same folder."""
    staging = folder.parent / f".{folder.name}.golfkit-new"
    with signals_interrupt():
        if staging.is_dir() and not staging.is_symlink():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        try:
            notes = _fill_folder(staging, folder, sources, runs, submission, with_plot, extra or {})
            if folder.exists():
                raise GolfkitError(f"{folder} appeared while it was being written: nothing was changed")
            os.rename(staging, folder)
        finally:
            if staging.is_dir() and not staging.is_symlink():
                shutil.rmtree(staging)
    return notes


def _fill_folder(staging: Path, folder: Path, sources: list[Path], runs: list[SeedRun],
                 submission: dict[str, Any], with_plot: bool, extra: dict[str, str]) -> list[str]:
    """Copy the files and the logs, write the files golfkit made (`extra`), submission.json, the curves and
    the README; returns notes."""
    for src in sources:
        shutil.copyfile(src, staging / src.name)
    for name, text in extra.items():
        write_file(staging / name, text)
    for run in runs:
        shutil.copyfile(run.log.path, staging / run.log_name)
        for other, name in run.others:
            shutil.copyfile(other.path, staging / name)
    write_file(staging / "submission.json", dump_json(submission) + "\n")
    has_plot, notes = _draw_curves(staging, runs, submission["name"], with_plot)
    readme = render_readme(submission, runs, folder, staging, has_plot)
    write_file(staging / "README.md", readme)
    return notes


def _draw_curves(staging: Path, runs: list[SeedRun], title: str, with_plot: bool) -> tuple[bool, list[str]]:
    """The curves of every seed, when asked for and matplotlib is there: (drawn, notes for the person)."""
    if with_plot and plot.matplotlib_available():
        curves = [run_curves(r.curve_log, f"seed {r.seed}", r.metric) for r in runs]
        plot.draw(curves, staging / plot.CURVES_FILE, title=title)
        return True, []
    if with_plot:
        return False, [f"no {plot.CURVES_FILE}: matplotlib is not installed ({plot.PLOT_EXTRA_HINT})"]
    return False, []


# ---------------------------------------------------------------- submission.json


def _submission(
    runs: list[SeedRun],
    *,
    track: str,
    date: str,
    name: str,
    author: str,
    github_id: str,
    blurb: str,
    bytes_code: int,
    code: list[Path],
    data_files: list[Path],
    hardware: str | None,
    config: dict[str, Any] | None,
    variant: str | None,
) -> dict[str, Any]:
    bpbs = [r.metric.val_bpb for r in runs]
    losses = [r.metric.val_loss for r in runs]
    totals = [r.bytes_total for r in runs if r.bytes_total is not None]
    out: dict[str, Any] = {
        "name": name,
        "author": author,
        "github_id": github_id,
        "date": date,
        "track": track,
        "blurb": blurb,
        "val_bpb": mean(bpbs),
        "val_loss": mean(losses),
    }
    if len(runs) > 1:
        out["val_bpb_std"] = sample_std(bpbs)
        out["val_loss_std"] = sample_std(losses)
    if totals:
        out["bytes_total"] = max(totals)
    out["bytes_code"] = bytes_code
    out["seeds"] = [r.seed for r in runs]
    out["seed_results"] = {str(r.seed): _seed_result(r) for r in runs}
    hardware = hardware or _logged_once(runs, hardware_of, "hardware")
    if hardware:
        out["hardware"] = hardware
    torch_version = _logged_once(runs, torch_version_of, "PyTorch version")
    if torch_version:
        out["pytorch_version"] = torch_version
    data = _data_block(runs, data_files, variant)
    if data:
        out["data"] = data
    out["extra"] = {"metric": runs[0].metric.label, **({"config": config} if config is not None else {})}
    problems = schema_errors(json.loads(dump_json(out)))
    if problems:
        raise AssertionError(f"golfkit new wrote a submission.json its schema rejects: {problems}")
    return out


def _seed_result(run: SeedRun) -> dict[str, Any]:
    result: dict[str, Any] = {"val_bpb": run.metric.val_bpb.value, "val_loss": run.metric.val_loss.value}
    if run.bytes_total is not None:
        result["bytes_total"] = run.bytes_total
    if run.steps is not None:
        result["steps"] = run.steps
    if run.train_time_ms is not None:
        result["train_time_ms"] = _int_if_whole(run.train_time_ms)
    eval_time = next((p.seconds for p in reversed(run.run.phases) if p.kind == "total_eval_time"), None)
    if eval_time is not None:
        result["eval_time_ms"] = _int_if_whole(round(eval_time * 1000, 3))
    extra: dict[str, Any] = {}
    if run.bytes_model is not None:
        extra["bytes_model"] = run.bytes_model
    extra["log"] = run.log_name
    if run.artifact is not None:
        extra["artifact"] = run.artifact.name
    result["extra"] = extra
    return result


def _data_block(runs: list[SeedRun], data_files: list[Path], variant: str | None) -> dict[str, Any]:
    tokens = runs[0].run.val_tokens
    if tokens is None:
        return {}
    data: dict[str, Any] = {"variant": variant or variant_of(tokens), "val_tokens": tokens}
    tokenizers = [p for p in data_files if p.suffix == ".model"]
    shards = sorted(p for p in data_files if p.name.startswith("fineweb_val_") and p.suffix == ".bin")
    if len(tokenizers) == 1 and shards:
        data["val_bytes"] = validation_bytes(tokenizers[0], shards, tokens)
    if len(tokenizers) == 1:
        data["tokenizer"] = tokenizers[0].name
    return data


def variant_of(tokens: int) -> str:
    """The name of the known validation variant (verify's manifest) with `tokens` targets, else "custom"."""
    known = variant_for_tokens(tokens)
    return known.name if known is not None else "custom"


def validation_bytes(tokenizer: Path, shards: list[Path], targets: int) -> int:
    """UTF-8 bytes of the first `targets` targets of the validation stream (docs/reference-model.md)."""
    import numpy as np

    from golfkit.data.shards import read_shard
    from golfkit.data.token_bytes import byte_table
    from golfkit.data.tokenizer import load_tokenizer

    stream = np.concatenate([read_shard(p) for p in shards])
    if stream.size < targets + 1:
        raise GolfkitError(
            f"the validation shards hold {stream.size} tokens but the logs scored {targets} targets: "
            "pass every fineweb_val_*.bin the run used"
        )
    table = byte_table(load_tokenizer(tokenizer))
    return int(table.target_bytes(stream[: targets + 1]).sum())


def mean(values: list[Number]) -> Decimal:
    """Mean of printed decimals, at the largest precision they were printed with."""
    places = max(v.places for v in values)
    total = sum((v.value for v in values), Decimal(0))
    return _quantize(total / len(values), places)


def sample_std(values: list[Number]) -> Decimal:
    """Sample standard deviation (n - 1), at the values' precision."""
    places = max(v.places for v in values)
    avg = sum((v.value for v in values), Decimal(0)) / len(values)
    var = sum(((v.value - avg) ** 2 for v in values), Decimal(0)) / (len(values) - 1)
    return _quantize(var.sqrt(), places)


def _quantize(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def _int_if_whole(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def dump_json(value: Any, indent: int = 0) -> str:
    """JSON text with Decimals written exactly as they are (`1.22436570` keeps its last zero)."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {dump_json(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if all(isinstance(v, (int, str, Decimal)) for v in value):
            return "[" + ", ".join(dump_json(v) for v in value) + "]"
        return "[\n" + ",\n".join(inner + dump_json(v, indent + 1) for v in value) + "\n" + pad + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------- facts from the log header


def _header_lines(log: LogEvidence) -> list[str]:
    """The lines between the two `=` x 100 separators of a logfile layout (docs/verify.md#claims-and-logs), if any."""
    with open(log.path, encoding="utf-8", errors="replace") as f:
        lines: list[str] = []
        inside = False
        for line in f:
            line = line.rstrip("\n")
            if line == SEPARATOR:
                if inside:
                    return lines
                inside = True
                lines = []
            elif inside:
                lines.append(line)
                if len(lines) > 400:
                    return []
    return []


def torch_version_of(log: LogEvidence) -> str | None:
    """`2.13.0+cpu` from a `Running PyTorch 2.13.0+cpu` line."""
    for line in _header_lines(log):
        if line.startswith("Running PyTorch "):
            return line.split(" ", 2)[2].strip()
    return None


def hardware_of(log: LogEvidence) -> str | None:
    """"8xNVIDIA H100 80GB HBM3" from an nvidia-smi table, "CPU" from the trainer's `cpu:` line."""
    lines = _header_lines(log)
    gpus = [m.group(1).strip() for line in lines if (m := GPU_ROW.match(line))]
    if gpus:
        names = sorted(set(gpus))
        return " + ".join(f"{gpus.count(n)}x{n}" for n in names)
    if any(line.startswith("cpu:") for line in lines):
        return "CPU"
    return None


def _logged_once(runs: list[SeedRun], read, what: str) -> str | None:
    found = {read(r.log) for r in runs} - {None}
    if len(found) > 1:
        raise GolfkitError(f"the seed logs ran on different {what}s ({', '.join(sorted(found))})")
    return found.pop() if found else None


# ---------------------------------------------------------------- README and curves


def render_readme(submission: dict[str, Any], runs: list[SeedRun], folder: Path, files_dir: Path,
                  has_plot: bool) -> str:
    """The record README from templates/README.record.md, results and files tables filled in."""
    template = string.Template(_template_text())
    rows = ["| seed | final line | val_loss | val_bpb | steps | train time | model bytes | total bytes |",
            "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        rows.append(
            f"| {r.seed} | `{r.metric.label}` | {r.metric.val_loss} | {r.metric.val_bpb} | "
            f"{_cell(r.steps)} | {_seconds(r.train_time_ms)} | {_cell(r.bytes_model)} | {_cell(r.bytes_total)} |"
        )
    seeds = f"{len(runs)} seed{'s' if len(runs) != 1 else ''}"
    summary = f"Mean over {seeds}: **val_bpb {_text(submission['val_bpb'])}**, val_loss {_text(submission['val_loss'])}"
    if "val_bpb_std" in submission:
        summary += (f" (sample std: val_bpb {_text(submission['val_bpb_std'])}, "
                    f"val_loss {_text(submission['val_loss_std'])})")
    summary += "."
    if "bytes_total" in submission:
        summary += (f" Largest total: {submission['bytes_total']:,} bytes of the {SIZE_CAP_BYTES:,}-byte cap "
                    f"(code: {submission['bytes_code']:,} bytes).")
    files = sorted(p for p in files_dir.iterdir() if p.is_file())
    names = [*(p.name for p in files), "README.md"]
    file_rows = ["| file | bytes |", "|---|---:|"]
    for file_name in sorted(set(names)):
        size = (files_dir / file_name).stat().st_size if file_name != "README.md" else None
        file_rows.append(f"| `{file_name}` | {_cell(size) if size is not None else 'this file'} |")
    text = template.substitute(
        name=submission["name"],
        blurb=submission["blurb"] or "_No description given._",
        track=submission["track"],
        author=submission["author"],
        github_id=submission["github_id"],
        date=submission["date"],
        hardware=submission.get("hardware", "not logged"),
        pytorch_version=submission.get("pytorch_version", "not logged"),
        results_table="\n".join(rows),
        summary=summary,
        plot=f"![training and validation curves of every seed]({plot.CURVES_FILE})" if has_plot else "",
        folder="/".join(folder.parts[-3:]),
        files_table="\n".join(file_rows),
    )
    return re.sub(r"\n{3,}", "\n\n", text)


def _template_text() -> str:
    """README.record.md of golfkit's templates: inside the installed package (a wheel ships templates/ as
    golfkit/templates), else templates/ of the source tree."""
    package = Path(__file__).resolve().parents[1]
    for template in (package / "templates" / "README.record.md", package.parent / "templates" / "README.record.md"):
        if template.is_file():
            return template.read_text(encoding="utf-8")
    raise GolfkitError(
        f"{package / 'templates' / 'README.record.md'}: README template not found; this golfkit install lacks its "
        "templates (reinstall golfkit: pip install --force-reinstall golfkit)"
    )


def _text(value: Decimal) -> str:
    return format(value, "f")


def _cell(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


def _seconds(ms: float | None) -> str:
    return f"{ms / 1000:.1f} s" if ms is not None else "-"
