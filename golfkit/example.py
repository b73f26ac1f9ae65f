"""Regenerate golfkit's example record: a real, small, CPU-trained submission of the reference trainer.

    python -m golfkit.example [OUT_DIR] [--force]

Synthetic corpus -> tokenizer and shards -> templates/train_gpt.py run once per seed -> a record folder
laid out like the challenge's (train_gpt.py, train_seed<N>.log, final_model_seed<N>.int8.ptz,
tokenizer.model, fineweb_val_000000.bin, submission.json, README.md). Every number in submission.json
and README.md is read from the logs the trainer wrote, or computed from the shipped files.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import click
import numpy as np

from golfkit.data.shards import load_tokens, read_shard
from golfkit.data.tokenizer import load_tokenizer, make_dataset, target_bytes
from golfkit.errors import GolfkitError, exit_bad_input

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent  # the source tree, when golfkit runs from one
# The reference trainer: inside the installed package (a wheel ships templates/ as golfkit/templates), else
# templates/ of the source tree.
TRAINER = next((p for p in (PACKAGE / "templates" / "train_gpt.py", REPO / "templates" / "train_gpt.py") if p.is_file()),
               PACKAGE / "templates" / "train_gpt.py")
DEFAULT_OUT = Path("records") / "track_non_record_16mb" / "2026-11-22_golfkit_reference_cpu"
SEEDS = (1337, 42, 2025)
VOCAB_SIZE = 512
TRAIN_DOCS, VAL_DOCS, DATA_SEED = 20_000, 300, 0
# The trainer's environment: the tiny CPU configuration the record was trained with.
CONFIG = {
    "VOCAB_SIZE": "512",
    "NUM_LAYERS": "4",
    "MODEL_DIM": "128",
    "NUM_HEADS": "4",
    "NUM_KV_HEADS": "2",
    "MLP_MULT": "2",
    "TRAIN_SEQ_LEN": "256",
    "TRAIN_BATCH_TOKENS": "4096",
    "ITERATIONS": "2000",
    "WARMUP_STEPS": "0",
    "WARMDOWN_ITERS": "20",
    "MAX_WALLCLOCK_SECONDS": "120",
    "MATRIX_LR": "0.06",
    "SCALAR_LR": "0.04",
    "TIED_EMBED_LR": "0.05",
    "MUON_MOMENTUM_WARMUP_STEPS": "20",
    "VAL_LOSS_EVERY": "25",
    "TRAIN_LOG_EVERY": "10",
    "VAL_BATCH_SIZE": "131072",
    "EVAL_STRIDE": "64",
    "QUANT_MIN_NUMEL": "4096",
    "COMPRESSOR": "zstd",
    # One thread: on a busy machine, two OpenMP threads per run spin against each other and crawl.
    "OMP_NUM_THREADS": "1",
}
RECORD_FILES_MAX_BYTES = 3_000_000


@dataclass(frozen=True)
class SeedRun:
    """The numbers of one seed, as its log printed them."""

    seed: int
    val_loss: Decimal
    val_bpb: Decimal
    bytes_total: int
    bytes_model: int
    bytes_code: int
    steps: int
    train_time_ms: int
    val_tokens: int


def _last(pattern: str, text: str, where: str) -> re.Match:
    matches = list(re.finditer(pattern, text, flags=re.MULTILINE))
    if not matches:
        raise GolfkitError(f"{where}: no line matches {pattern!r}; the trainer did not finish, see the log")
    return matches[-1]


def parse_log(path: Path, seed: int) -> SeedRun:
    """Read the final metrics, sizes and step counts that the reference trainer logs."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    where = str(path)
    sliding = _last(r"^final_sliding_window_exact val_loss:(\S+) val_bpb:(\S+)$", text, where)
    final_val = _last(r"^step:(\d+)/\d+ val_loss:\S+ val_bpb:\S+ train_time:(\d+)ms", text, where)
    return SeedRun(
        seed=seed,
        val_loss=Decimal(sliding[1]),
        val_bpb=Decimal(sliding[2]),
        bytes_total=int(_last(r"^Total submission size int8\+\w+: (\d+) bytes$", text, where)[1]),
        bytes_model=int(_last(r"^Serialized model int8\+\w+: (\d+) bytes", text, where)[1]),
        bytes_code=int(_last(r"^Code size: (\d+) bytes$", text, where)[1]),
        steps=int(final_val[1]),
        train_time_ms=int(final_val[2]),
        val_tokens=int(_last(r"^val_loader:shards pattern=\S+ tokens:(\d+)$", text, where)[1]),
    )


