"""Benchmark: `golfkit build --fit` on a trained checkpoint, bytes versus round-trip validation loss.

Usage: python bench/bench_fit.py [--checkpoint CKPT] [--data DIR] [--calib-tokens N] [--codec best]
       [--json OUT] [--skip-cli]
Defaults: ../shared/trained's 9x512 checkpoint and its data, made here with the command its README gives
(`golfkit data synth DIR --vocab-size 1024 --train-docs 100000 --val-docs 1000`, seed 0) when --data is not
given. Calibration reads the train split only (as --fit does); the final numbers are the validation split's
round trip: each policy is built, its file decoded, and golfkit's model scores every 1,024-token window of
the validation tokens (the trainer's round-trip val_loss, in float32 on the CPU).

Reports: (1) the time `golfkit build --fit --dry-run` takes end to end on this CPU (the CLI's own path),
(2) the curve: uniform int5, int6, int7, int8 per row, the PR #99-style hand policy (rounded to nearest, as
a plain build stores them), and --fit (GPTQ on, its default) at each of their model bytes; then, at uniform
int6's bytes, --fit --no-gptq and uniform int6 with GPTQ, to tell the allocation's share from GPTQ's; per
point model bytes, calibration and validation loss increases over the float model.
Goals (issue 18): at uniform int6's bytes the fit's validation increase is at least 25% smaller than
uniform int6's, and the fit lies below every reference at every point measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from golfkit.artifact.compress import decompress
from golfkit.artifact.container import decode_container
from golfkit.data.shards import load_tokens
from golfkit.data.tokenizer import make_dataset
from golfkit.eval.model import ModelConfig
from golfkit.packing.arch import shapes_architecture
from golfkit.packing.calib import Calibration, calibration_loss, load_calibration, reference_model
from golfkit.packing.checkpoint import load_checkpoint
from golfkit.packing.fit import build_fit, fit_rules, prepare, reference_policies
from golfkit.packing.part_codecs import parse_codec
from golfkit.packing.pipeline import build_in_memory
from golfkit.packing.policy import auto_min_numel
from golfkit.packing.run import BuildOptions, run_build

REPO = Path(__file__).resolve().parents[1]
TRAINED = REPO.parent / "shared" / "trained" / "baseline_9x512_mlp3_synthetic.safetensors"
SEQ_LEN = 1024


def validation(data: Path) -> Calibration:
    """Every whole 1,024-token window of the validation split (the bench's final numbers, never calibration)."""
    tokens = torch.from_numpy(load_tokens(data, "val").astype(np.int64))
    n = (tokens.numel() - 1) // SEQ_LEN
    return Calibration(str(data / "fineweb_val_*.bin"), (), tokens[: n * SEQ_LEN].view(n, SEQ_LEN),
                       tokens[1 : n * SEQ_LEN + 1].view(n, SEQ_LEN))


def round_trip(built, config: ModelConfig) -> dict[str, torch.Tensor]:
    """The tensors the built file decodes to (not the in-memory records: the file is what ships)."""
    artifact = decode_container(decompress(built.blob, where="bench"), where="bench")
    return {rec.name: rec.dequantize() for rec in artifact.tensors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=TRAINED)
    ap.add_argument("--data", type=Path, help="a `golfkit data synth` folder of the checkpoint's data")
    ap.add_argument("--calib-tokens", type=int, default=16_384)
    ap.add_argument("--codec", default="best")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--skip-cli", action="store_true", help="skip timing the CLI's end-to-end --fit")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    tmp = tempfile.TemporaryDirectory()
    data = args.data
    if data is None:
        data = Path(tmp.name) / "data"
        t0 = time.perf_counter()
        make_dataset(data, vocab_size=1024, train_docs=100_000, val_docs=1_000, seed=0)
        print(f"data synth: {time.perf_counter() - t0:.1f} s", flush=True)
    out: dict = {"checkpoint": str(args.checkpoint), "codec": args.codec, "calib_tokens": args.calib_tokens}

    if not args.skip_cli:
        t0 = time.perf_counter()
        run = run_build(BuildOptions(checkpoint=args.checkpoint, codec=args.codec, fit="auto", calib=data,
                                     calib_tokens=args.calib_tokens, dry_run=True))
        cli_seconds = time.perf_counter() - t0
        out["cli"] = {"seconds": round(cli_seconds, 1), "model_bytes": run.fit.model_bytes,
                      "budget_bytes": run.fit.budget, "stages": {k: round(v, 1) for k, v in run.fit.seconds.items()},
                      "calib_increase": run.fit.increase, "calib_predicted": run.fit.predicted}
        print(f"--fit end to end (cap minus the decoder, dry run): {cli_seconds:.1f} s; stages {out['cli']['stages']}; "
              f"{run.fit.model_bytes:,} model bytes", flush=True)

    state = load_checkpoint(args.checkpoint)
    arch = shapes_architecture(state)
    config = ModelConfig.from_dict(arch)
    min_numel, _ = auto_min_numel(state)
    spec = parse_codec(args.codec)
    calib = load_calibration(data, config.vocab_size, SEQ_LEN, args.calib_tokens)
    val = validation(data)
    t0 = time.perf_counter()
    plan = prepare(state, config, calib, [], spec, {"model": arch}, min_numel, "bench")
    print(f"prepare (float loss, Fisher, options): {time.perf_counter() - t0:.1f} s", flush=True)
    float_val = calibration_loss(reference_model(state, config), val)
    out.update(float_calib_loss=plan.float_loss, float_val_loss=float_val, val_tokens=val.tokens, points=[])
    print(f"float: calibration {plan.float_loss:.6f}, validation {float_val:.6f} ({val.tokens:,} tokens)", flush=True)

    def point(label: str, built, predicted: float | None) -> dict:
        restored = round_trip(built, config)
        model = reference_model(restored, config)
        row = {"policy": label, "model_bytes": built.budget.model_bytes,
               "calib_increase": calibration_loss(model, calib) - plan.float_loss,
               "val_increase": calibration_loss(model, val) - float_val, "predicted": predicted}
        out["points"].append(row)
        print(f"{label:<36} {row['model_bytes']:>12,} calib {row['calib_increase']:+.6f} "
              f"val {row['val_increase']:+.6f}", flush=True)
        return row

    verdicts = []
    for label, policy in reference_policies(plan).items():
        ref_built = build_in_memory(state, fit_rules(policy), spec, plan.meta, min_numel, "bench")  # rounded
        ref = point(label, ref_built, None)
        t0 = time.perf_counter()
        fit_built, choice, builds = build_fit(plan, ref["model_bytes"])
        fit = point(f"--fit at {label}'s bytes", fit_built, sum(o.predicted for o in choice.values()))
        fit["seconds"], fit["builds"] = round(time.perf_counter() - t0, 1), builds
        fit["schemes"] = {o.scheme: sum(1 for c in choice.values() if c.scheme == o.scheme) for o in choice.values()}
        below = fit["val_increase"] < ref["val_increase"] and fit["model_bytes"] <= ref["model_bytes"]
        verdicts.append((label, below, 1 - fit["val_increase"] / ref["val_increase"]))
    # what GPTQ does on its own: the fit rounding to nearest, and uniform int6 compensated, at int6's bytes
    int6_bytes = next(p["model_bytes"] for p in out["points"] if p["policy"] == "uniform int6")
    plan.gptq = False
    no_gptq, choice, _ = build_fit(plan, int6_bytes)
    point("--fit --no-gptq at uniform int6's bytes", no_gptq, sum(o.predicted for o in choice.values()))
    plan.gptq = True
    point("uniform int6 + GPTQ", plan.build(reference_policies(plan)["uniform int6"]), None)
    out["below_every_reference"] = all(v[1] for v in verdicts)
    int6 = next(v for v in verdicts if v[0] == "uniform int6")
    out["int6_reduction"] = int6[2]
    print("\nfit below every reference:", out["below_every_reference"],
          "; reductions:", ", ".join(f"{label} {100 * r:.1f}%" for label, _, r in verdicts))
    print(f"at uniform int6's bytes the validation increase is {100 * int6[2]:.1f}% smaller (goal: >= 25%)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    sys.exit(0 if out["below_every_reference"] and int6[2] >= 0.25 else 1)


if __name__ == "__main__":
    main()
