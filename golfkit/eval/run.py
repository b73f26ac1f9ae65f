"""`eval_artifact`: the whole re-run, artifact + data + tokenizer -> standard and sliding-window metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from golfkit.artifact.compress import DEFAULT_MAX_OUTPUT
from golfkit.data.token_bytes import TokenByteTable, byte_table
from golfkit.errors import GolfkitError
from golfkit.eval.evaluate import (
    DEFAULT_BATCH_TOKENS,
    Dist,
    EvalResult,
    NllFn,
    default_batch_tokens,
    evaluate,
    init_distributed,
    model_nll,
)
from golfkit.eval.model import FAMILY
from golfkit.eval.precision import describe_precision
from golfkit.eval.windows import sliding_windows, standard_windows, trimmed_length

MODES = ("standard", "sliding")
DEFAULT_STRIDE = 64


@dataclass
class EvalReport:
    """What was evaluated and what came out."""

    artifact: str
    artifact_bytes: int
    model: dict[str, Any]
    train_seq_len: int
    stream_tokens: int  # all validation tokens found
    targets: int  # after trimming to ((N - 1) // L) * L + 1 tokens
    target_bytes: int  # canonical byte count of those targets
    world_size: int = 1
    results: list[EvalResult] = field(default_factory=list)
    precision: str = "fp32"  # golfkit.eval.precision.describe_precision

    def result(self, mode: str) -> EvalResult | None:
        return next((r for r in self.results if r.mode == mode), None)

    def to_json(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "artifact_bytes": self.artifact_bytes, "model": self.model,
                "train_seq_len": self.train_seq_len, "stream_tokens": self.stream_tokens, "targets": self.targets,
                "target_bytes": self.target_bytes, "world_size": self.world_size, "precision": self.precision,
                "results": [r.to_json() for r in self.results]}


def eval_stream(stream: np.ndarray, table: TokenByteTable, nll: NllFn, *, train_seq_len: int,
                seq_len: int | None = None, stride: int = DEFAULT_STRIDE, modes: tuple[str, ...] = MODES,
                dist: Dist | None = None, batch_tokens: int = DEFAULT_BATCH_TOKENS,
                progress: bool | None = None) -> tuple[int, int, list[EvalResult]]:
    """Trim `stream` for `train_seq_len` and run the requested evaluations. Returns (targets, bytes, results)."""
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise GolfkitError(f"unknown evaluation mode {unknown[0]!r}: use {' or '.join(MODES)}")
    seq_len = seq_len or train_seq_len
    trimmed = stream[: trimmed_length(stream.size, train_seq_len)]
    targets = trimmed.size - 1
    target_bytes = int(table.target_bytes(trimmed).sum())
    results = []
    for mode in modes:
        if mode == "standard":
            windows, length, step = standard_windows(targets, train_seq_len), train_seq_len, train_seq_len
        else:
            windows, length, step = sliding_windows(targets, seq_len, stride), seq_len, stride
        results.append(evaluate(trimmed, table, windows, nll, mode=mode, seq_len=length, stride=step, dist=dist,
                                batch_tokens=batch_tokens, progress=progress))
    return targets, target_bytes, results


def eval_artifact(artifact: str | Path, data: str | Path, tokenizer: str | Path, *,
                  seq_len: int | None = None, stride: int = DEFAULT_STRIDE, train_seq_len: int | None = None,
                  modes: tuple[str, ...] = MODES, config: dict[str, Any] | None = None, compile: bool = False,
                  batch_tokens: int | None = None, device: str | None = None, progress: bool | None = None,
                  max_output: int = DEFAULT_MAX_OUTPUT, precision: str = "auto") -> EvalReport:
    """Decode `artifact` into golfkit's reference-family model and evaluate it on the validation shards.

    `train_seq_len` (trimming and standard windows) comes from the header's `meta.train_seq_len` unless
    given; `seq_len` (sliding windows) defaults to it. Under torchrun the work is sharded across ranks.
    `precision` (golfkit.eval.precision): auto = bf16 autocast on CUDA, fp32 on a CPU; `bf16` on a CPU
    emulates CUDA's autocast, to evaluate a GPU-made record as its GPU did.
    """
    from golfkit.eval.load import load_matching_tokenizer, load_model, load_stream

    artifact = Path(artifact)
    dist = init_distributed(device)
    model, art = load_model(artifact, config, dist.device, max_output=max_output)
    cfg = model.cfg
    train_seq_len = train_seq_len or _header_seq_len(art.meta, artifact)
    stream = load_stream(data, cfg.vocab_size)
    sp = load_matching_tokenizer(tokenizer, cfg.vocab_size, stream)
    nll = model_nll(model, dist.device, compile=compile, precision=precision)
    batch_tokens = batch_tokens or default_batch_tokens(dist.device, cfg.model_dim)
    targets, nbytes, results = eval_stream(stream, byte_table(sp), nll, train_seq_len=train_seq_len, seq_len=seq_len,
                                           stride=stride, modes=modes, dist=dist, batch_tokens=batch_tokens,
                                           progress=progress)
    return EvalReport(str(artifact), artifact.stat().st_size, {"family": FAMILY, **asdict(cfg)},
                      train_seq_len, int(stream.size), targets, nbytes, dist.world_size, results,
                      precision=describe_precision(dist.device, nll.precision))


def _header_seq_len(meta: dict[str, Any], where: Path) -> int:
    value = meta.get("train_seq_len")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GolfkitError(f"{where}: the header has no usable meta.train_seq_len; pass --train-seq-len")
    return value