def unigram_bpb(data_dir: Path, val_tokens: np.ndarray, val_bytes: int) -> float:
    """bits per byte of an add-one-smoothed unigram fitted on the train shards, on the same targets."""
    counts = np.bincount(load_tokens(data_dir, "train"), minlength=VOCAB_SIZE).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[val_tokens[1:]].sum() / math.log(2) / val_bytes)


PLACES = Decimal("1e-8")  # the _exact lines' precision


def _mean(values: list[Decimal]) -> Decimal:
    return (sum(values, Decimal(0)) / len(values)).quantize(PLACES, rounding=ROUND_HALF_EVEN)


def _sample_std(values: list[Decimal]) -> Decimal:
    avg = sum(values, Decimal(0)) / len(values)
    var = sum(((v - avg) ** 2 for v in values), Decimal(0)) / (len(values) - 1)
    return var.sqrt().quantize(PLACES, rounding=ROUND_HALF_EVEN)


def build_submission(runs: list[SeedRun], val_bytes: int) -> dict:
    """submission.json in golfkit's canonical schema (golfkit/schema/submission.schema.json)."""
    bpbs, losses = [r.val_bpb for r in runs], [r.val_loss for r in runs]
    return {
        "name": "golfkit reference trainer, CPU example",
        "author": "golfkit",
        "github_id": "golfkit",
        "date": "2026-11-22",
        "track": "non_record_16mb",
        "blurb": "The golfkit reference trainer (templates/train_gpt.py, the baseline GPT family) at a tiny "
                 "size on a synthetic corpus, trained on CPU under a 120 s cap per seed; scored by the "
                 "final sliding-window evaluation of the int8+zstd artifact as read back from disk.",
        "val_bpb": _mean(bpbs),
        "val_loss": _mean(losses),
        "val_bpb_std": _sample_std(bpbs),
        "val_loss_std": _sample_std(losses),
        "bytes_total": max(r.bytes_total for r in runs),
        "bytes_code": runs[0].bytes_code,
        "seeds": [r.seed for r in runs],
        "seed_results": {
            str(r.seed): {
                "val_bpb": r.val_bpb,
                "val_loss": r.val_loss,
                "bytes_total": r.bytes_total,
                "steps": r.steps,
                "train_time_ms": r.train_time_ms,
                "extra": {"bytes_model": r.bytes_model, "log": f"train_seed{r.seed}.log",
                          "artifact": f"final_model_seed{r.seed}.int8.ptz"},
            }
            for r in runs
        },
        "hardware": "CPU",
        "data": {"variant": "custom", "val_tokens": runs[0].val_tokens, "val_bytes": val_bytes,
                 "tokenizer": "tokenizer.model"},
        "extra": {"metric": "final_sliding_window_exact", "config": dict(CONFIG)},
    }


def dump_json(doc: dict) -> str:
    """JSON with every Decimal written exactly as printed in the logs (trailing zeros kept)."""
    marked = json.dumps(doc, indent=2, ensure_ascii=False, default=lambda d: f"\x00{d:f}\x00")
    return re.sub(r'"\\u0000(-?[0-9.]+)\\u0000"', r"\1", marked) + "\n"


