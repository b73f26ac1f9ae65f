"""The participant's path, end to end, as the README tells it: nothing beyond paths and author names.

    golfkit data synth -> the reference trainer (tiny, CPU) -> golfkit build --codec best -> golfkit eval (no
    architecture flag) -> the trainer evaluating the build output -> golfkit new (the build output) ->
    golfkit check -> golfkit ci --check on a temporary git repository

and, with one claim edited, check and ci fail on that claim. The trainer's hyperparameters are the tiny
CPU ones of tests/test_trainer.py (they are the run's settings, not golfkit flags)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from cli_helpers import assert_no_crash
from click.testing import CliRunner

from golfkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
TRAINER = ROOT / "templates" / "train_gpt.py"
TINY = {
    "VOCAB_SIZE": "512", "NUM_LAYERS": "3", "MODEL_DIM": "32", "NUM_HEADS": "4", "NUM_KV_HEADS": "2",
    "MLP_MULT": "2", "TRAIN_SEQ_LEN": "64", "TRAIN_BATCH_TOKENS": "1024", "ITERATIONS": "4",
    "WARMUP_STEPS": "1", "WARMDOWN_ITERS": "2", "VAL_LOSS_EVERY": "2", "TRAIN_LOG_EVERY": "1",
    "MAX_WALLCLOCK_SECONDS": "0", "EVAL_STRIDE": "16", "QUANT_MIN_NUMEL": "256", "VAL_BATCH_SIZE": "8192",
    "MATRIX_LR": "0.1", "OMP_NUM_THREADS": "1", "SEED": "1337",
}
FOLDER = "records/track_non_record_16mb/2026-12-01_tiny_participant"
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def golfkit(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert_no_crash(result)
    return result.exit_code, result.output


def trainer(run: Path, data: Path, **env: str) -> subprocess.CompletedProcess:
    paths = {"DATA_PATH": str(data), "TOKENIZER_PATH": str(data / "tokenizer.model")}
    proc = subprocess.run([sys.executable, "train_gpt.py"], cwd=run, env={**os.environ, **TINY, **paths, **env},
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)


def metric(text: str, label: str) -> tuple[float, float]:
    m = re.search(rf"^{label} val_loss:(\S+) val_bpb:(\S+)$", text, re.MULTILINE)
    assert m, f"no {label} line"
    return float(m[1]), float(m[2])


@pytest.fixture(scope="module")
def path(tmp_path_factory) -> dict[str, Path]:
    """Walk the path once, up to and including `golfkit new` in a git repository's pull-request branch."""
    tmp = tmp_path_factory.mktemp("participant")
    data, run, repo = tmp / "data", tmp / "run", tmp / "repo"
    code, out = golfkit("data", "synth", str(data), "--train-docs", "1500", "--val-docs", "12", "--seed", "2")
    assert code == 0, out
    run.mkdir()
    shutil.copyfile(TRAINER, run / "train_gpt.py")  # a participant copies the trainer and runs it there
    trainer(run, data, RUN_ID="train_seed1337")

    code, out = golfkit("build", "--checkpoint", str(run / "final_model.pt"), "--code", str(run / "train_gpt.py"),
                        "--codec", "best", "-o", str(run / "final_model.ptz"), "--loader", str(run / "artifact_loader.py"))
    assert code == 0, out
    assert "train_seq_len 64" in out and "3 layers x 32" in out  # what eval will find in the header

    code, evaluated = golfkit("eval", str(run / "final_model.ptz"), "--data", str(data),
                              "--tokenizer", str(data / "tokenizer.model"))
    assert code == 0, evaluated

    trainer(run, data, RUN_ID="eval_seed1337", EVAL_ARTIFACT="final_model.ptz", ARTIFACT_LOADER="artifact_loader.py")
    logged = (run / "logs" / "eval_seed1337.txt").read_text(encoding="utf-8")
    m = re.search(r"^standard\s+val_loss:(\S+) val_bpb:(\S+)", evaluated, re.MULTILINE)
    assert m, evaluated
    assert float(m[2]) == pytest.approx(metric(logged, "final_artifact_roundtrip_exact")[1], abs=1e-4)

    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ada@example.com")
    git(repo, "config", "user.name", "Ada L")
    (repo / "README.md").write_text("records\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "records")
    git(repo, "checkout", "-qb", "tiny")
    code, out = golfkit("new", str(repo / FOLDER), "--logs", *map(str, sorted((run / "logs").glob("*.txt"))),
                        "--code", str(run / "train_gpt.py"), "--artifact", str(run / "final_model.ptz"),
                        "--data", str(data / "tokenizer.model"), str(data / "fineweb_val_000000.bin"),
                        "--author", "Ada L", "--github-id", "ada")
    assert code == 0, out
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a tiny record")
    return {"data": data, "run": run, "repo": repo, "record": repo / FOLDER}


def test_new_made_a_record_of_the_build_output(path):
    record = path["record"]
    sub = json.loads((record / "submission.json").read_text())
    loader = (record / "artifact_loader.py").stat().st_size
    script = (record / "train_gpt.py").stat().st_size
    model = (record / "final_model.ptz").stat().st_size
    assert sub["bytes_code"] == script + loader  # the decoder the artifact needs counts as code
    assert sub["seed_results"]["1337"]["bytes_total"] == script + loader + model
    assert sub["seed_results"]["1337"]["steps"] == 4  # from the training log, beside the evaluation's
    assert {"train_seed1337.log", "train_seed1337_training.log"} <= {p.name for p in record.iterdir()}


def test_check_and_ci_pass_the_record_as_made(path):
    code, out = golfkit("check", str(path["record"]))
    assert code == 0, out
    checked = out.split("checked:\n", 1)[1].split("not checked:", 1)[0]
    for step in ("verify", "budget", "rerun"):
        assert re.search(rf"^  {step}\s", checked, re.MULTILINE), out
    assert "2 claim(s) reproduced" in checked
    code, out = golfkit("ci", "--repo", str(path["repo"]), "--base", "main", "--head", "HEAD", "--check")
    assert code == 0, out
    assert "rerun.val_bpb.matched" in golfkit("ci", "--repo", str(path["repo"]), "--base", "main", "--head", "HEAD",
                                             "--check", "--format", "json")[1]


def test_one_edited_claim_fails_check_and_ci_on_that_claim(path):
    repo, record = path["repo"], path["record"]
    git(repo, "checkout", "-qb", "edited")
    sub_path = record / "submission.json"
    text = sub_path.read_text()
    sub = json.loads(text)
    claimed = str(sub["seed_results"]["1337"]["val_bpb"])
    edited = format(Decimal(claimed) - Decimal("0.01"), "f")  # a better score, same precision (one seed: both claims)
    sub_path.write_text(text.replace(f'"val_bpb": {claimed}', f'"val_bpb": {edited}', 2))
    git(repo, "commit", "-qam", "a better number")
    try:
        code, out = golfkit("check", str(record), "--json")
        assert code == 1
        errors = {f["id"] for f in json.loads(out)["record"]["findings"] if f["severity"] == "error"}
        assert {"claim.val_bpb.not_in_logs", "rerun.val_bpb.mismatch"} <= errors, errors
        assert all(e.startswith(("claim.", "rerun.", "readme.", "stats.")) for e in errors), errors
        code, out = golfkit("ci", "--repo", str(repo), "--base", "main", "--head", "HEAD")
        assert code == 1 and "val_bpb" in out
    finally:
        git(repo, "checkout", "-q", "tiny")
