"""Benchmark golfkit's sliding-window evaluation (not a test).

For each model size, in the same run: golfkit's batched, suffix-only loop (`golfkit.eval.evaluate`),
optionally torch.compile'd, against a naive loop that runs one window at a time through the whole
model (full logits, loss on every position, then the scored slice). Also the machine's measured
matmul FLOP/s and the fraction of it the evaluation reaches, and the projected time for the full
sp1024 validation set (62,021,632 targets) at stride 64.

    python bench/bench_eval.py                       # CPU, example + baseline sizes
    python bench/bench_eval.py --device cuda --compile --windows 512
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from golfkit.data.token_bytes import TokenByteTable
from golfkit.eval.evaluate import default_batch_tokens, evaluate, model_nll
from golfkit.eval.model import GPT, ModelConfig
from golfkit.eval.windows import sliding_windows

FULL_TARGETS = 62_021_632
EXAMPLE = Path(__file__).resolve().parents[1] / "records" / "track_non_record_16mb" / "2026-11-22_golfkit_reference_cpu"
SIZES = {
    "baseline": (ModelConfig(1024, 9, 512, 8, 4, 2), 1024),
    "example-fallback": (ModelConfig(512, 4, 128, 4, 2, 2), 256),
}


def matmul_flops(device: torch.device, dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return reps * 2 * n**3 / (time.perf_counter() - t0)


def window_flops(cfg: ModelConfig, length: int, scored: int) -> float:
    """Matmul FLOPs golfkit needs for one window: the body on every position, the head on the scored ones."""
    d, kv, m = cfg.model_dim, cfg.num_kv_heads * cfg.head_dim, cfg.mlp_mult * cfg.model_dim
    linear = 2 * (2 * d * d + 2 * d * kv + 2 * d * m) * length
    attention = 4 * d * length * (length + 1) / 2  # causal: position t attends to t + 1 keys
    return cfg.num_layers * (linear + attention) + 2 * d * cfg.vocab_size * scored


def naive(model: GPT, stream: torch.Tensor, windows, device: torch.device) -> float:
    loss = 0.0
    with torch.no_grad():
        for w in windows:
            logits = model(stream[w.start:w.end][None])[0]
            per = F.cross_entropy(logits.float(), stream[w.start + 1:w.end + 1], reduction="none")
            loss += per[w.score_from - w.start:].double().sum().item()
    return loss


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _example_model(device: torch.device) -> tuple[str, GPT, int] | None:
    from golfkit.eval.load import load_model

    found = sorted(EXAMPLE.glob("*.ptz"))
    if not found:
        return None
    model, art = load_model(found[0], device=device)
    return f"example ({found[0].name})", model, int(art.meta["train_seq_len"])


def bench(name: str, model: GPT, seq_len: int, args: argparse.Namespace, device: torch.device,
          peak: float) -> dict:
    cfg, stride = model.cfg, args.stride
    targets = seq_len + stride * args.windows
    rng = np.random.default_rng(0)
    stream = rng.integers(0, cfg.vocab_size, targets + 1).astype(np.uint16)
    table = TokenByteTable(np.ones(cfg.vocab_size, np.int64), np.zeros(cfg.vocab_size, bool),
                           np.zeros(cfg.vocab_size, bool))
    windows = sliding_windows(targets, seq_len, stride)[1:]  # steady state: full windows scoring `stride`
    scored = sum(w.scored for w in windows)
    flops = window_flops(cfg, seq_len, stride) * len(windows)
    toks = torch.from_numpy(stream.astype(np.int64)).to(device)
    out = {"model": name, "config": vars(cfg), "seq_len": seq_len, "stride": stride, "windows": len(windows)}

    naive_windows = windows[: max(1, len(windows) // args.naive_fraction)]
    naive(model, toks, naive_windows[:1], device)
    _sync(device)
    t0 = time.perf_counter()
    naive(model, toks, naive_windows, device)
    _sync(device)
    naive_rate = sum(w.scored for w in naive_windows) / (time.perf_counter() - t0)
    out["naive_tokens_per_s"] = naive_rate

    batch_tokens = args.batch_tokens or default_batch_tokens(device, cfg.model_dim)
    out["batch_tokens"] = batch_tokens
    variants = [("golfkit", False)] + ([("golfkit+compile", True)] if args.compile else [])
    for label, compile in variants:
        nll = model_nll(model, device, compile=compile)
        # Warm-up on every batch shape of the timed run, so that a compiled body is not recompiled inside it.
        warm_windows = windows if compile else windows[: max(1, batch_tokens // seq_len)]
        t0 = time.perf_counter()
        evaluate(stream, table, warm_windows, nll, mode="sliding", seq_len=seq_len, stride=stride,
                 batch_tokens=batch_tokens, progress=False)
        warm = time.perf_counter() - t0
        res = evaluate(stream, table, windows, nll, mode="sliding", seq_len=seq_len, stride=stride,
                       batch_tokens=batch_tokens, progress=False)
        # On a shared machine the attainable matmul rate drifts: compare with the best one seen around the run.
        peak = max(peak, matmul_flops(device, torch.bfloat16 if device.type == "cuda" else torch.float32))
        rate = scored / res.wall_s
        out[label] = {"tokens_per_s": rate, "speedup_vs_naive": rate / naive_rate, "warmup_s": warm,
                      "flops_per_s": flops / res.wall_s, "fraction_of_matmul_peak": flops / res.wall_s / peak,
                      "matmul_peak_used": peak, "projected_full_val_s": FULL_TARGETS / rate}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--windows", type=int, default=16, help="sliding windows timed per model")
    parser.add_argument("--naive-fraction", type=int, default=2, help="naive loop times 1/N of the windows")
    parser.add_argument("--stride", type=int, default=64)
    parser.add_argument("--batch-tokens", type=int, default=None,
                        help="input tokens per batch (default: golfkit eval's own choice for the device and model)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd golfkit")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", choices=("example", "baseline"), default=None, help="time one model size only")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    peak = matmul_flops(device, dtype)
    print(f"device {device} threads {torch.get_num_threads()} load {os.getloadavg()[0]:.1f}: "
          f"measured {dtype} matmul {peak / 1e9:,.1f} GFLOP/s")
    torch.manual_seed(0)
    models = []
    if args.only != "baseline":
        example = _example_model(device)
        if example is not None:
            models.append(example)
        else:
            cfg, seq = SIZES["example-fallback"]
            models.append(("example-sized (no example record found)", GPT(cfg).to(device).eval(), seq))
    if args.only != "example":
        cfg, seq = SIZES["baseline"]
        models.append(("baseline 9x512 vocab 1024", GPT(cfg).to(device).eval(), seq))
    results = {"device": str(device), "matmul_flops_per_s": peak, "models": []}
    for name, model, seq in models:
        r = bench(name, model, seq, args, device, peak)
        results["models"].append(r)
        print(f"\n{name}: seq_len {seq} stride {args.stride}, {r['windows']} windows")
        print(f"  naive one-window loop      {r['naive_tokens_per_s']:>12,.0f} scored tokens/s")
        for label in ("golfkit", "golfkit+compile"):
            if label in r:
                g = r[label]
                print(f"  {label:<26} {g['tokens_per_s']:>12,.0f} scored tokens/s  {g['speedup_vs_naive']:.1f}x naive  "
                      f"{g['flops_per_s'] / 1e9:,.1f} GFLOP/s = {100 * g['fraction_of_matmul_peak']:.0f}% of matmul  "
                      f"warm-up {g['warmup_s']:.1f}s  full val at stride {args.stride}: "
                      f"{g['projected_full_val_s'] / 3600:,.1f} h")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
