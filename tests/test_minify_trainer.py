"""The reference trainer runs the same as written, minified, and wrapped: identical metric lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from golfkit.files import read_source
from golfkit.minify.packer import pack

TRAINER = Path(__file__).resolve().parents[1] / "templates" / "train_gpt.py"
METRIC = re.compile(r"val_loss:\s*\S+ val_bpb:\s*\S+")

pytestmark = pytest.mark.skipif(not TRAINER.is_file(), reason="templates/train_gpt.py not written yet")


def run_trainer(script: Path, data: Path, workdir: Path) -> list[str]:
    workdir.mkdir()
    env = dict(
        os.environ,
        DATA_PATH=str(data), TOKENIZER_PATH=str(data / "tokenizer.model"), VOCAB_SIZE="512",
        ITERATIONS="3", NUM_LAYERS="2", MODEL_DIM="32", NUM_HEADS="2", NUM_KV_HEADS="1", TRAIN_SEQ_LEN="64",
        TRAIN_BATCH_TOKENS="1024", VAL_BATCH_SIZE="4096", VAL_LOSS_EVERY="0", WARMUP_STEPS="1",
        WARMDOWN_ITERS="1", RUN_ID="minify", SEED="7", OMP_NUM_THREADS="1", EVAL_STRIDE="32",
    )
    result = subprocess.run([sys.executable, str(script)], check=False, cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


def metric_lines(lines: list[str]) -> list[str]:
    """Every loss/bpb figure and model size the run printed (timings and code size vary by design)."""
    found = [m.group(0) for line in lines for m in [METRIC.search(line)] if m]
    found += [line for line in lines if "_exact " in line or line.startswith("Serialized model")]
    return found


# The trainer reads its own bytes (not text) and never its source: no trap, so the latin1 encoding is open to it.
@pytest.mark.slow
@pytest.mark.fires("minify.proof.ok", "minify.wrap.needs_module")
@pytest.mark.quiet("minify.trap.reads_own_file", "minify.rename.off",
                   "minify.annotations.kept", "minify.docstrings.kept")
def test_trainer_runs_the_same_written_minified_and_wrapped(tmp_path):
    from golfkit.data.tokenizer import make_dataset

    data = tmp_path / "data"
    make_dataset(data, 512, 400, 30, 0)
    source = read_source(TRAINER)
    minified = pack(source, "train_gpt.py", wrap="none")
    wrapped = pack(source, "train_gpt.py", wrap="auto")
    assert minified.ok and wrapped.ok and wrapped.chosen is not None and wrapped.chosen.encoding == "latin1"
    scripts = {"written": TRAINER}
    for name, packed in (("minified", minified), ("wrapped", wrapped)):
        scripts[name] = tmp_path / f"{name}.py"
        scripts[name].write_bytes(packed.output)
    runs = {name: run_trainer(path, data, tmp_path / f"run_{name}") for name, path in scripts.items()}
    written = metric_lines(runs["written"])
    assert any(line.startswith("final_sliding_window_exact") for line in written)
    assert metric_lines(runs["minified"]) == written
    assert metric_lines(runs["wrapped"]) == written
    # The trainer reads its own bytes for "Code size": the wrapper's size, not the readable source's.
    assert f"Code size: {len(wrapped.output)} bytes" in runs["wrapped"]
