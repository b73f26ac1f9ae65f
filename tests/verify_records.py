"""Synthetic record folders for the verify tests: a clean 3-seed record and its parts."""

from __future__ import annotations

import json
import math
from pathlib import Path

TOKENS = 62021632  # sp1024
BYTES = 151080363
SCRIPT = "import os\nprint('train')\n" + "# padding\n" * 40
LOSSES = {1337: 2.07100000, 42: 2.07200000, 2025: 2.07300000}
MODEL = {1337: 15_800_200, 42: 15_800_100, 2025: 15_800_000}


def bpb(loss: float, total_bytes: int = BYTES) -> float:
    return loss / math.log(2) * TOKENS / total_bytes


def log_text(seed: int, loss: float | None = None, model: int | None = None, code: int | None = None,
             train_ms: int = 599_000, tokens: int = TOKENS, source: str = SCRIPT, extra_config: str = "",
             total_bytes: int = BYTES) -> str:
    loss = LOSSES[seed] if loss is None else loss
    model = MODEL[seed] if model is None else model
    code = len(source.encode()) if code is None else code
    b = bpb(loss, total_bytes)
    return "\n".join([
        source,
        "=" * 100,
        "Running Python 3.12.3",
        "Running PyTorch 2.9.1",
        "=" * 100,
        "val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path=./data/tokenizers/fineweb_1024_bpe.model",
        f"val_loader:shards pattern=./data/datasets/fineweb10B_sp1024/fineweb_val_*.bin tokens:{tokens}",
        "model_params:17059912",
        f"train_batch_tokens:524288 train_seq_len:1024 iterations:20000 warmup_steps:20{extra_config}",
        f"seed:{seed}",
        "step:1/20000 train_loss:6.9 train_time:50ms step_avg:50.00ms",
        f"step:12000/20000 val_loss:{loss + 0.01:.4f} val_bpb:{b + 0.01:.4f} train_time:{train_ms}ms step_avg:49.92ms",
        f"stopping_early: wallclock_cap train_time:{train_ms}ms step:12000/20000",
        f"Serialized model int8+zlib: {model} bytes (payload:17178912 raw_torch:17224025 payload_ratio:3.91x)",
        f"Code size: {code} bytes",
        f"Total submission size int8+zlib: {model + code} bytes",
        f"final_int8_zlib_roundtrip val_loss:{loss:.4f} val_bpb:{b:.4f} eval_time:1401ms",
        f"final_int8_zlib_roundtrip_exact val_loss:{loss:.8f} val_bpb:{b:.8f}",
        "",
    ])


def submission(seeds=(1337, 42, 2025), losses: dict | None = None) -> dict:
    """The submission.json of a clean record; `losses` (seed -> val_loss) replaces LOSSES."""
    per_seed = LOSSES if losses is None else losses
    code = len(SCRIPT.encode())
    results = {str(s): {"val_loss": float(f"{per_seed[s]:.8f}"), "val_bpb": float(f"{bpb(per_seed[s]):.8f}"),
                        "bytes_total": MODEL[s] + code} for s in seeds}
    mean_loss = sum(per_seed[s] for s in seeds) / len(seeds)
    mean_bpb = sum(float(f"{bpb(per_seed[s]):.8f}") for s in seeds) / len(seeds)
    return {
        "name": "Synthetic", "author": "Test", "github_id": "test", "date": "2026-11-22", "track": "10min_16mb",
        "val_loss": round(mean_loss, 8), "val_bpb": round(mean_bpb, 8),
        "bytes_total": max(MODEL[s] for s in seeds) + code, "bytes_code": code,
        "seeds": list(seeds), "seed_results": results, "hardware": "8xH100 80GB SXM",
    }


def write_record(root: Path, seeds=(1337, 42, 2025), sub: dict | None = None, logs: dict | None = None,
                 losses: dict | None = None) -> Path:
    """A clean record in `root/track_10min_16mb/synthetic`; `logs` maps file name -> text to override,
    `losses` (seed -> val_loss) replaces LOSSES in the logs and the submission."""
    folder = root / "track_10min_16mb" / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("# Synthetic\n")
    (folder / "train_gpt.py").write_text(SCRIPT)
    (folder / "submission.json").write_text(json.dumps(sub if sub is not None else submission(seeds, losses), indent=2))
    per_seed = LOSSES if losses is None else losses
    texts = logs if logs is not None else {f"train_seed{s}.log": log_text(s, per_seed[s]) for s in seeds}
    for name, text in texts.items():
        (folder / name).write_text(text)
    return folder
