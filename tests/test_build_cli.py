"""`golfkit build` end to end: files in a temporary folder, exit codes, nothing half-written."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from cli_helpers import assert_usage_error
from click.testing import CliRunner

from golfkit.artifact.container import read_artifact
from golfkit.cli import main


def _checkpoint(tmp_path: Path) -> Path:
    g = torch.Generator().manual_seed(0)
    cols = torch.exp(torch.randn(256, generator=g) * 0.5)
    sd = {
        "tok_emb.weight": torch.randn(512, 256, generator=g) * 0.02 * cols,
        "blocks.0.mlp.fc.weight": torch.randn(768, 256, generator=g) * 0.02 * cols,
        "blocks.0.mlp_scale": torch.ones(256),
        "blocks.0.resid_mix": torch.stack([torch.ones(256), torch.zeros(256)]),
    }
    path = tmp_path / "ckpt.pt"
    torch.save(sd, path)
    return path


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_build_writes_a_readable_artifact_and_a_budget_that_sums(tmp_path):
    ckpt, out = _checkpoint(tmp_path), tmp_path / "model.gk"
    code = tmp_path / "train_gpt.py"
    code.write_text("print('hi')\n" * 100)
    r = run("build", "--checkpoint", str(ckpt), "--scheme", "*=int6_row", "--code", str(code), "-o", str(out), "--json")
    assert r.exit_code == 0, r.output
    b = json.loads(r.output)
    assert b["model_bytes"] == out.stat().st_size
    assert b["code_bytes"] == 1200
    assert b["total_bytes"] == b["code_bytes"] + b["loader_bytes"] + b["model_bytes"]
    assert b["headroom_bytes"] == 16_000_000 - b["total_bytes"]
    assert sum(t["bytes"] for t in b["tensors"]) + b["overhead_bytes"] == b["model_bytes"]
    assert [t["bytes"] for t in b["tensors"]] == sorted((t["bytes"] for t in b["tensors"]), reverse=True)
    fc = next(t for t in b["tensors"] if t["name"] == "blocks.0.mlp.fc.weight")
    assert fc["scheme"] == "int6_row" and 0 < fc["rel_rms"] < 0.2 and fc["bits_per_param"] < 6
    assert set(read_artifact(out).state_dict()) == {t["name"] for t in b["tensors"]}


def test_text_budget_and_explain(tmp_path):
    ckpt = _checkpoint(tmp_path)
    r = run("build", "--checkpoint", str(ckpt), "--scheme", "tok_emb.weight=int5_g64", "--explain")
    assert r.exit_code == 0, r.output
    lines = {line.split()[0]: line for line in r.output.splitlines()}
    assert "int5_g64" in lines["tok_emb.weight"] and "--scheme tok_emb.weight=int5_g64" in lines["tok_emb.weight"]
    assert "int8_row" in lines["blocks.0.mlp.fc.weight"] and "default policy" in lines["blocks.0.mlp.fc.weight"]
    assert "control tensor" in lines["blocks.0.mlp_scale"]
    r = run("build", "--checkpoint", str(ckpt), "-o", str(tmp_path / "m.gk"))
    assert r.exit_code == 0, r.output
    assert "headroom" in r.output and "round trip: every part decoded exactly" in r.output


def test_dry_run_shows_the_byte_effect_of_schemes_and_writes_nothing(tmp_path):
    ckpt, out = _checkpoint(tmp_path), tmp_path / "m.gk"
    r = run("build", "--checkpoint", str(ckpt), "--scheme", "*=int4_row", "--dry-run", "--json", "-o", str(out))
    assert r.exit_code == 0, r.output
    b = json.loads(r.output)
    assert b["delta_model_bytes"] < 0 and b["delta_model_bytes"] == b["model_bytes"] - b["baseline_model_bytes"]
    assert all(t["delta_bytes"] < 0 for t in b["tensors"] if t["scheme"] == "int4_row")
    assert not out.exists()
    r = run("build", "--checkpoint", str(ckpt), "--scheme", "*=int4_row", "--dry-run")
    assert "vs the default policy" in r.output and "delta" in r.output


def test_emit_loader_prints_python_and_is_not_counted_twice(tmp_path):
    ckpt = _checkpoint(tmp_path)
    r = run("build", "--checkpoint", str(ckpt), "--codec", "ans", "--scheme", "*=int6_row", "--emit-loader")
    assert r.exit_code == 0, r.output
    compile(r.output, "loader", "exec")
    assert "def load_artifact(path)" in r.output
    code = tmp_path / "train_gpt.py"
    code.write_text("import os\n" + r.output + "sd = load_artifact('m.gk')\n")
    r = run("build", "--checkpoint", str(ckpt), "--codec", "ans", "--scheme", "*=int6_row", "--code", str(code),
            "--dry-run", "--json")
    assert json.loads(r.output)["loader_bytes"] == 0


def _fails(r, text: str) -> None:
    assert_usage_error(r, text)


def test_refuses_to_overwrite_without_force(tmp_path):
    ckpt, out = _checkpoint(tmp_path), tmp_path / "m.gk"
    out.write_bytes(b"keep me")
    _fails(run("build", "--checkpoint", str(ckpt), "-o", str(out)), "already exists; pass --force")
    assert out.read_bytes() == b"keep me"
    assert run("build", "--checkpoint", str(ckpt), "-o", str(out), "--force", "--codec", "zstd").exit_code == 0
    assert read_artifact(out).tensors


def test_output_over_the_cap_is_refused_and_nothing_is_written(tmp_path):
    ckpt, out = _checkpoint(tmp_path), tmp_path / "m.gk"
    _fails(run("build", "--checkpoint", str(ckpt), "-o", str(out), "--cap", "100000"), "over the 100,000 cap")
    assert list(tmp_path.iterdir()) == [ckpt]


class NeedsCode:
    pass


@pytest.mark.parametrize("case", ["list", "code", "missing", "garbage", "nested"])
def test_bad_checkpoints_are_clear_errors(tmp_path, case):
    path = tmp_path / "bad.pt"
    if case == "list":
        torch.save([torch.ones(3)], path)
        want = "not a state dict"
    elif case == "code":
        path.write_bytes(pickle.dumps({"w": NeedsCode()}))
        torch.save({"w": NeedsCode()}, path)
        want = "needs code to load"
    elif case == "missing":
        want = "no such checkpoint"
    elif case == "garbage":
        path.write_bytes(b"\x00" * 64)
        want = "not a torch checkpoint"
    else:
        torch.save({"a": torch.ones(2), "opt": {"lr": 1}}, path)
        want = "is not a named tensor"
    _fails(run("build", "--checkpoint", str(path), "-o", str(tmp_path / "m.gk")), want)
    assert not (tmp_path / "m.gk").exists()


@pytest.mark.parametrize(("flag", "want"), [
    ("blocks.*.attn.c_q.weight=int6_row", "matches no tensor"),
    ("*=int6_rows", "unknown scheme"),
    ("int6_row", "PATTERN=SCHEME"),
])
def test_bad_schemes_are_clear_errors(tmp_path, flag, want):
    _fails(run("build", "--checkpoint", str(_checkpoint(tmp_path)), "--scheme", flag, "-o", str(tmp_path / "m.gk")), want)


def test_bad_codec_and_missing_output_are_clear_errors(tmp_path):
    ckpt = _checkpoint(tmp_path)
    _fails(run("build", "--checkpoint", str(ckpt), "--codec", "gzip", "-o", str(tmp_path / "m.gk")), "unknown codec")
    _fails(run("build", "--checkpoint", str(ckpt)), "-o ARTIFACT")


def test_safetensors_and_wrapped_checkpoints_are_read(tmp_path):
    from safetensors.torch import save_file

    sd = {"w": torch.randn(300, 256), "b": torch.zeros(256)}
    save_file(sd, tmp_path / "m.safetensors")
    torch.save({"state_dict": sd, "step": 3}, tmp_path / "wrapped.pt")
    for name in ("m.safetensors", "wrapped.pt"):
        r = run("build", "--checkpoint", str(tmp_path / name), "--dry-run", "--json")
        assert r.exit_code == 0, r.output
        assert {t["name"] for t in json.loads(r.output)["tensors"]} == {"w", "b"}


def test_schemes_toml_and_meta(tmp_path):
    ckpt, out = _checkpoint(tmp_path), tmp_path / "m.gk"
    (tmp_path / "s.toml").write_text('[schemes]\n"blocks.*" = "int5_row:std10"\n')
    (tmp_path / "meta.json").write_text('{"model": {"vocab_size": 512}}')
    r = run("build", "--checkpoint", str(ckpt), "--schemes", str(tmp_path / "s.toml"), "--meta",
            str(tmp_path / "meta.json"), "-o", str(out))
    assert r.exit_code == 0, r.output
    art = read_artifact(out)
    assert art.meta == {"model": {"vocab_size": 512}}
    assert {t.name: t.scheme for t in art.tensors}["blocks.0.mlp.fc.weight"] == "int5_row"


def test_minified_code_is_counted_as_golfkit_minify_packs_it(tmp_path):
    pytest.importorskip("golfkit.minify.wrap")
    code = tmp_path / "train_gpt.py"
    code.write_text("import os\n\n\ndef main():\n    value = 1\n    print(value)\n\n\nmain()\n" * 30)
    r = run("build", "--checkpoint", str(_checkpoint(tmp_path)), "--code", str(code), "--minified", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    b = json.loads(r.output)
    assert 0 < b["code_bytes"] < code.stat().st_size and "golfkit minify" in b["code"]


def test_a_round_trip_mismatch_fails_the_build_and_writes_nothing(tmp_path, monkeypatch):
    import golfkit.packing.pipeline as build_mod

    real = build_mod.decode_container

    def corrupting(blob, where="artifact"):
        art = real(blob, where)
        q = next(t for t in art.tensors if "q" in t.parts).parts["q"]
        q.view(-1)[0] = q.view(-1)[0] ^ 1
        return art

    monkeypatch.setattr(build_mod, "decode_container", corrupting)
    out = tmp_path / "m.gk"
    _fails(run("build", "--checkpoint", str(_checkpoint(tmp_path)), "-o", str(out)), "does not decode to the values written")
    assert not out.exists()


def test_a_latin1_wrapper_is_counted_as_shipped_and_as_golfkit_minify_packs_it(tmp_path):
    pytest.importorskip("golfkit.minify.wrap")
    script = tmp_path / "train_gpt.py"
    script.write_text("import os\n\n\ndef main():\n    value = 'é'\n    print(value, os.sep)\n\n\nmain()\n" * 30,
                      encoding="utf-8")
    wrapper, minified = tmp_path / "train_gpt.l1.py", tmp_path / "train_gpt.min.py"
    r = run("minify", str(script), "--wrap", "latin1", "--codecs", "lzma", "-o", str(wrapper))
    assert r.exit_code == 0, r.output
    assert wrapper.read_bytes().startswith(b"#coding:l1")
    with pytest.raises(UnicodeDecodeError):
        wrapper.read_bytes().decode("utf-8")  # a latin-1 file: reading it as UTF-8 was the traceback
    assert run("minify", str(wrapper), "-o", str(minified)).exit_code == 0
    ckpt = _checkpoint(tmp_path)
    for flags, expected in (((), wrapper.stat().st_size), (("--minified",), minified.stat().st_size)):
        r = run("build", "--checkpoint", str(ckpt), "--code", str(wrapper), *flags, "--dry-run", "--json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["code_bytes"] == expected
