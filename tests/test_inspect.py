"""`golfkit inspect` on golfkit containers and on the formats real records ship (docs/verify.md#artifacts-records-ship)."""

from __future__ import annotations

import io
import json
import lzma
import zlib
from pathlib import Path

import brotli
import pytest
import torch
import zstandard
from cli_helpers import assert_usage_error
from click.testing import CliRunner

from golfkit.artifact.codecs import byte_shuffle
from golfkit.cli import main
from golfkit.packing.pipeline import build_in_memory
from golfkit.packing.policy import parse_rule


def _weights() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "tok_emb.weight": torch.randn(256, 128, generator=g) * 0.05,
        "blocks.0.mlp.fc.weight": torch.randn(384, 128, generator=g) * 0.02,
        "blocks.0.attn_scale": torch.ones(128),
    }


def _baseline_payload(sd: dict[str, torch.Tensor]) -> dict:
    """The baseline's int8_clean_per_row_v1 object, as its quantize_state_dict_int8 builds it."""
    quantized, scales, dtypes, passthrough, qmeta = {}, {}, {}, {}, {}
    for name, t in sd.items():
        if t.numel() <= 65_536 and t.dim() < 2 or t.numel() < 1000:
            passthrough[name] = t.to(torch.float16) if "scale" not in name else t
            continue
        scale = (t.abs().amax(1) / 127).clamp_min(1 / 127)
        quantized[name] = torch.clamp(torch.round(t / scale[:, None]), -127, 127).to(torch.int8)
        scales[name] = scale.to(torch.float16)
        dtypes[name] = "float32"
        qmeta[name] = {"scheme": "per_row", "axis": 0}
    return {"__quant_format__": "int8_clean_per_row_v1", "quantized": quantized, "scales": scales, "dtypes": dtypes,
            "passthrough": passthrough, "qmeta": qmeta}


def _wm_payload(sd: dict[str, torch.Tensor]) -> dict:
    w, m = {}, {}
    for name, t in sd.items():
        if t.dim() == 2:
            scale = (t.abs().amax(1) / 31).to(torch.float16)
            w[name + ".q"] = torch.clamp(torch.round(t / scale.float()[:, None]), -31, 31).to(torch.int8)
            w[name + ".scale"] = scale
            m[name] = {"type": "int6"}
        else:
            w[name] = t.to(torch.float16)
            m[name] = "passthrough"
    return {"w": w, "m": m}


def _save(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _bshf(raw: bytes, stride: int = 2) -> bytes:
    return b"BSHF" + bytes([stride]) + byte_shuffle(raw, stride)


COMPRESSORS = {
    "zlib": lambda b: zlib.compress(b, 9),
    "zstd": lambda b: zstandard.ZstdCompressor(level=22).compress(b),
    "lzma": lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE, preset=6),
    "xz": lambda b: lzma.compress(b, preset=9),
    "lzma2-raw": lambda b: lzma.compress(b, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}]),
    "brotli": lambda b: brotli.compress(b, quality=11),
}


def inspect(path: Path, *extra: str):
    return CliRunner().invoke(main, ["inspect", str(path), *extra])


@pytest.mark.parametrize("compressor", sorted(COMPRESSORS))
def test_baseline_int8_format_under_every_compressor(tmp_path, compressor):
    path = tmp_path / "final_model.int8.ptz"
    path.write_bytes(COMPRESSORS[compressor](_save(_baseline_payload(_weights()))))
    r = inspect(path, "--json")
    assert r.exit_code == 0, r.output
    b = json.loads(r.output)
    assert b["format"] == "int8_clean_per_row_v1" and b["layers"] == compressor
    by_name = {t["name"]: t for t in b["tensors"]}
    assert by_name["tok_emb.weight"]["scheme"] == "int8_row" and by_name["tok_emb.weight"]["params"] == 256 * 128
    assert by_name["blocks.0.attn_scale"]["scheme"] == "fp32"
    assert sum(t["bytes"] for t in b["tensors"]) + b["overhead_bytes"] == b["model_bytes"] == path.stat().st_size


def test_wm_format_byte_shuffled_under_brotli(tmp_path):
    path = tmp_path / "final_model.int6.ptz"
    path.write_bytes(brotli.compress(_bshf(_save(_wm_payload(_weights()))), quality=11))
    r = inspect(path)
    assert r.exit_code == 0, r.output
    assert "format: w/m dict" in r.output and "layers: brotli > bshf/2" in r.output
    row = next(line for line in r.output.splitlines() if line.startswith("blocks.0.mlp.fc.weight"))
    assert "int6_row" in row and "49,152" in row


def test_plain_state_dict_and_golfkit_containers(tmp_path):
    (tmp_path / "sd.pt.zst").write_bytes(COMPRESSORS["zstd"](_save(_weights())))
    r = inspect(tmp_path / "sd.pt.zst", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["format"] == "state dict"
    for codec, version in (("zstd", 1), ("best", 2)):
        rules = [] if version == 1 else [parse_rule("*=int5_row"), parse_rule("tok_emb.weight=int5_row")]
        built = build_in_memory(_weights(), rules, codec)
        path = tmp_path / f"m{version}.gk"
        path.write_bytes(built.blob)
        r = inspect(path, "--json")
        assert r.exit_code == 0, r.output
        b = json.loads(r.output)
        assert b["format"] == f"golfkit container v{version}"
        assert {t["name"]: t["bytes"] for t in b["tensors"]} == {t.name: t.bytes for t in built.budget.tensors}


class NeedsCode:
    pass


@pytest.mark.parametrize(("payload", "want"), [
    (lambda: zlib.compress(_save({"w": NeedsCode()})), "needs code to load (it refers to"),
    (lambda: b"\x00garbage" * 20, "not a compressed artifact golfkit knows"),
    (lambda: zlib.compress(_save({"w": torch.ones(3)}))[:-9], "truncated"),
    (lambda: zlib.compress(_save([1, 2])), "unknown payload"),
    (lambda: zlib.compress(b"\x00" * 5_000_000), "refusing"),
])
def test_bad_artifacts_are_clear_errors(tmp_path, payload, want):
    path = tmp_path / "bad.ptz"
    path.write_bytes(payload())
    assert_usage_error(inspect(path, "--max-output", "4000000"), want)


def test_missing_file_is_a_clear_error(tmp_path):
    r = inspect(tmp_path / "nope.ptz")
    assert r.exit_code == 2 and "no such file; give the path of an artifact" in r.output
