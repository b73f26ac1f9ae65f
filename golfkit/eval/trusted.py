"""`--trust-code`: evaluate a model class from the record's own script, in a subprocess.

Adapter: the script must define, at module level,

    golfkit_load(artifact_path: str, device: str) -> torch.nn.Module

returning a model in eval mode whose `forward_logits(input_ids)` (or, if it has none, whose call)
maps int64 token ids [B, T] to logits [B, T, vocab]. Importing the script must not train: the
training entry point sits under `if __name__ == "__main__":`. The script decodes its own artifact,
so any format works; golfkit still does the windows, the byte accounting and the loss.

Running a submitted script executes its code, hence the explicit flag and the separate process:
the parent never imports it, and the child only prints one JSON report.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import subprocess
import sys
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

ENTRY = "golfkit_load"


def eval_trusted(script: str | Path, artifact: str | Path, data: str | Path, tokenizer: str | Path, *,
                 train_seq_len: int | None = None, seq_len: int | None = None, stride: int = DEFAULT_STRIDE,
                 modes: tuple[str, ...] = MODES, batch_tokens: int = DEFAULT_BATCH_TOKENS,
                 device: str | None = None, timeout: float | None = None) -> EvalReport:
    """Run the evaluation with the model from `script` in a child process; return its report."""
    script, artifact = Path(script).resolve(), Path(artifact).resolve()
    if not script.is_file():
        raise GolfkitError(f"{script}: no such script for --trust-code; pass --script PATH")
    request = {"script": str(script), "artifact": str(artifact), "data": str(Path(data).resolve()),
               "tokenizer": str(Path(tokenizer).resolve()), "train_seq_len": train_seq_len, "seq_len": seq_len,
               "stride": stride, "modes": list(modes), "batch_tokens": batch_tokens, "device": device}
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    try:
        proc = subprocess.run([sys.executable, "-m", "golfkit.eval.trusted", json.dumps(request)],
                              check=False, cwd=script.parent,
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise GolfkitError(f"{script}: the trusted evaluation ran past {timeout} s and was stopped") from None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise GolfkitError(f"{script}: --trust-code evaluation failed: {reason}")
    return _report_from_json(json.loads(lines[-1]))


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
    parser = argparse.ArgumentParser(description="golfkit's --trust-code child (internal).")
    parser.add_argument("request")
    args = parser.parse_args(argv)
    try:
        report = _child(json.loads(args.request))
    except GolfkitError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        finish_distributed()
    sys.stdout.write("\n" + json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
