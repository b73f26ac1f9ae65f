"""`--trust-code`: evaluate an artifact with the record's own model code, in golfkit's sandbox.

The record defines nothing for golfkit: the child (`python -m golfkit.eval.trusted`) imports the
(decoded) script with the environment of its run, builds its GPT, loads the artifact's weights
through the script's own dequantize function or golfkit's readers, and reads the model's logits
(golfkit.eval.adapter says how, step by step). golfkit does the windows, the byte accounting and the
loss. A script may still define `golfkit_load(artifact_path, device) -> model` to build the model
itself.

Precision: `auto` evaluates in bf16 autocast when the script's evaluation does (every real record's,
on its GPU), on a CPU by golfkit's emulation of CUDA's autocast (golfkit.eval.precision), so that a
CPU re-run gives what the GPU gave; `fp32` and `bf16` force one.

Running a submitted script executes its code, hence the explicit flag and golfkit's sandbox
(golfkit.sandbox: bubblewrap, limits, no network, nothing writable but a temporary copy): the parent
never imports it, and the child sends one JSON report over the sandbox's pipe.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from golfkit.artifact.compress import DEFAULT_MAX_OUTPUT
from golfkit.errors import GolfkitError
from golfkit.eval.evaluate import (
    EvalResult,
    NllFn,
    finish_distributed,
    init_distributed,
)
from golfkit.eval.precision import autocast_context, describe_precision, scripts_cuda_autocast_emulated
from golfkit.eval.run import DEFAULT_STRIDE, MODES, EvalReport, eval_stream
from golfkit.files import MAX_SCRIPT_BYTES, read_bytes
from golfkit.sandbox import (
    RO_ROOT,
    Box,
    Limits,
    copy_regular_files,
    python_roots,
    require,
    run_contained,
    scrubbed_env,
)

MAX_COPY_BYTES = 1 << 20  # the record's small files copied next to the script (its modules, configs)
MAX_COPY_FILES = 2000


def eval_trusted(script: str | Path, artifact: str | Path, data: str | Path, tokenizer: str | Path, *,
                 train_seq_len: int | None = None, seq_len: int | None = None, stride: int = DEFAULT_STRIDE,
                 modes: tuple[str, ...] = MODES, batch_tokens: int | None = None,
                 device: str | None = None, timeout: float | None = None, memory_mb: int = 16384,
                 unconfined: bool = False, precision: str = "auto", settings: Mapping[str, str] | None = None,
                 max_output: int = DEFAULT_MAX_OUTPUT) -> EvalReport:
    """Run the evaluation with the model from `script` in golfkit's sandbox (golfkit.sandbox); return its
    report. The record's folder is copied (small regular files only); the artifact, the shards and the
    tokenizer are bound read-only; the result comes back over the sandbox's pipe. `settings` are the
    run's hyperparameters (`num_layers=11`, or `NUM_LAYERS=11`), set before the script is imported."""
    require(unconfined)
    script, artifact = Path(script), Path(artifact)
    if script.is_symlink() or not script.is_file():
        raise GolfkitError(f"{script}: no such regular file for --trust-code; pass --script PATH (links are not followed)")
    data, tokenizer = Path(data), Path(tokenizer)
    data_dir, pattern = (data, None) if data.is_dir() else (data.parent, data.name)
    for what, path in (("artifact", artifact), ("tokenizer", tokenizer)):
        if path.is_symlink() or not path.is_file():
            raise GolfkitError(f"{path}: the {what} for --trust-code must be a regular file (links are not followed)")
    wall = timeout or 24 * 3600.0
    with tempfile.TemporaryDirectory(prefix="golfkit-trusted-") as tmp:
        box = Box(Path(tmp), confined=not unconfined)
        copy_regular_files(script.parent, box.work, MAX_COPY_BYTES, MAX_COPY_FILES)
        (box.work / script.name).write_bytes(read_bytes(script, MAX_SCRIPT_BYTES, "a script"))
        if box.confined:
            binds = [(artifact.resolve(), f"{RO_ROOT}/artifact/{artifact.name}"),
                     (tokenizer.resolve(), f"{RO_ROOT}/tokenizer/{tokenizer.name}"),
                     (data_dir.resolve(), f"{RO_ROOT}/data")]
            paths = {"artifact": binds[0][1], "tokenizer": binds[1][1], "data": binds[2][1]}
        else:
            binds = []
            paths = {"artifact": str(artifact.resolve()), "tokenizer": str(tokenizer.resolve()),
                     "data": str(data_dir.resolve())}
        if pattern is not None:
            paths["data"] = f"{paths['data']}/{pattern}"
        request = {"script": box.inside(box.work / script.name), **paths, "train_seq_len": train_seq_len,
                   "seq_len": seq_len, "stride": stride, "modes": list(modes), "batch_tokens": batch_tokens,
                   "device": device, "precision": precision, "settings": dict(settings or {}),
                   "max_output": max_output}
        (box.inputs / "request.json").write_text(json.dumps(request))
        threads = str(torch.get_num_threads())
        env = scrubbed_env(box.inside(box.work), {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
        devices: list[str] = []
        if device is None or device.startswith("cuda"):
            devices = sorted(str(d) for d in Path("/dev").glob("nvidia*"))
            if devices:
                env.pop("CUDA_VISIBLE_DEVICES", None)
        limits = Limits(wall_s=wall, memory_mb=memory_mb, cpu_s=int(wall * (os.cpu_count() or 1)) + 1,
                        processes=1024)
        outcome = run_contained([sys.executable, "-I", "-m", "golfkit.eval.trusted",
                                 box.inside(box.inputs / "request.json")],
                                box=box, env=env, limits=limits, readonly=[*python_roots(), _package_root()],
                                binds=binds, devices=devices)
    if outcome.status == "timeout":
        raise GolfkitError(f"{script}: the trusted evaluation ran past {wall:.0f} s and was stopped")
    if outcome.status != "exited" or outcome.returncode != 0:
        lines = [ln for ln in outcome.output_tail.strip().splitlines() if ln.strip()]
        reason = outcome.detail or (lines[-1][:300] if lines else f"exit status {outcome.returncode}")
        raise GolfkitError(f"{script}: --trust-code evaluation failed: {reason}")
    try:
        return _report_from_json(json.loads(outcome.channel.decode("utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise GolfkitError(f"{script}: --trust-code evaluation sent no readable report ({type(exc).__name__})") from None


def _package_root() -> Path:
    """golfkit's own package folder (read-only inside the sandbox, for `-m golfkit.eval.trusted`)."""
    return Path(__file__).resolve().parents[1]


def _report_from_json(d: dict[str, Any]) -> EvalReport:
    results = [EvalResult(r["mode"], r["seq_len"], r["stride"], r["loss_sum"], r["tokens"], r["bytes"], r["wall_s"])
               for r in d.pop("results")]
    return EvalReport(**d, results=results)


def logits_nll(forward: Any, vocab_size: int, device: torch.device, precision: str) -> NllFn:
    """Per-target loss from a record model's full logits: `forward(inputs, targets)` -> [B, T, vocab], run in
    `precision`; only the scored suffix reaches the loss (float32, as the records compute it)."""

    def nll(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        full = torch.cat((inputs[:, 1:], targets[:, -1:]), dim=1)  # the next token of every input position
        with autocast_context(device, precision):
            logits = forward(inputs, full)
        if logits.dim() != 3 or logits.shape[:2] != inputs.shape or logits.size(-1) < vocab_size:
            raise GolfkitError(f"the record's model returned logits of shape {list(logits.shape)}; expected "
                               f"[{inputs.size(0)}, {inputs.size(1)}, {vocab_size}]")
        tail = logits[:, -targets.size(1):].float()
        return F.cross_entropy(tail.flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)

    nll.device = device
    return nll


def _child(request: dict[str, Any]) -> dict[str, Any]:
    from golfkit import standins
    from golfkit.data.token_bytes import byte_table
    from golfkit.eval.adapter import evaluates_in_bf16, load_record_model
    from golfkit.eval.evaluate import default_batch_tokens
    from golfkit.eval.load import load_matching_tokenizer, load_stream

    dist = init_distributed(request["device"])
    record, source = load_record_model(request["script"], request["artifact"], dist.device, request["settings"],
                                       max_output=request["max_output"])
    precision = request["precision"]
    if precision == "auto":
        precision = "bf16" if evaluates_in_bf16(source) else "fp32"
    train_seq_len = request["train_seq_len"] or _header_seq_len(request["artifact"]) or record.setting("train_seq_len")
    if not isinstance(train_seq_len, int):
        raise GolfkitError("neither the artifact nor the script's Hyperparameters state train_seq_len; pass --train-seq-len")
    seq_len = request["seq_len"] or record.setting("eval_seq_len")
    import sentencepiece as spm

    vocab = spm.SentencePieceProcessor(model_file=request["tokenizer"]).vocab_size()
    script_vocab = record.setting("vocab_size")
    if isinstance(script_vocab, int) and script_vocab != vocab:
        raise GolfkitError(f"the script's model has vocab_size {script_vocab}, the tokenizer {vocab} pieces; pass the "
                           "run's VOCAB_SIZE (--hparam vocab_size=N) or the tokenizer it used")
    stream = load_stream(request["data"], vocab)
    sp = load_matching_tokenizer(request["tokenizer"], vocab, stream)
    emulated = precision == "bf16" and dist.device.type != "cuda"
    batch_tokens = request["batch_tokens"] or default_batch_tokens(dist.device, _width(record.model))
    with scripts_cuda_autocast_emulated() if emulated else contextlib.nullcontext():
        targets, nbytes, results = eval_stream(
            stream, byte_table(sp), logits_nll(record.logits, vocab, dist.device, precision),
            train_seq_len=train_seq_len, seq_len=seq_len, stride=request["stride"], modes=tuple(request["modes"]),
            dist=dist, batch_tokens=batch_tokens, progress=False)
    model = {"family": f"trusted:{Path(request['script']).name}", **record.notes,
             "stand_ins": list(standins.STAND_INS_USED)}
    report = EvalReport(request["artifact"], Path(request["artifact"]).stat().st_size, model, train_seq_len,
                        int(stream.size), targets, nbytes, dist.world_size, results,
                        precision=describe_precision(dist.device, precision))
    return asdict(report)


def _header_seq_len(artifact: str) -> int | None:
    """A golfkit container's meta.train_seq_len (None for other formats)."""
    from golfkit.artifact.container import read_artifact

    try:
        value = read_artifact(artifact).meta.get("train_seq_len")
    except GolfkitError:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _width(model: torch.nn.Module) -> int:
    """The model's width, for the CPU's cache-sized batches: the embedding's, else 512."""
    for m in model.modules():
        if isinstance(m, torch.nn.Embedding):
            return int(m.embedding_dim)
    return 512


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="golfkit's --trust-code child (internal; runs in the sandbox).")
    parser.add_argument("request", help="path of the request JSON")
    args = parser.parse_args(argv)
    channel = os.fdopen(int(os.environ.pop("GOLFKIT_CHANNEL_FD")), "w", encoding="utf-8")
    with open(args.request, encoding="utf-8") as f:
        request = json.load(f)
    try:
        report = _child(request)
    except GolfkitError as exc:
        print(exc, file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the record's code failed while golfkit ran it: one line, not a traceback
        print(f"the record's code raised {type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}",
              file=sys.stderr)
        return 2
    finally:
        finish_distributed()
    channel.write(json.dumps(report))
    channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
