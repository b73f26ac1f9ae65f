"""The evaluation loop: batched windows, scored suffix only, sums all-reduced across ranks.

Windows of the same shape are stacked into batches of about `batch_tokens` input tokens. Only the
last `scored` positions of each window go through the final norm, the head and the loss. Under
`torchrun` each rank takes every world_size-th window of each shape and the three sums (loss,
targets, bytes) are all-reduced, so the result does not depend on the number of ranks.

On a GPU the loop never waits for the device: window starts go over once per shape, the loss is
summed on the device (float64) and read once at the end, and bytes are counted on the host. A
compiled body gets every batch at one shape (the last one padded, its padding not scored), so it is
compiled once, and on CUDA it replays as a CUDA graph.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from golfkit.data.token_bytes import TokenByteTable
from golfkit.errors import GolfkitError
from golfkit.eval.model import GPT
from golfkit.eval.precision import autocast_context, resolve
from golfkit.eval.windows import Window

# (inputs [B, T] int64, targets [B, S] int64) -> per-target loss in nats [B, S], float32 or wider.
# Attributes evaluate() reads: `device` (where to build the windows), `fixed_batch` (pad every batch to one shape).
NllFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# On a GPU: 64 windows of 1024 per batch, large enough matrices for the tensor cores at the baseline size.
DEFAULT_BATCH_TOKENS = 65_536
# On a CPU, windows whose activations stay in cache beat big batches: measured on 2 cores at the baseline
# size (1024 x 512), one window per batch ran 1.6x faster per window than 16; at the example size
# (256 x 128) 16 windows per batch were best. About 2^19 floats of [tokens, model_dim] per batch.
CPU_BATCH_FLOATS = 1 << 19


def default_batch_tokens(device: torch.device, model_dim: int) -> int:
    """Input tokens per batch when the user gives none: large on a GPU, cache-sized on a CPU."""
    return DEFAULT_BATCH_TOKENS if device.type == "cuda" else max(1, CPU_BATCH_FLOATS // model_dim)
CPU = torch.device("cpu")


@dataclass(frozen=True)
class EvalResult:
    """Sums over every scored target, and the metrics they give."""

    mode: str  # "standard" or "sliding"
    seq_len: int
    stride: int
    loss_sum: float  # nats
    tokens: int
    bytes: int
    wall_s: float

    @property
    def val_loss(self) -> float:
        return self.loss_sum / self.tokens

    @property
    def val_bpb(self) -> float:
        return self.loss_sum / math.log(2) / self.bytes

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "seq_len": self.seq_len, "stride": self.stride, "val_loss": self.val_loss,
                "val_bpb": self.val_bpb, "loss_sum": self.loss_sum, "tokens": self.tokens, "bytes": self.bytes,
                "wall_s": self.wall_s}


@dataclass(frozen=True)
class Dist:
    """Where this process stands in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = CPU

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> Dist:
    """Join the process group that `torchrun` describes in the environment (nccl on CUDA, gloo on CPU).

    Without torchrun (WORLD_SIZE unset or 1) this is a single process on `device` (default: CUDA if present).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise GolfkitError(f"--device {device}: this torch sees no CUDA device; use --device cpu")
    if device is not None and not use_cuda and device != "cpu":
        raise GolfkitError(f"--device {device}: use cpu, cuda or cuda:N")
    if use_cuda:
        dev = torch.device("cuda", local) if world > 1 else torch.device(device or "cuda")
        if dev.index is None:  # set_device needs an index ("cuda" alone raised on torch 2.11)
            dev = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo", device_id=dev if use_cuda else None)
    return Dist(rank, world, dev)


def finish_distributed() -> None:
    """Leave the process group this process joined, if any. A gloo group left to the interpreter's exit
    can abort the process ("terminate called without an active exception") after the work is done."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def model_nll(model: GPT, device: torch.device, compile: bool = False, precision: str = "auto") -> NllFn:
    """Per-target loss of golfkit's own model: only the scored suffix reaches the head and the loss.

    `precision` (golfkit.eval.precision): `auto` is bf16 autocast on CUDA (as the challenge's trainers
    evaluate) and float32 elsewhere; `bf16` on a CPU emulates CUDA's autocast. `compile` compiles the body
    (not under the CPU's emulation, which torch.compile does not trace); on CUDA it also replays it as a
    CUDA graph, every batch padded to one shape.
    """
    precision = resolve(precision, device)
    compiled = compile and (device.type == "cuda" or precision == "fp32")
    cuda_graphs = compiled and device.type == "cuda"
    hidden = model.hidden
    if compiled:
        hidden = torch.compile(model.hidden, dynamic=False, mode="reduce-overhead" if cuda_graphs else None)

    def nll(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with autocast_context(device, precision):
            h = hidden(inputs)[:, -targets.size(1):]
            logits = model.logits(h)
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)

    nll.device = device  # where evaluate() builds the windows when no Dist says so
    nll.fixed_batch = cuda_graphs
    nll.precision = precision
    return nll


