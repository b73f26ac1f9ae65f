"""`golfkit build` output that evaluates as it is, and a build that says what it chose or could not do:
the header meta (architecture from the shapes, train_seq_len and constants from the trainer's log, --meta on
top), --min-numel auto for small models, rules that matched but did not apply, brotli missing from --codec
best, a bad --codec refused before torch loads, --loader; inspect's totals and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import assert_no_crash, assert_usage_error
from click.testing import CliRunner

from golfkit.artifact.container import read_artifact
from golfkit.cli import main
from golfkit.eval.model import GPT, ModelConfig

SMALL = {"vocab_size": 512, "num_layers": 2, "model_dim": 32, "num_heads": 4, "num_kv_heads": 2, "mlp_mult": 2}
LOG = """print('the script')
====================================================================================================
Running PyTorch 2.13.0+cpu
====================================================================================================
attention_mode:gqa num_heads:4 num_kv_heads:2
model:gpt num_layers:2 model_dim:32 mlp_mult:2 vocab_size:512 rope_base:5000.0 logit_softcap:20.0 qk_gain_init:1.5
train_batch_tokens:1024 train_seq_len:128 iterations:4 warmup_steps:1 max_wallclock_seconds:0.000
seed:7
Serialized model: {size} bytes
"""


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert_no_crash(result)
    return result


def small_checkpoint(folder: Path, log: bool = False, **log_values: str) -> Path:
    """A reference-family state dict as the trainer saves it, with (optionally) its log in logs/."""
    torch.manual_seed(0)
    model = GPT(ModelConfig(**SMALL))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "final_model.pt"
    torch.save(model.state_dict(), path)
    if log:
        (folder / "logs").mkdir()
        text = LOG.format(size=path.stat().st_size)
        for key, value in log_values.items():
            text = text.replace(f"{key}:", f"{key}:{value} was:")
        (folder / "logs" / "run.txt").write_text(text)
    return path


def test_the_header_records_the_architecture_and_the_logged_run(tmp_path: Path):
    ckpt = small_checkpoint(tmp_path / "run", log=True)
    out = tmp_path / "m.ptz"
    r = run("build", "--checkpoint", str(ckpt), "--codec", "zstd", "-o", str(out))
    assert r.exit_code == 0, r.output
    meta = read_artifact(out).meta
    assert meta["model"] == {"family": "golfkit-gpt-v1", **SMALL, "rope_base": 5000.0, "logit_softcap": 20.0,
                             "tie_embeddings": True}
    assert meta["train_seq_len"] == 128 and meta["seed"] == 7
    assert "train_seq_len 128" in r.output and "log: " in r.output


def test_without_a_log_the_shapes_give_the_architecture_and_the_gaps_are_said(tmp_path: Path):
    ckpt = small_checkpoint(tmp_path / "run")
    out = tmp_path / "m.ptz"
    r = run("build", "--checkpoint", str(ckpt), "-o", str(out), "--json")
    assert r.exit_code == 0, r.output
    b = json.loads(r.output)
    meta = read_artifact(out).meta
    assert meta["model"]["num_kv_heads"] == 2 and meta["model"]["rope_base"] == 10000.0
    assert "train_seq_len" not in meta
    assert any("--train-seq-len" in n and "--log" in n for n in b["notes"])
    assert any("rope_base" in n and "defaults" in n for n in b["notes"])
    # --meta fills the gap, and wins over what was read
    (tmp_path / "meta.json").write_text(json.dumps({"train_seq_len": 256, "note": "mine"}))
    r = run("build", "--checkpoint", str(ckpt), "-o", str(out), "--force", "--meta", str(tmp_path / "meta.json"))
    assert r.exit_code == 0, r.output
    meta = read_artifact(out).meta
    assert meta["train_seq_len"] == 256 and meta["note"] == "mine" and meta["model"]["model_dim"] == 32


def test_a_log_of_another_run_is_refused(tmp_path: Path):
    ckpt = small_checkpoint(tmp_path / "run")
    other = tmp_path / "other.txt"
    other.write_text(LOG.format(size=1).replace("model_dim:32", "model_dim:64"))
    r = run("build", "--checkpoint", str(ckpt), "--log", str(other), "--dry-run")
    assert_usage_error(r, "other.txt", "model_dim 64 in the log, 32 in the checkpoint", "--log")


def test_a_checkpoint_of_another_family_gets_no_architecture_and_says_why(tmp_path: Path):
    path = tmp_path / "ckpt.pt"
    torch.save({"layer.weight": torch.randn(300, 300)}, path)
    r = run("build", "--checkpoint", str(path), "-o", str(tmp_path / "m.ptz"), "--json")
    assert r.exit_code == 0, r.output
    assert "model" not in read_artifact(tmp_path / "m.ptz").meta
    assert any("not the reference model family" in n for n in json.loads(r.output)["notes"])


def test_min_numel_auto_quantizes_a_small_model_and_says_so(tmp_path: Path):
    ckpt = small_checkpoint(tmp_path / "run")
    r = run("build", "--checkpoint", str(ckpt), "--dry-run", "--json")
    b = json.loads(r.output)
    assert b["min_numel"] == 256
    schemes = {t["name"]: t["scheme"] for t in b["tensors"]}
    assert schemes["blocks.0.mlp.fc.weight"] == "int8_row" and schemes["tok_emb.weight"] == "int8_row"
    assert any("auto: 256 for a small model" in n for n in b["notes"])
    # the records' threshold, asked for: the model stays float, loudly
    r = run("build", "--checkpoint", str(ckpt), "--dry-run", "--json", "--min-numel", "65536")
    b = json.loads(r.output)
    assert all(t["scheme"] == "raw" for t in b["tensors"])
    assert any("--min-numel 65,536 keeps" in n and "float" in n for n in b["notes"])
    assert_usage_error(run("build", "--checkpoint", str(ckpt), "--dry-run", "--min-numel", "lots"), "--min-numel")


def test_a_rule_that_matched_but_did_not_apply_is_explained(tmp_path: Path):
    ckpt = small_checkpoint(tmp_path / "run")
    args = ("build", "--checkpoint", str(ckpt), "--min-numel", "65536", "--scheme", "blocks.*.mlp.*=int6_row")
    r = run(*args, "--explain")
    assert r.exit_code == 0, r.output
    fc = r.output.split("blocks.0.mlp.fc.weight", 1)[1].split("\n", 2)
    assert "but: --scheme blocks.*.mlp.*=int6_row matched but a glob never quantizes" in fc[1]
    assert "2,048 values <= --min-numel 65,536" in fc[1]
    r = run(*args, "--dry-run")
    assert "note: --scheme blocks.*.mlp.*=int6_row matched 4 tensor(s) it did not apply to" in r.output
    r = run(*args, "--explain", "--json")
    rows = {row["name"]: row for row in json.loads(r.output)["tensors"]}
    assert rows["blocks.1.mlp.proj.weight"]["overridden"] and not rows["tok_emb.weight"]["overridden"]


def test_best_without_brotli_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ckpt = small_checkpoint(tmp_path / "run")
    monkeypatch.setitem(sys.modules, "brotli", None)
    r = run("build", "--checkpoint", str(ckpt), "--codec", "best", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    assert any("brotli is not installed" in n for n in json.loads(r.output)["notes"])
    assert_usage_error(run("build", "--checkpoint", str(ckpt), "--codec", "brotli-11", "--dry-run"),
                       "brotli", "pip install")
    # --minified without brotli: counted with what is installed, no traceback
    code = tmp_path / "train_gpt.py"
    code.write_text("import os\nprint(os.getcwd())\n" * 50)
    r = run("build", "--checkpoint", str(ckpt), "--code", str(code), "--minified", "--dry-run")
    assert r.exit_code == 0, r.output
    wrapped = tmp_path / "wrapped.py"  # a latin-1 wrapper (the records' trick), counted as minify packs it
    assert run("minify", str(code), "--wrap", "latin1", "--codecs", "lzma", "-o", str(wrapped)).exit_code == 0
    assert wrapped.read_bytes().startswith(b"#")  # a coding line: latin-1
    r = run("build", "--checkpoint", str(ckpt), "--code", str(wrapped), "--minified", "--dry-run")
    assert r.exit_code == 0 and "as golfkit minify packs it" in r.output, r.output


def test_a_bad_codec_is_refused_before_torch_is_imported(tmp_path: Path):
    probe = ("import sys\nfrom golfkit.cli import main\n"
             "try:\n    main(['build', '--checkpoint', 'missing.pt', '--codec', 'bogus'])\n"
             "except SystemExit as e:\n    print('exit', e.code, 'torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.stdout.strip() == "exit 2 False", proc.stdout + proc.stderr
    assert "unknown codec 'bogus'" in proc.stderr and "missing.pt" not in proc.stderr


def test_loader_is_written_beside_a_version_2_artifact(tmp_path: Path):
    ckpt = small_checkpoint(tmp_path / "run")
    out, loader = tmp_path / "m.ptz", tmp_path / "artifact_loader.py"
    r = run("build", "--checkpoint", str(ckpt), "--codec", "ans", "-o", str(out))
    assert "add --loader artifact_loader.py" in r.output
    out.unlink()
    r = run("build", "--checkpoint", str(ckpt), "--codec", "ans", "-o", str(out), "--loader", str(loader))
    assert r.exit_code == 0, r.output
    namespace: dict = {}
    exec(compile(loader.read_text(), str(loader), "exec"), namespace)  # noqa: S102 - the snippet golfkit wrote
    state = namespace["load_artifact"](str(out))
    assert set(state) == set(read_artifact(out).state_dict())
    assert_usage_error(run("build", "--checkpoint", str(ckpt), "--codec", "ans", "-o", str(tmp_path / "n.ptz"),
                           "--loader", str(loader)), "artifact_loader.py", "--force")
    assert not (tmp_path / "n.ptz").exists()  # refused before anything was written


def test_inspect_totals_code_and_loader_and_writes_plain_json(tmp_path: Path):
    ckpt = small_checkpoint(tmp_path / "run")
    v2, v1 = tmp_path / "v2.ptz", tmp_path / "v1.ptz"
    assert run("build", "--checkpoint", str(ckpt), "--codec", "ans", "-o", str(v2)).exit_code == 0
    assert run("build", "--checkpoint", str(ckpt), "--codec", "zstd", "-o", str(v1)).exit_code == 0
    code = tmp_path / "train_gpt.py"
    code.write_text("print('train')\n" * 20)
    loader = run("build", "--checkpoint", str(ckpt), "--codec", "ans", "--emit-loader").output
    doc = json.loads(run("inspect", str(v2), "--code", str(code), "--json").output)
    assert doc["loader_bytes"] == len(loader.encode())
    assert doc["code_bytes"] == code.stat().st_size
    assert doc["total_bytes"] == doc["code_bytes"] + doc["loader_bytes"] + v2.stat().st_size
    assert doc["file_bytes"] == v2.stat().st_size and isinstance(doc["payload_bytes"], int)
    assert all(" " not in key and key == key.lower() for key in doc)
    assert doc["meta"]["model"]["num_layers"] == 2
    one = json.loads(run("inspect", str(v1), "--json").output)
    assert one["loader_bytes"] == 0 and one["total_bytes"] == v1.stat().st_size
