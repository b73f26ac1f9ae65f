"""The reference trainer (templates/train_gpt.py) run for real on CPU, and the example record it made."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from golfkit.artifact import decompress, read_artifact
from golfkit.data.shards import read_shard
from golfkit.data.tokenizer import load_tokenizer, make_dataset, target_bytes
from golfkit.schema import schema_errors

ROOT = Path(__file__).resolve().parents[1]
TRAINER = ROOT / "templates" / "train_gpt.py"
pytestmark = pytest.mark.usefixtures("one_thread")
RECORD = ROOT / "records" / "track_non_record_16mb" / "2026-11-22_golfkit_reference_cpu"
TORCHRUN = Path(sys.executable).with_name("torchrun")

TINY = {
    "VOCAB_SIZE": "512", "NUM_LAYERS": "3", "MODEL_DIM": "32", "NUM_HEADS": "4", "NUM_KV_HEADS": "2",
    "MLP_MULT": "2", "TRAIN_SEQ_LEN": "64", "TRAIN_BATCH_TOKENS": "1024", "ITERATIONS": "4",
    "WARMUP_STEPS": "1", "WARMDOWN_ITERS": "2", "VAL_LOSS_EVERY": "2", "TRAIN_LOG_EVERY": "1",
    "MAX_WALLCLOCK_SECONDS": "0", "EVAL_STRIDE": "16", "QUANT_MIN_NUMEL": "256", "VAL_BATCH_SIZE": "8192",
    "MATRIX_LR": "0.1", "RUN_ID": "smoke", "OMP_NUM_THREADS": "1",
}





@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data"), vocab_size=512, train_docs=1500, val_docs=12, seed=2)


def run(script: Path, cwd: Path, env: dict[str, str], nproc: int = 1) -> subprocess.CompletedProcess:
    cwd.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(script)] if nproc == 1 else \
        [str(TORCHRUN), "--standalone", f"--nproc_per_node={nproc}", str(script)]
    return subprocess.run(cmd, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
                          check=False)


def data_env(ds) -> dict[str, str]:
    return {"DATA_PATH": str(ds.root), "TOKENIZER_PATH": str(ds.tokenizer)}


def final_metrics(log: str) -> dict[str, tuple[float, float]]:
    return {m[1]: (float(m[2]), float(m[3]))
            for m in re.finditer(r"^(final_\w+_exact) val_loss:(\S+) val_bpb:(\S+)$", log, re.MULTILINE)}


@pytest.fixture(scope="module")
def smoke(dataset, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("smoke")
    proc = run(TRAINER, cwd, {**TINY, **data_env(dataset)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, (cwd / "logs" / "smoke.txt").read_bytes().decode("utf-8")


STANDARD_LINES = [
    r"^={100}$",
    r"^Running Python 3\.",
    r"^Running PyTorch \d",
    r"^cpu: .* cores:\d+",
    r"^seed:1337$",
    r"^train_batch_tokens:1024 train_seq_len:64 iterations:4 warmup_steps:1 max_wallclock_seconds:0\.000$",
    r"^attention_mode:gqa num_heads:4 num_kv_heads:2$",
    r"^val_loader:shards pattern=\S+fineweb_val_\*\.bin tokens:\d+$",
    r"^train_loader:dataset:\S+ train_shards:1$",
    r"^model_params:\d+$",
    r"^warmup_step:1/1$",
    r"^step:1/4 train_loss:\d+\.\d{4} train_time:\d+ms step_avg:\d+\.\d\dms$",
    r"^step:2/4 val_loss:\d+\.\d{4} val_bpb:\d+\.\d{4} train_time:\d+ms step_avg:\d+\.\d\dms$",
    r"^step:4/4 val_loss:\d+\.\d{4} val_bpb:\d+\.\d{4} train_time:\d+ms step_avg:\d+\.\d\dms$",
    r"^Serialized model: \d+ bytes$",
    r"^Code size: \d+ bytes$",
    r"^Total submission size: \d+ bytes$",
    r"^Serialized model int8\+zstd: \d+ bytes \(payload:\d+ raw:\d+ payload_ratio:\d+\.\d\dx\)$",
    r"^Total submission size int8\+zstd: \d+ bytes$",
    r"^final_int8_zstd_roundtrip val_loss:\d+\.\d{4} val_bpb:\d+\.\d{4} eval_time:\d+ms$",
    r"^final_int8_zstd_roundtrip_exact val_loss:\d+\.\d{8} val_bpb:\d+\.\d{8}$",
    r"^final_sliding_window val_loss:\d+\.\d{4} val_bpb:\d+\.\d{4} stride:16 seq_len:64 eval_time:\d+ms$",
    r"^final_sliding_window_exact val_loss:\d+\.\d{8} val_bpb:\d+\.\d{8}$",
    r"^total_eval_time:\d+\.\ds$",
]


def test_smoke_run_writes_the_standard_log(smoke):
    cwd, log = smoke
    code = TRAINER.read_bytes()
    assert log.encode("utf-8").startswith(code + b"\n" + b"=" * 100 + b"\n")
    runtime = log[len(code):]
    missing = [p for p in STANDARD_LINES if not re.search(p, runtime, re.MULTILINE)]
    assert not missing
    assert f"Code size: {len(code)} bytes" in runtime
    raw = int(re.search(r"^Serialized model: (\d+)", runtime, re.MULTILINE)[1])
    art = int(re.search(r"^Serialized model int8\+zstd: (\d+)", runtime, re.MULTILINE)[1])
    assert (cwd / "final_model.int8.ptz").stat().st_size == art
    assert f"Total submission size: {raw + len(code)} bytes" in runtime
    assert f"Total submission size int8+zstd: {art + len(code)} bytes" in runtime
    assert "stopping_early" not in runtime


def test_final_metrics_equal_a_re_evaluation_of_the_artifact(smoke, dataset, trainer):
    cwd, log = smoke
    logged = final_metrics(log)
    artifact = read_artifact(cwd / "final_model.int8.ptz")
    model_cfg = {k: v for k, v in artifact.meta["model"].items() if k not in ("family", "tie_embeddings")}
    assert artifact.meta["model"]["family"] == "golfkit-gpt-v1" and artifact.meta["seed"] == 1337
    assert artifact.meta["train_seq_len"] == 64
    assert {t.scheme for t in artifact.tensors} == {"int8_row", "raw"}
    model = trainer.GPT(**model_cfg)
    model.load_state_dict(artifact.state_dict())
    sp = load_tokenizer(dataset.tokenizer, 512)
    luts = trainer.build_sentencepiece_luts(sp, 512, torch.device("cpu"))
    val = trainer.load_validation_tokens(str(dataset.root / "fineweb_val_*.bin"), 64, 512)
    args = SimpleNamespace(train_seq_len=64, val_batch_size=8192)
    loss, bpb = trainer.eval_val(args, model, 0, 1, torch.device("cpu"), val, *luts)
    assert logged["final_int8_zstd_roundtrip_exact"] == pytest.approx((loss, bpb), abs=2e-6)
    loss, bpb = trainer.eval_val_sliding(args, model, 0, 1, torch.device("cpu"), val, *luts, stride=16, seq_len=64)
    assert logged["final_sliding_window_exact"] == pytest.approx((loss, bpb), abs=2e-6)
    # The byte total implied by the logged numbers is the canonical byte count of the scored targets.
    tokens = int(re.search(r"tokens:(\d+)$", log, re.MULTILINE)[1])
    assert tokens == val.numel() - 1 == (read_shard(dataset.val_shard).size - 1) // 64 * 64
    canonical = int(target_bytes(sp, val.numpy()).sum())
    implied = loss / math.log(2) * tokens / bpb
    assert implied == pytest.approx(canonical, rel=1e-9)


def test_float_checkpoint_builds_with_golfkit_to_the_same_metrics(smoke, dataset):
    # train -> final_model.pt -> golfkit build (v1 policy, best codec) -> golfkit eval: the trainer's own numbers.
    cwd, log = smoke
    logged = final_metrics(log)
    checkpoint = cwd / "final_model.pt"
    assert f"Serialized model: {checkpoint.stat().st_size} bytes" in log
    meta = cwd / "meta.json"
    meta.write_text(json.dumps({"model": read_artifact(cwd / "final_model.int8.ptz").meta["model"], "train_seq_len": 64}))
    built = cwd / "built.ptz"  # --codec ans: an entropy-coded version-2 container, which needs the loader snippet
    golfkit = [sys.executable, "-m", "golfkit"]
    build = [*golfkit, "build", "--checkpoint", str(checkpoint), "--min-numel", "256", "--codec", "ans"]
    proc = subprocess.run([*build, "--meta", str(meta), "-o", str(built)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert decompress(built.read_bytes())[7] == 2
    proc = subprocess.run([*golfkit, "eval", str(built), "--data", str(dataset.root), "--tokenizer", str(dataset.tokenizer),
                           "--stride", "16", "--json"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    results = {r["mode"]: r for r in json.loads(proc.stdout)["results"]}
    assert (results["standard"]["val_loss"], results["standard"]["val_bpb"]) == pytest.approx(
        logged["final_int8_zstd_roundtrip_exact"], abs=2e-6)
    assert (results["sliding"]["val_loss"], results["sliding"]["val_bpb"]) == pytest.approx(
        logged["final_sliding_window_exact"], abs=2e-6)
    # ... and the trainer itself evaluates that artifact through the loader snippet golfkit emits for it.
    loader = cwd / "loader.py"
    proc = subprocess.run([*build, "--emit-loader"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    loader.write_text(proc.stdout)
    proc = run(TRAINER, cwd, {**TINY, **data_env(dataset), "RUN_ID": "reeval", "EVAL_ARTIFACT": str(built),
                              "ARTIFACT_LOADER": str(loader)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    reeval = (cwd / "logs" / "reeval.txt").read_bytes().decode("utf-8")
    again = final_metrics(reeval)
    assert again["final_artifact_roundtrip_exact"] == pytest.approx(logged["final_int8_zstd_roundtrip_exact"], abs=2e-6)
    assert again["final_sliding_window_exact"] == pytest.approx(logged["final_sliding_window_exact"], abs=2e-6)
    code = TRAINER.stat().st_size + loader.stat().st_size
    assert f"Total submission size artifact: {built.stat().st_size + code} bytes" in reeval
    assert "step:1/4" not in reeval  # no training in this mode


def test_eval_artifact_mode_rejects_a_missing_artifact(dataset, tmp_path):
    proc = run(TRAINER, tmp_path, {**TINY, **data_env(dataset), "EVAL_ARTIFACT": str(tmp_path / "nope.ptz")})
    assert proc.returncode == 2
    assert "EVAL_ARTIFACT=" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("num_targets, seq_len, stride", [(1000, 64, 16), (1000, 64, 64), (50, 64, 16), (65, 64, 7)])
def test_sliding_windows_score_every_target_once(trainer, num_targets, seq_len, stride):
    seen = np.zeros(num_targets, dtype=int)
    for start, first, end in trainer.sliding_windows(num_targets, seq_len, stride):
        assert end - start <= seq_len and start <= first < end
        assert start == max(0, end - seq_len)
        seen[first:end] += 1
    assert (seen == 1).all()


def test_sliding_eval_equals_one_forward_per_target(trainer):
    # Brute force: each target scored from exactly the context its window gives it, one forward per target.
    torch.manual_seed(0)
    model = trainer.GPT(vocab_size=40, num_layers=2, model_dim=16, num_heads=2, num_kv_heads=1, mlp_mult=2).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    tokens = torch.randint(4, 40, (101,), dtype=torch.int32)
    base = torch.randint(1, 4, (40,), dtype=torch.int16)
    space, boundary = torch.rand(40) < 0.5, torch.zeros(40, dtype=torch.bool)
    args = SimpleNamespace(train_seq_len=20, val_batch_size=8 * 20 * 3)
    cpu = torch.device("cpu")
    loss, bpb = trainer.eval_val_sliding(args, model, 0, 1, cpu, tokens, base, space, boundary, stride=6, seq_len=24)
    loss_sum, nbytes = 0.0, 0
    with torch.no_grad():
        for start, first, end in trainer.sliding_windows(100, 24, 6):
            for j in range(first, end):
                logits = model.forward_logits(tokens[start : j + 1].long()[None])[0, -1]
                loss_sum += float(torch.nn.functional.cross_entropy(logits[None], tokens[j + 1].long()[None]))
                nbytes += int(base[tokens[j + 1]]) + int(space[tokens[j + 1]] and not boundary[tokens[j]])
    assert loss == pytest.approx(loss_sum / 100, rel=1e-5)
    assert bpb == pytest.approx(loss_sum / math.log(2) / nbytes, rel=1e-5)
    # With stride = window = TRAIN_SEQ_LEN, sliding and standard evaluation are the same computation.
    standard = trainer.eval_val(args, model, 0, 1, cpu, tokens, base, space, boundary)
    same = trainer.eval_val_sliding(args, model, 0, 1, cpu, tokens, base, space, boundary, stride=20, seq_len=20)
    assert same == pytest.approx(standard, rel=1e-6)


def test_lut_bytes_match_the_corpus_text(dataset, trainer):
    sp = load_tokenizer(dataset.tokenizer, 512)
    base, space, boundary = trainer.build_sentencepiece_luts(sp, 512, torch.device("cpu"))
    val = torch.from_numpy(read_shard(dataset.val_shard).astype(np.int64))
    nbytes = base[val[1:]].long() + (space[val[1:]] & ~boundary[val[:-1]]).long()
    assert int(nbytes.sum()) == dataset.val_bytes


@pytest.mark.slow
def test_torchrun_two_processes_match_one(smoke, dataset, tmp_path):
    proc = run(TRAINER, tmp_path, {**TINY, **data_env(dataset)}, nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (tmp_path / "logs" / "smoke.txt").read_text()
    assert "world_size:2 grad_accum_steps:4" in log
    one, two = final_metrics(smoke[1]), final_metrics(log)
    assert set(one) == set(two) == {"final_int8_zstd_roundtrip_exact", "final_sliding_window_exact"}
    for name in one:
        assert two[name] == pytest.approx(one[name], abs=1e-4), name
    losses = [re.findall(r"^step:\d+/4 train_loss:(\S+)", text, re.MULTILINE) for text in (smoke[1], log)]
    assert [float(x) for x in losses[1]] == pytest.approx([float(x) for x in losses[0]], abs=1e-3)


def test_latin1_wrapper_and_wallclock_cap(dataset, tmp_path):
    # A latin-1 source (like a minified wrapper) must be counted and embedded byte for byte.
    wrapper = tmp_path / "train_gpt.py"
    wrapper.write_bytes(b"# -*- coding: latin-1 -*-\n# caf\xe9 \xbd\n" + TRAINER.read_bytes())
    env = {**TINY, **data_env(dataset), "ITERATIONS": "1000", "MAX_WALLCLOCK_SECONDS": "0.001",
           "EVAL_STRIDE": "0", "WARMUP_STEPS": "0", "COMPRESSOR": "zlib"}
    proc = run(wrapper, tmp_path / "run", env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (tmp_path / "run" / "logs" / "smoke.txt").read_bytes()
    assert log.startswith(wrapper.read_bytes() + b"\n" + b"=" * 100)
    text = log.decode("latin-1")
    assert f"Code size: {wrapper.stat().st_size} bytes" in text
    assert re.search(r"^stopping_early: wallclock_cap train_time:\d+ms step:1/1000$", text, re.MULTILINE)
    assert re.search(r"^final_int8_zlib_roundtrip_exact val_loss:\S+ val_bpb:\S+$", text, re.MULTILINE)
    runtime = text[wrapper.stat().st_size:]
    assert "Serialized model int8+zlib:" in runtime and "final_sliding_window" not in runtime
    assert read_artifact(tmp_path / "run" / "final_model.int8.ptz").meta["model"]["num_layers"] == 3


def _copy_data(ds, dest: Path) -> Path:
    shutil.copytree(ds.root, dest)
    return dest


def _corrupt_magic(d: Path) -> None:
    path = d / "fineweb_val_000000.bin"
    path.write_bytes(b"\x00\x00\x00\x00" + path.read_bytes()[4:])


def test_bad_input_exits_2_with_one_line(dataset, tmp_path):
    env = {**TINY, **data_env(dataset), "DATA_PATH": str(tmp_path / "nowhere")}
    proc = run(TRAINER, tmp_path / "run", env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train_gpt.py: error: "), proc.stderr
    assert re.search(r"no shards match .*nowhere/fineweb_val_\*\.bin", lines[0])


@pytest.mark.parametrize("case, match", [
    ("wrong-magic", r"fineweb_val_000000\.bin: magic 0 version 1, expected 20240520"),
    ("vocab-mismatch", r"has 512 pieces but VOCAB_SIZE=1024"),
    ("unreadable-tokenizer", r"not a readable SentencePiece model"),
    ("truncated-shard", r"header says \d+ tokens .* truncated or corrupt"),
    ("token-out-of-range", r"token id \d+ >= VOCAB_SIZE=300"),
    ("bad-number", r"SEED='one' is not a valid int"),
])
def test_bad_input_raises_input_error(dataset, trainer, tmp_path, monkeypatch, case, match):
    # In-process (the same main() the script runs); the subprocess test above covers exit code and stderr.
    data = _copy_data(dataset, tmp_path / "data")
    env = {**TINY, "DATA_PATH": str(data), "TOKENIZER_PATH": str(data / "tokenizer.model")}
    if case == "wrong-magic":
        _corrupt_magic(data)
    elif case == "vocab-mismatch":
        env["VOCAB_SIZE"] = "1024"
    elif case == "unreadable-tokenizer":
        (data / "tokenizer.model").write_bytes(b"garbage")
    elif case == "truncated-shard":
        shard = data / "fineweb_train_000000.bin"
        shard.write_bytes(shard.read_bytes()[:-7])
    elif case == "bad-number":
        env["SEED"] = "one"
    else:
        env["VOCAB_SIZE"] = "300"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    if case == "token-out-of-range":
        with pytest.raises(trainer.InputError, match=match):
            trainer.load_validation_tokens(str(data / "fineweb_val_*.bin"), 64, 300)
        return
    with pytest.raises(trainer.InputError, match=match):
        trainer.main()


# --- the committed example record ---

def test_example_record_files_and_claims_match_its_logs():
    assert RECORD.is_dir(), "the example record is missing: python -m golfkit.example"
    sub = json.loads((RECORD / "submission.json").read_text(), parse_float=Decimal)
    assert (RECORD / "train_gpt.py").read_bytes() == TRAINER.read_bytes(), "stale: python -m golfkit.example --force"
    for name in ("README.md", "tokenizer.model", "fineweb_val_000000.bin"):
        assert (RECORD / name).is_file()
    assert sum(p.stat().st_size for p in RECORD.iterdir()) < 3_000_000
    assert sub["bytes_code"] == (RECORD / "train_gpt.py").stat().st_size
    assert sub["seeds"] == [1337, 42, 2025]
    bpbs, losses, totals = [], [], []
    for seed in sub["seeds"]:
        res = sub["seed_results"][str(seed)]
        extra = res["extra"]
        log = (RECORD / extra["log"]).read_bytes().decode("utf-8")
        assert log.startswith((RECORD / "train_gpt.py").read_text() + "\n")
        sliding = re.findall(r"^final_sliding_window_exact val_loss:(\S+) val_bpb:(\S+)$", log, re.MULTILINE)[-1]
        assert (Decimal(sliding[0]), Decimal(sliding[1])) == (res["val_loss"], res["val_bpb"])
        total = int(re.findall(r"^Total submission size int8\+zstd: (\d+) bytes$", log, re.MULTILINE)[-1])
        model = int(re.findall(r"^Serialized model int8\+zstd: (\d+) bytes", log, re.MULTILINE)[-1])
        assert (total, model) == (res["bytes_total"], extra["bytes_model"])
        assert model == (RECORD / extra["artifact"]).stat().st_size
        assert read_artifact(RECORD / extra["artifact"]).meta["seed"] == seed
        assert re.search(rf"^step:{res['steps']}/\d+ val_loss:\S+ val_bpb:\S+ train_time:{res['train_time_ms']}ms",
                         log, re.MULTILINE)
        assert f"tokens:{sub['data']['val_tokens']}" in log
        bpbs.append(Decimal(sliding[1]))
        losses.append(Decimal(sliding[0]))
        totals.append(total)
    assert abs(sub["val_bpb"] - sum(bpbs) / 3) <= Decimal("5e-9")
    assert abs(sub["val_loss"] - sum(losses) / 3) <= Decimal("5e-9")
    assert sub["bytes_total"] == max(totals)
    assert schema_errors(json.loads((RECORD / "submission.json").read_text())) == []
    readme = (RECORD / "README.md").read_text()
    assert "python -m golfkit.example --force" in readme and f"{sub['val_bpb']}" in readme
    unigram = Decimal(re.search(r"^\| unigram .* \| (\S+) \|$", readme, re.MULTILINE)[1])
    assert sub["val_bpb"] < unigram / 2, "the trained model must be clearly better than a unigram"
    sp = load_tokenizer(RECORD / "tokenizer.model", 512)
    val = read_shard(RECORD / "fineweb_val_000000.bin")[: sub["data"]["val_tokens"] + 1]
    assert int(target_bytes(sp, val).sum()) == sub["data"]["val_bytes"]


def test_example_generator_refuses_to_overwrite_and_reads_logs_strictly(tmp_path):
    from golfkit.errors import GolfkitError
    from golfkit.example import parse_log

    proc = subprocess.run([sys.executable, "-m", "golfkit.example", str(tmp_path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "pass --force" in proc.stderr
    log = (RECORD / "train_seed42.log").read_bytes()
    run42 = parse_log(RECORD / "train_seed42.log", 42)
    assert (run42.seed, run42.bytes_code) == (42, len(TRAINER.read_bytes()))
    cut = tmp_path / "train_seed42.log"
    cut.write_bytes(log[: log.rindex(b"final_sliding_window_exact")])
    with pytest.raises(GolfkitError, match="did not finish"):
        parse_log(cut, 42)