def batches(windows: list[Window], batch_tokens: int, rank: int = 0, world_size: int = 1) -> Iterator[list[Window]]:
    """This rank's windows, grouped by shape (length, scored) and cut into batches of ~batch_tokens inputs."""
    for _, mine, size in _groups(windows, batch_tokens, rank, world_size):
        for i in range(0, len(mine), size):
            yield mine[i : i + size]


def _groups(windows: list[Window], batch_tokens: int, rank: int,
            world_size: int) -> Iterator[tuple[tuple[int, int], list[Window], int]]:
    """(shape, this rank's windows of that shape, windows per batch) for each shape (length, scored)."""
    groups: dict[tuple[int, int], list[Window]] = {}
    for w in windows:
        groups.setdefault((w.length, w.scored), []).append(w)
    for shape, group in groups.items():
        yield shape, group[rank::world_size], max(1, batch_tokens // shape[0])


def evaluate(
    stream: np.ndarray,
    table: TokenByteTable,
    windows: list[Window],
    nll: NllFn,
    *,
    mode: str,
    seq_len: int,
    stride: int,
    dist: Dist | None = None,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    progress: bool | None = None,
) -> EvalResult:
    """Score `windows` over the token `stream` and return the summed loss, targets and bytes.

    `stream` is the trimmed validation stream (N tokens, N - 1 targets); bytes come from `table`.
    """
    # the windows are built where the model runs: the Dist's device, else the one the loss function names
    dist = dist or Dist(device=getattr(nll, "device", CPU))
    device, pad = dist.device, bool(getattr(nll, "fixed_batch", False))
    t0 = time.perf_counter()
    cum_bytes = np.concatenate(([0], np.cumsum(table.target_bytes(stream))))
    tokens_t = torch.from_numpy(np.asarray(stream, dtype=np.int64)).to(device)
    groups = list(_groups(windows, batch_tokens, dist.rank, dist.world_size))
    bar = Progress(sum(len(mine) for _, mine, _ in groups), enabled=progress if progress is not None else dist.rank == 0)
    loss_sum: torch.Tensor | None = None  # on the device the losses come from, read once at the end
    n_tokens, n_bytes = 0, 0
    with torch.inference_mode():
        for (length, scored), mine, size in groups:
            if not mine:
                continue
            ends = np.fromiter((w.end for w in mine), np.int64, len(mine))
            froms = np.fromiter((w.score_from for w in mine), np.int64, len(mine))
            n_bytes += int((cum_bytes[ends] - cum_bytes[froms]).sum())
            starts = torch.from_numpy(ends - length).to(device)
            offsets = torch.arange(length + 1, device=device)
            for i in range(0, len(mine), size):
                batch_starts = starts[i : i + size]
                n = batch_starts.numel()
                if pad and n < size:  # one shape for a compiled body: repeat the last window, score only the real ones
                    batch_starts = torch.cat((batch_starts, batch_starts[-1:].expand(size - n)))
                seqs = tokens_t[batch_starts[:, None] + offsets]
                part = nll(seqs[:, :-1], seqs[:, -scored:])[:n].double().sum()
                loss_sum = part if loss_sum is None else loss_sum + part
                n_tokens += scored * n
                bar.update(n, n_tokens)
    loss = loss_sum.item() if loss_sum is not None else 0.0
    bar.close()
    wall = time.perf_counter() - t0
    if dist.active:
        sums = torch.tensor([loss, n_tokens, n_bytes, wall], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(sums[:3])
        torch.distributed.all_reduce(sums[3:], op=torch.distributed.ReduceOp.MAX)
        loss, n_tokens, n_bytes, wall = sums[0].item(), round(sums[1].item()), round(sums[2].item()), sums[3].item()
    return EvalResult(mode, seq_len, stride, loss, n_tokens, n_bytes, wall)


class Progress:
    """A one-line progress bar on a terminal (stderr); silent when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool = True):
        self.total, self.done = total, 0
        self.enabled = enabled and sys.stderr.isatty()
        self.t0 = time.perf_counter()

    def update(self, n: int, tokens: int) -> None:
        self.done += n
        if self.enabled:
            rate = tokens / max(time.perf_counter() - self.t0, 1e-9)
            width = 30
            fill = width * self.done // max(self.total, 1)
            sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} windows {rate:,.0f} tok/s")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
