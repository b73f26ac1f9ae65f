"""`golfkit eval` end to end: reports, model flags, --trust-code, and clear errors for bad input."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch
import zstandard
from _eval_fixtures import CONFIG, TRAIN_SEQ_LEN, VOCAB, dataset, random_model, write_model
from cli_helpers import assert_no_crash
from click.testing import CliRunner

from golfkit.artifact import write_artifact
from golfkit.artifact.quantize import quantize_state_dict
from golfkit.cli import main
from golfkit.data.shards import read_shard, write_shard
from golfkit.data.tokenizer import make_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalcli")
    ds = dataset(root / "data", val_docs=30)
    write_model(root / "model.ptz", random_model(1))
    return root, ds


def run(*args: str):
    result = CliRunner().invoke(main, ["eval", *map(str, args)])
    assert_no_crash(result)
    return result.exit_code, result.output


def base_args(root, ds, artifact=None):
    return [artifact or root / "model.ptz", "--data", ds.root, "--tokenizer", ds.tokenizer, "--stride", "16"]


def test_eval_reports_both_evaluations(setup):
    root, ds = setup
    code, out = run(*base_args(root, ds), "--json")
    assert code == 0, out
    report = json.loads(out)
    tokens = read_shard(ds.val_shard).size
    assert report["stream_tokens"] == tokens
    assert report["targets"] == ((tokens - 1) // TRAIN_SEQ_LEN) * TRAIN_SEQ_LEN
    standard, sliding = report["results"]
    assert (standard["mode"], standard["seq_len"]) == ("standard", TRAIN_SEQ_LEN)
    assert (sliding["mode"], sliding["stride"]) == ("sliding", 16)
    for r in (standard, sliding):
        assert r["tokens"] == report["targets"] and r["bytes"] == report["target_bytes"]
        assert 0 < r["val_bpb"] < 20 and r["wall_s"] >= 0
    code, text = run(*base_args(root, ds), "--mode", "sliding")
    assert code == 0 and "sliding  val_loss:" in text and "standard" not in text.splitlines()[-1]


def test_model_flags_stand_in_for_a_missing_header(setup, tmp_path):
    root, ds = setup
    bare = tmp_path / "bare.ptz"
    write_model(bare, random_model(1), with_model_meta=False)
    code, out = run(*base_args(root, ds, bare))
    assert code == 2 and "no meta.model" in out
    flags = ["--vocab-size", VOCAB, "--num-layers", CONFIG.num_layers, "--model-dim", CONFIG.model_dim, "--num-heads",
             CONFIG.num_heads, "--num-kv-heads", CONFIG.num_kv_heads, "--mlp-mult", CONFIG.mlp_mult, "--json"]
    code, out = run(*base_args(root, ds, bare), *flags)
    _, want = run(*base_args(root, ds), "--json")
    assert code == 0, out
    assert json.loads(out)["results"][1]["val_bpb"] == json.loads(want)["results"][1]["val_bpb"]


def _expect_error(code: int, out: str, *needles: str) -> None:
    assert code == 2, out  # one `golfkit: error:` line, checked by run()
    for needle in needles:
        assert needle in out, out


def test_corrupt_truncated_and_oversized_artifacts(setup, tmp_path):
    root, ds = setup
    blob = (root / "model.ptz").read_bytes()
    garbage = tmp_path / "garbage.ptz"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    _expect_error(*run(*base_args(root, ds, garbage)), "not a zstd or zlib stream")
    truncated = tmp_path / "truncated.ptz"
    truncated.write_bytes(blob[: len(blob) // 2])
    _expect_error(*run(*base_args(root, ds, truncated)), "truncated")
    flipped = tmp_path / "flipped.ptz"
    flipped.write_bytes(zstandard.ZstdCompressor().compress(b"GOLFKIT\x01" + b"\xff" * 64))
    _expect_error(*run(*base_args(root, ds, flipped)), "header length")
    bomb = tmp_path / "bomb.ptz"
    bomb.write_bytes(zlib.compress(b"\0" * 5_000_000, 9))
    _expect_error(*run(*base_args(root, ds, bomb), "--max-decompressed-bytes", 1_000_000), "decompresses to more than")
    missing = tmp_path / "nowhere.ptz"
    _expect_error(*run(*base_args(root, ds, missing)), "no such file; give the path of an artifact")


def test_artifact_that_does_not_fit_its_header(setup, tmp_path):
    root, ds = setup
    model = random_model(1)
    state = model.state_dict()
    state.pop("blocks.0.attn.q_gain")
    meta = {"train_seq_len": TRAIN_SEQ_LEN, "model": {**vars(CONFIG), "num_layers": 3}}
    path = tmp_path / "odd.ptz"
    write_artifact(path, quantize_state_dict(state, meta, min_numel=4096))
    _expect_error(*run(*base_args(root, ds, path)), "missing blocks.0.attn.q_gain")
    other = tmp_path / "other_family.ptz"
    write_artifact(other, quantize_state_dict(model.state_dict(), {"train_seq_len": 64, "model": {"family": "x"}}))
    _expect_error(*run(*base_args(root, ds, other)), "--trust-code")


def test_shard_of_another_vocabulary(setup, tmp_path):
    root, ds = setup
    tokens = read_shard(ds.val_shard).astype(np.int64)
    tokens[100] = VOCAB + 300
    write_shard(tmp_path / "fineweb_val_000000.bin", tokens)
    _expect_error(*run(root / "model.ptz", "--data", tmp_path, "--tokenizer", ds.tokenizer),
                  "outside the model's vocabulary of 512")
    (tmp_path / "fineweb_val_000000.bin").write_bytes(b"\0" * 100)
    _expect_error(*run(root / "model.ptz", "--data", tmp_path, "--tokenizer", ds.tokenizer), "shorter than")
    _expect_error(*run(root / "model.ptz", "--data", tmp_path / "empty", "--tokenizer", ds.tokenizer), "no val shards")


def test_tokenizer_that_does_not_match(setup, tmp_path):
    root, ds = setup
    small = make_dataset(tmp_path / "small", 600, train_docs=300, val_docs=5, seed=1)
    _expect_error(*run(*base_args(root, ds)[:3], "--tokenizer", small.tokenizer), "600 pieces")
    # Same vocabulary size, trained on other text: the shards do not round-trip through it.
    other = make_dataset(tmp_path / "other", VOCAB, train_docs=400, val_docs=5, seed=7)
    _expect_error(*run(*base_args(root, ds)[:3], "--tokenizer", other.tokenizer), "did not make these shards")
    (tmp_path / "bad.model").write_bytes(b"not a model")
    _expect_error(*run(*base_args(root, ds)[:3], "--tokenizer", tmp_path / "bad.model"), "SentencePiece")


def test_bad_window_options(setup):
    root, ds = setup
    _expect_error(*run(*base_args(root, ds), "--seq-len", "8"), "stride")
    _expect_error(*run(*base_args(root, ds), "--device", "tpu"), "use cpu, cuda")
    if not torch.cuda.is_available():
        _expect_error(*run(*base_args(root, ds), "--device", "cuda"), "no CUDA device")


TRUSTED_SCRIPT = '''
import torch
from golfkit.eval.load import load_model


class Wrapped(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward_logits(self, input_ids):
        return self.inner(input_ids)


def golfkit_load(artifact_path, device):
    model, _ = load_model(artifact_path, device=device)
    return Wrapped(model).eval()


if __name__ == "__main__":
    raise SystemExit("training must not run on import")
'''


@pytest.mark.slow
def test_trust_code_runs_the_records_model_in_a_subprocess(setup, tmp_path):
    root, ds = setup
    (tmp_path / "train_gpt.py").write_text(TRUSTED_SCRIPT)
    art = tmp_path / "model.ptz"
    art.write_bytes((root / "model.ptz").read_bytes())
    code, out = run(*base_args(root, ds, art), "--trust-code", "--json")
    assert code == 0, out
    _, want = run(*base_args(root, ds), "--json")
    got, want = json.loads(out), json.loads(want)
    for g, w in zip(got["results"], want["results"], strict=True):
        assert (g["tokens"], g["bytes"]) == (w["tokens"], w["bytes"])
        assert g["val_bpb"] == pytest.approx(w["val_bpb"], rel=1e-6)
    (tmp_path / "train_gpt.py").write_text("x = 1\n")
    _expect_error(*run(*base_args(root, ds, art), "--trust-code"), "defines no GPT class; define golfkit_load")