def render_readme(sub: dict, unigram: float) -> str:
    rows = "\n".join(
        f"| {seed} | {r['val_bpb']:.8f} | {r['val_loss']:.8f} | {r['steps']} | {r['train_time_ms']} | "
        f"{r['extra']['bytes_model']:,} | {r['bytes_total']:,} |"
        for seed, r in sub["seed_results"].items()
    )
    config = " ".join(f"{k}={v}" for k, v in CONFIG.items())
    return f"""# golfkit reference trainer: CPU example record

A real record folder produced end to end by golfkit, for golfkit's own tests and as an example of the
layout the challenge expects. It is **not** a leaderboard entry: the data is golfkit's synthetic
English-like corpus (`golfkit.data.synthetic`), tokenized with a {VOCAB_SIZE}-piece SentencePiece BPE model
(`tokenizer.model`), and the model is the reference trainer (`train_gpt.py`, a byte copy of golfkit's
`templates/train_gpt.py`) at a tiny size, trained on CPU for at most
{CONFIG['MAX_WALLCLOCK_SECONDS']} s per seed. Step counts depend on the machine's speed.

Regenerate it from scratch (CPU, about 10 to 15 minutes):

```
python -m golfkit.example --force
```

## Results

Score: final sliding-window evaluation (window {CONFIG['TRAIN_SEQ_LEN']}, stride
{CONFIG['EVAL_STRIDE']}) of the int8+zstd artifact as read back from disk, on
{sub['data']['val_tokens']:,} validation targets ({sub['data']['val_bytes']:,} bytes).

| seed | val_bpb | val_loss (nats) | steps | train_time_ms | model bytes | total bytes |
|---|---|---|---|---|---|---|
{rows}

Mean val_bpb **{sub['val_bpb']:.8f}** (std {sub['val_bpb_std']:.8f}), mean val_loss {sub['val_loss']:.8f} nats;
code {sub['bytes_code']:,} bytes, largest total {sub['bytes_total']:,} bytes.

For scale, on the same validation targets with the same byte accounting:

| model | val_bpb |
|---|---|
| unigram fitted on the training shards (add-one smoothing) | {unigram:.8f} |
| this record (mean of {len(sub['seeds'])} seeds) | {sub['val_bpb']:.8f} |

## Files

- `train_gpt.py`: the trainer; `train_seed<N>.log`: its logs, exactly as written (source, environment,
  runtime lines); `final_model_seed<N>.int8.ptz`: the artifacts (golfkit container v1, int8 per row, zstd).
- `tokenizer.model`, `fineweb_val_000000.bin`: the tokenizer and validation shard the scores refer to.
- `submission.json`: the claims, every number taken from the logs.

Configuration (environment of each run, plus `SEED`, `DATA_PATH`, `TOKENIZER_PATH`, `RUN_ID`):
`{config}`
"""


def run_trainer(script: Path, data_dir: Path, seed: int, workdir: Path) -> Path:
    """Run the trainer once in `workdir`; return its log."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **CONFIG, "SEED": str(seed), "RUN_ID": f"train_seed{seed}",
           "DATA_PATH": str(data_dir), "TOKENIZER_PATH": str(data_dir / "tokenizer.model")}
    click.echo(f"training seed {seed} ...", err=True)
    proc = subprocess.run([sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise GolfkitError(f"trainer failed for seed {seed} (exit {proc.returncode}): {tail[0]}")
    return workdir / "logs" / f"train_seed{seed}.txt"


def generate(out: Path, force: bool = False) -> dict:
    """Build the example record into `out` (replacing it only with `force`); return submission.json."""
    if out.exists() and not force:
        raise GolfkitError(f"{out}: already exists; pass --force to regenerate it")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="golfkit-example-") as tmp:
        tmp = Path(tmp)
        stage = tmp / "record"
        stage.mkdir()
        ds = make_dataset(tmp / "data", VOCAB_SIZE, TRAIN_DOCS, VAL_DOCS, DATA_SEED)
        shutil.copyfile(TRAINER, stage / "train_gpt.py")
        shutil.copyfile(ds.tokenizer, stage / "tokenizer.model")
        shutil.copyfile(ds.val_shard, stage / "fineweb_val_000000.bin")
        runs = []
        for seed in SEEDS:
            log = run_trainer(stage / "train_gpt.py", tmp / "data", seed, tmp / f"run{seed}")
            shutil.copyfile(log, stage / f"train_seed{seed}.log")
            shutil.copyfile(log.parent.parent / "final_model.int8.ptz", stage / f"final_model_seed{seed}.int8.ptz")
            runs.append(parse_log(stage / f"train_seed{seed}.log", seed))

        val = read_shard(ds.val_shard).astype(np.int64)[: runs[0].val_tokens + 1]
        val_bytes = int(target_bytes(load_tokenizer(ds.tokenizer, VOCAB_SIZE), val).sum())
        sub = build_submission(runs, val_bytes)
        (stage / "submission.json").write_text(dump_json(sub))
        (stage / "README.md").write_text(render_readme(sub, unigram_bpb(tmp / "data", val, val_bytes)))

        total = sum(p.stat().st_size for p in stage.iterdir())
        if total > RECORD_FILES_MAX_BYTES:
            raise GolfkitError(f"example record is {total:,} bytes, over the {RECORD_FILES_MAX_BYTES:,} limit")
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(stage, out)
    return sub


@click.command()
@click.argument("out", required=False, type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT)
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def main(out: Path, force: bool) -> None:
    """Regenerate golfkit's example record into OUT (default: the one in records/)."""
    try:
        sub = generate(out, force)
    except GolfkitError as exc:
        exit_bad_input(exc)
    click.echo(f"{out}: val_bpb {sub['val_bpb']} (seeds {sub['seeds']}), bytes_total {sub['bytes_total']}")


if __name__ == "__main__":
    main()
