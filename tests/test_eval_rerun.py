"""`verify --rerun` (golfkit.verify.plugins.rerun): a record made by the reference trainer, re-run from its artifacts.

Also the golden check that golfkit's own model reproduces the trainer's logged final metrics.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _eval_fixtures import dataset
from click.testing import CliRunner

from golfkit.cli import main
from golfkit.eval.run import eval_artifact
from golfkit.verify.api import verify_paths
from golfkit.verify.logparse import parse_log_file
from golfkit.verify.plugins import rerun as rerun_module
from golfkit.verify.plugins.rerun import rerun_check

TRAINER = Path(__file__).resolve().parents[1] / "templates" / "train_gpt.py"
SEEDS = (1, 2)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not TRAINER.exists(), reason="reference trainer not present")]


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> Path:
    """A two-seed record trained for a few steps on the synthetic corpus, as the example record is laid out."""
    base = tmp_path_factory.mktemp("rerun")
    ds = dataset(base / "data", val_docs=20)
    rec = base / "track_non_record_16mb" / "2026-11-22_tiny"
    rec.mkdir(parents=True)
    shutil.copy(TRAINER, rec / "train_gpt.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DATA_PATH": str(ds.root), "TOKENIZER_PATH": str(ds.tokenizer),
           "VOCAB_SIZE": "512", "NUM_LAYERS": "2", "MODEL_DIM": "64", "NUM_HEADS": "4", "NUM_KV_HEADS": "2",
           "TRAIN_SEQ_LEN": "64", "TRAIN_BATCH_TOKENS": "4096", "ITERATIONS": "12", "WARMUP_STEPS": "1",
           "EVAL_STRIDE": "16", "VAL_BATCH_SIZE": "8192", "VAL_LOSS_EVERY": "0", "MAX_WALLCLOCK_SECONDS": "0",
           "QUANT_MIN_NUMEL": "4096"}
    seed_results = {}
    for seed in SEEDS:
        subprocess.run([sys.executable, "train_gpt.py"], cwd=rec, check=True, capture_output=True,
                       env={**env, "SEED": str(seed), "RUN_ID": f"train_seed{seed}"})
        (rec / "final_model.int8.ptz").rename(rec / f"final_model_seed{seed}.int8.ptz")
        log = rec / f"train_seed{seed}.log"
        (rec / "logs" / f"train_seed{seed}.txt").rename(log)
        sliding = next(m for m in parse_log_file(log).run.metrics if m.label == "final_sliding_window_exact")
        seed_results[str(seed)] = {"val_bpb": float(sliding.val_bpb.value), "val_loss": float(sliding.val_loss.value)}
    shutil.rmtree(rec / "logs")
    shutil.copy(ds.tokenizer, rec / "tokenizer.model")
    shutil.copy(ds.val_shard, rec / "fineweb_val_000000.bin")
    (rec / "README.md").write_text("tiny record for tests\n")
    mean = sum(r["val_bpb"] for r in seed_results.values()) / len(SEEDS)
    (rec / "submission.json").write_text(json.dumps({
        "name": "tiny", "track": "non-record-16mb", "val_bpb": round(mean, 8), "seeds": list(SEEDS),
        "seed_results": seed_results}, indent=1))
    return rec


def _copy(record: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "track_non_record_16mb" / record.name
    shutil.copytree(record, dst)
    return dst


def _ids(folder: Path, **kw) -> dict[str, list]:
    (report,) = verify_paths([folder], extra_checks=[rerun_check(**kw)])
    out: dict[str, list] = {}
    for f in report.findings:
        if f.id.startswith(("rerun.", "check.failed")):
            out.setdefault(f.id, []).append(f)
    return out


def test_golfkit_reproduces_the_trainers_logged_metrics(record):
    for seed in SEEDS:
        run = parse_log_file(record / f"train_seed{seed}.log").run
        logged = {m.label: m for m in run.metrics}
        report = eval_artifact(record / f"final_model_seed{seed}.int8.ptz", record, record / "tokenizer.model",
                               stride=16, progress=False)
        standard, sliding = report.results
        assert report.targets == run.val_tokens
        for result, label in ((standard, "final_int8_zstd_roundtrip_exact"), (sliding, "final_sliding_window_exact")):
            # 8 printed decimals; float32 on CPU on both sides, summation order aside
            assert abs(result.val_bpb - float(logged[label].val_bpb.value)) < 2e-8
            assert abs(result.val_loss - float(logged[label].val_loss.value)) < 2e-8


@pytest.mark.fires("rerun.metrics", "rerun.val_bpb.matched", "rerun.val_loss.matched")
@pytest.mark.quiet("rerun.val_bpb.mismatch", "rerun.val_loss.mismatch", "rerun.log.mismatch",
                   "rerun.artifact.size_mismatch", "rerun.budget.over_cap", "rerun.artifact.missing",
                   "rerun.data.missing", "rerun.failed")
def test_rerun_is_quiet_on_the_record_as_trained(record):
    found = _ids(record)
    assert not [f for fs in found.values() for f in fs if f.severity.value == "error"], found
    assert len(found["rerun.val_bpb.matched"]) == len(SEEDS) and len(found["rerun.metrics"]) == len(SEEDS)
    assert "rerun.log.mismatch" not in found


@pytest.mark.fires("rerun.val_bpb.mismatch")
@pytest.mark.quiet("rerun.val_loss.mismatch", "rerun.log.mismatch", "rerun.artifact.size_mismatch")
def test_rerun_catches_an_edited_claim(record, tmp_path):
    rec = _copy(record, tmp_path)
    sub = json.loads((rec / "submission.json").read_text())
    sub["seed_results"]["1"]["val_bpb"] = round(sub["seed_results"]["1"]["val_bpb"] - 0.01, 8)
    (rec / "submission.json").write_text(json.dumps(sub))
    found = _ids(rec)
    (mismatch,) = found["rerun.val_bpb.mismatch"]
    assert "seed 1" in mismatch.message and mismatch.severity.value == "error"


@pytest.mark.fires("rerun.val_loss.mismatch", "rerun.val_bpb.mismatch")
@pytest.mark.quiet("rerun.val_loss.matched", "rerun.val_bpb.matched")
def test_rerun_catches_an_edited_val_loss_claim(record, tmp_path):
    rec = _copy(record, tmp_path)
    sub = json.loads((rec / "submission.json").read_text())
    seed = sub["seed_results"]["1"]
    seed["val_loss"], seed["val_bpb"] = round(seed["val_loss"] + 0.002, 8), round(seed["val_bpb"] + 0.002, 8)
    (rec / "submission.json").write_text(json.dumps(sub))
    found = _ids(rec, artifact=rec / "final_model_seed1.int8.ptz")
    (loss,) = found["rerun.val_loss.mismatch"]
    assert loss.evidence["claim_of"] == "seed 1" and loss.evidence["claim"] == str(seed["val_loss"])
    assert set(loss.evidence["rerun"]) == {"standard", "sliding"}


@pytest.mark.fires("rerun.val_bpb.mismatch", "rerun.log.mismatch", "rerun.artifact.size_mismatch")
@pytest.mark.quiet("rerun.failed", "rerun.budget.over_cap")
def test_rerun_catches_another_seeds_artifact(record, tmp_path):
    rec = _copy(record, tmp_path)
    shutil.copy(rec / "final_model_seed2.int8.ptz", rec / "final_model_seed1.int8.ptz")
    found = _ids(rec)
    assert [f.evidence["claim_of"] for f in found["rerun.val_bpb.mismatch"]] == ["seed 1"]
    assert "rerun.log.mismatch" in found
    (size,) = found["rerun.artifact.size_mismatch"]
    assert size.evidence["artifact_bytes"] != size.evidence["logged_bytes"]


@pytest.mark.fires("rerun.budget.over_cap", "rerun.val_bpb.matched")
@pytest.mark.quiet("rerun.failed", "rerun.artifact.size_mismatch")
def test_rerun_budget(record, tmp_path, monkeypatch):
    rec = _copy(record, tmp_path)
    monkeypatch.setattr(rerun_module, "SIZE_CAP_BYTES", 100_000)  # the tiny record is ~160 kB; lower the cap
    # --trust-code (given for --probes) still runs reference-family containers with golfkit's own model
    found = _ids(rec, artifact=rec / "final_model_seed1.int8.ptz", trust_code=True)
    (over,) = found["rerun.budget.over_cap"]
    assert over.evidence["total"] == over.evidence["artifact_bytes"] + (rec / "train_gpt.py").stat().st_size


@pytest.mark.fires("rerun.artifact.missing", "rerun.data.missing", "rerun.failed")
@pytest.mark.quiet("rerun.metrics", "rerun.val_bpb.matched", "rerun.val_bpb.mismatch")
def test_rerun_missing_inputs(record, tmp_path):
    rec = _copy(record, tmp_path)
    for p in rec.glob("*.ptz"):
        p.unlink()
    assert set(_ids(rec)) == {"rerun.artifact.missing"}
    (rec / "tokenizer.model").unlink()
    (no_tokenizer,) = _ids(rec, artifact=record / "final_model_seed1.int8.ptz")["rerun.data.missing"]
    assert "no tokenizer" in no_tokenizer.message
    (rec / "fineweb_val_000000.bin").unlink()
    (no_shards,) = _ids(rec, artifact=record / "final_model_seed1.int8.ptz")["rerun.data.missing"]
    assert "no fineweb_val_*.bin shards" in no_shards.message
    (failed,) = _ids(rec, artifact=rec / "README.md", data=record, tokenizer=record / "tokenizer.model")["rerun.failed"]
    assert "README.md" in failed.message


@pytest.mark.fires("rerun.val_bpb.mismatch", "rerun.metrics")
@pytest.mark.quiet("rerun.failed")
def test_verify_rerun_on_the_command_line(record, tmp_path):
    rec = _copy(record, tmp_path)
    sub = json.loads((rec / "submission.json").read_text())
    sub["seed_results"]["2"]["val_bpb"] = round(sub["seed_results"]["2"]["val_bpb"] + 0.01, 8)
    (rec / "submission.json").write_text(json.dumps(sub))
    result = CliRunner().invoke(main, ["verify", str(rec), "--rerun", "--rerun-artifact",
                                       str(rec / "final_model_seed2.int8.ptz"), "--json"])
    assert result.exit_code == 1, result.output
    (report,) = json.loads(result.stdout)["records"]
    rerun_ids = sorted(f["id"] for f in report["findings"] if f["id"].startswith("rerun."))
    assert rerun_ids == ["rerun.metrics", "rerun.val_bpb.mismatch", "rerun.val_loss.matched"]


EXAMPLE = Path(__file__).resolve().parents[1] / "records" / "track_non_record_16mb" / "2026-11-22_golfkit_reference_cpu"


@pytest.mark.skipif(not list(EXAMPLE.glob("*.ptz")), reason="example record not present")
@pytest.mark.fires("rerun.metrics", "rerun.val_bpb.matched", "rerun.val_loss.matched")
@pytest.mark.quiet("rerun.val_bpb.mismatch", "rerun.val_loss.mismatch", "rerun.log.mismatch",
                   "rerun.artifact.size_mismatch", "rerun.budget.over_cap", "rerun.failed")
def test_rerun_reproduces_the_example_record():
    # one of its seeds keeps the test short; `golfkit verify --rerun` on the folder re-runs all three
    found = _ids(EXAMPLE, artifact=min(EXAMPLE.glob("*.ptz")))
    assert not [f for fs in found.values() for f in fs if f.severity.value in ("error", "warning")], found
    assert "rerun.val_bpb.matched" in found
