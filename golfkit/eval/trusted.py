"""`--trust-code`: evaluate a model class from the record's own script, in a subprocess.

Adapter: the script must define, at module level,

    golfkit_load(artifact_path: str, device: str) -> torch.nn.Module

returning a model in eval mode whose `forward_logits(input_ids)` (or, if it has none, whose call)
maps int64 token ids [B, T] to logits [B, T, vocab]. Importing the script must not train: the
training entry point sits under `if __name__ == "__main__":`. The script decodes its own artifact,
so any format works; golfkit still does the windows, the byte accounting and the loss.

Running a submitted script executes its code, hence the explicit flag and golfkit's sandbox
(golfkit.sandbox: bubblewrap, limits, no network, nothing writable but a temporary copy): the parent
never imports it, and the child sends one JSON report over the sandbox's pipe.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from golfkit.errors import GolfkitError
from golfkit.eval.evaluate import (
    DEFAULT_BATCH_TOKENS,
    EvalResult,
    NllFn,
    finish_distributed,
    init_distributed,
)
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

ENTRY = "golfkit_load"


def eval_trusted(script: str | Path, artifact: str | Path, data: str | Path, tokenizer: str | Path, *,
                 train_seq_len: int | None = None, seq_len: int | None = None, stride: int = DEFAULT_STRIDE,
                 modes: tuple[str, ...] = MODES, batch_tokens: int = DEFAULT_BATCH_TOKENS,
                 device: str | None = None, timeout: float | None = None, memory_mb: int = 16384,
                 unconfined: bool = False) -> EvalReport:
    """Run the evaluation with the model from `script` in golfkit's sandbox (golfkit.sandbox); return its
    report. The record's folder is copied (small regular files only); the artifact, the shards and the
    tokenizer are bound read-only; the result comes back over the sandbox's pipe."""
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
                   "device": device}
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


def logits_nll(forward: Callable[[torch.Tensor], torch.Tensor], vocab_size: int, device: torch.device) -> NllFn:
    """Per-target loss from a foreign model's full logits; only the scored suffix reaches the loss."""
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else None

    def nll(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if autocast is not None:
            with autocast:
                logits = forward(inputs)
        else:
            logits = forward(inputs)
        if logits.dim() != 3 or logits.shape[:2] != inputs.shape or logits.size(-1) < vocab_size:
            raise GolfkitError(f"{ENTRY}() model returned logits of shape {list(logits.shape)}; expected "
                               f"[{inputs.size(0)}, {inputs.size(1)}, {vocab_size}]")
        tail = logits[:, -targets.size(1):].float()
        return F.cross_entropy(tail.flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)

    nll.device = device
    return nll


def _child(request: dict[str, Any]) -> dict[str, Any]:
    from golfkit.artifact.container import read_artifact
    from golfkit.data.token_bytes import byte_table
    from golfkit.eval.load import load_matching_tokenizer, load_stream

    dist = init_distributed(request["device"])
    train_seq_len = request["train_seq_len"]
    if train_seq_len is None:
        try:
            train_seq_len = read_artifact(request["artifact"]).meta.get("train_seq_len")
        except GolfkitError:
            train_seq_len = None
        if not isinstance(train_seq_len, int):
            raise GolfkitError("the artifact does not state train_seq_len; pass --train-seq-len")
    sys.path.insert(0, str(Path(request["script"]).parent))
    namespace = runpy.run_path(request["script"], run_name="golfkit_trusted")
    load = namespace.get(ENTRY)
    if not callable(load):
        raise GolfkitError(f"{request['script']}: defines no {ENTRY}(artifact_path, device); see docs/eval.md")
    model = load(request["artifact"], str(dist.device))
    forward = getattr(model, "forward_logits", model)
    import sentencepiece as spm

    vocab = spm.SentencePieceProcessor(model_file=request["tokenizer"]).vocab_size()
    stream = load_stream(request["data"], vocab)
    sp = load_matching_tokenizer(request["tokenizer"], vocab, stream)
    targets, nbytes, results = eval_stream(
        stream, byte_table(sp), logits_nll(forward, vocab, dist.device), train_seq_len=train_seq_len,
        seq_len=request["seq_len"], stride=request["stride"], modes=tuple(request["modes"]), dist=dist,
        batch_tokens=request["batch_tokens"], progress=False)
    report = EvalReport(request["artifact"], Path(request["artifact"]).stat().st_size,
                        {"family": f"trusted:{Path(request['script']).name}"}, train_seq_len, int(stream.size),
                        targets, nbytes, dist.world_size, results)
    return asdict(report)


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
    finally:
        finish_distributed()
    channel.write(json.dumps(report))
    channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
