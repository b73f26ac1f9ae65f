"""Quantization schemes, scheme rules, and container version 2 round trips."""

from __future__ import annotations

import math

import pytest
import torch

from golfkit.artifact.compress import compress, decompress
from golfkit.artifact.container import Artifact, ContainerError, decode_container, encode_container
from golfkit.artifact.quantize import quantize_state_dict
from golfkit.errors import GolfkitError
from golfkit.packing.pipeline import build_in_memory
from golfkit.packing.policy import assign, load_rules_toml, parse_rule
from golfkit.packing.schemes import parse_scheme, quantize

SCHEMES = ["int8_row", "int6_row", "int5_row:std4", "int4_row:max", "int4_g32", "int3_g16:p99.9", "int2_row:max",
           "int7_g64:std8", "fp16", "bf16", "fp32", "raw"]
CODECS = ["zstd", "ans", "best", "brotli-11:col", "lzma-9e:shuffle", "xz-6:row", "zlib-9:col", "none:shuffle",
          "zstd-19-long:row"]


def heavy(rows: int, cols: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    col_scale = torch.exp(torch.randn(cols, generator=g) * 0.5)
    t = torch.randn(rows, cols, generator=g) / torch.rand(rows, cols, generator=g).clamp_min(0.05).sqrt()
    return 0.02 * t * col_scale


def state(seed: int = 0) -> dict[str, torch.Tensor]:
    return {
        "tok_emb.weight": heavy(512, 256, seed),
        "blocks.0.mlp.fc.weight": heavy(768, 256, seed + 1),
        "blocks.0.attn_scale": torch.ones(256),
        "blocks.0.attn.q_gain": torch.full((4,), 1.5),
        "small.weight": heavy(16, 16, seed + 2),
        "step": torch.tensor([3], dtype=torch.int64),
    }


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_round_trips_exactly_and_within_its_error_bound(scheme):
    w = heavy(64, 128)
    rec = quantize("w", w, parse_scheme(scheme))
    blob = encode_container(Artifact(tensors=[rec]))
    back = decode_container(blob).tensors[0]
    for role, part in rec.parts.items():
        assert torch.equal(back.parts[role], part), role
    deq = back.dequantize()
    assert deq.shape == w.shape and deq.dtype == w.dtype
    s = parse_scheme(scheme)
    if s.quantizes:
        scale = back.parts["scale"].float()
        step = scale[:, None] if scale.dim() == 1 else scale.repeat_interleave(w.shape[1] // scale.shape[1], 1)
        qmax = (1 << (s.bits - 1)) - 1
        inside = w.abs() <= step * qmax
        err = (deq - w).abs()
        assert bool((err[inside] <= step.expand_as(w)[inside] / 2 * (1 + 1e-3) + 1e-9).all())
        assert int(back.parts["q"].abs().max()) <= qmax
    elif scheme == "fp32" or scheme == "raw":
        assert torch.equal(deq, w)
    else:
        assert (deq - w).abs().max() <= w.abs().max() * 2**-7


def test_std_and_max_clip_set_the_scale():
    w = heavy(8, 512)
    _q, s = quantize("w", w, parse_scheme("int6_row:max")).parts.values()
    assert torch.allclose(s.float(), (w.abs().amax(1) / 31).half().float())
    _q, s = quantize("w", w, parse_scheme("int6_row:std3")).parts.values()
    assert torch.allclose(s.float(), (3 * w.std(1, correction=0) / 31).half().float())


@pytest.mark.parametrize("bad", ["int9_row", "int6_col", "int6_row:q50", "int6_row:p0", "int4_g0", "float8", ""])
def test_unknown_scheme_is_a_clear_error(bad):
    with pytest.raises(GolfkitError, match="scheme"):
        parse_scheme(bad)


def test_group_size_must_divide_the_row():
    with pytest.raises(GolfkitError, match="groups of 48"):
        quantize("w", heavy(4, 100), parse_scheme("int4_g48"))


@pytest.mark.parametrize("codec", CODECS)
def test_every_codec_round_trips_a_mixed_state_dict(codec):
    sd = state()
    rules = [parse_rule("*=int5_row"), parse_rule("tok_emb.weight=int4_g32"), parse_rule("small.weight=int8_row")]
    built = build_in_memory(sd, rules, codec)  # raises if any part decodes differently
    assert built.blob[:4] == b"\x28\xb5\x2f\xfd"
    assert built.errors["blocks.0.mlp.fc.weight"]["rel_rms"] < 0.2
    assert built.errors["blocks.0.attn_scale"]["max_abs"] == 0.0
    b = built.budget
    assert sum(t.bytes for t in b.tensors) + b.overhead_bytes == b.model_bytes == len(built.blob)


def test_default_policy_with_zstd_is_byte_identical_to_version_1():
    sd = state()
    v1 = compress(encode_container(quantize_state_dict(sd)), "zstd")
    built = build_in_memory(sd, [], "zstd")
    assert built.blob == v1
    assert decompress(built.blob)[7] == 1


def test_version_2_is_written_only_when_extensions_are_used():
    assert decompress(build_in_memory(state(), [parse_rule("*=int6_row")], "zstd").blob)[7] == 2
    assert decompress(build_in_memory(state(), [], "ans").blob)[7] == 2


def test_version_1_file_may_not_use_version_2_schemes():
    blob = bytearray(encode_container(Artifact(tensors=[quantize("w", heavy(4, 64), parse_scheme("int6_row"))])))
    assert blob[7] == 2
    blob[7] = 1
    with pytest.raises(ContainerError, match="unsupported dtype"):
        decode_container(bytes(blob))


def _with_shape(blob: bytes, old: bytes, new: bytes) -> bytes:
    """The container `blob` with one part shape rewritten in its header (header length fixed up)."""
    bad = blob.replace(old, new, 1)
    assert bad != blob
    hlen = int.from_bytes(blob[8:12], "little") + len(bad) - len(blob)
    return bad[:8] + hlen.to_bytes(4, "little") + bad[12:]


def test_coded_part_that_decodes_to_the_wrong_size_is_refused():
    rec = quantize("w", heavy(32, 64), parse_scheme("int6_row"))
    rec.coding = {"q": {"codec": "zlib", "layout": "row"}}
    blob = encode_container(Artifact(tensors=[rec]))
    # Claim a smaller shape than the coded bytes hold: the bounded decoder must refuse it.
    with pytest.raises(GolfkitError, match="decodes to"):
        decode_container(_with_shape(blob, b'"shape":[32,64],"offset":0', b'"shape":[16,64],"offset":0'))


def test_glob_rules_skip_small_and_control_tensors_and_last_match_wins():
    sd = state()
    rules = [parse_rule("*=int6_row"), parse_rule("blocks.*=int4_row")]
    got = {a.name: a for a in assign(sd, rules)}
    assert got["tok_emb.weight"].scheme.text == "int6_row"
    assert got["blocks.0.mlp.fc.weight"].scheme.text == "int4_row"
    assert got["blocks.0.attn_scale"].scheme.text == "fp32" and "control" in got["blocks.0.attn_scale"].reason
    assert got["small.weight"].scheme.text == "fp16" and "small" in got["small.weight"].reason
    assert got["step"].scheme.text == "raw"
    forced = {a.name: a for a in assign(sd, [parse_rule("small.weight=int4_row")])}
    assert forced["small.weight"].scheme.text == "int4_row"


def test_pattern_that_matches_nothing_is_an_error():
    with pytest.raises(GolfkitError, match="matches no tensor"):
        assign(state(), [parse_rule("blocks.*.mlp.c_fc.weight=int6_row")])
    with pytest.raises(GolfkitError, match="PATTERN=SCHEME"):
        parse_rule("int6_row")


def test_toml_rules_apply_in_file_order(tmp_path):
    f = tmp_path / "schemes.toml"
    f.write_text('[schemes]\n"*" = "int6_row:std12"\n"tok_emb.weight" = "int8_row"\n')
    rules = load_rules_toml(f)
    got = {a.name: a.scheme.text for a in assign(state(), rules)}
    assert got["tok_emb.weight"] == "int8_row" and got["blocks.0.mlp.fc.weight"] == "int6_row:std12"
    f.write_text('[schemes]\n"*" = "int12_row"\n')
    with pytest.raises(GolfkitError, match="unknown scheme"):
        load_rules_toml(f)
    f.write_text("schemes = [")
    with pytest.raises(GolfkitError, match="not valid TOML"):
        load_rules_toml(f)


def test_quantization_error_shrinks_with_bits():
    w = heavy(128, 256)
    errs = []
    for bits in (3, 4, 6, 8):
        deq = quantize("w", w, parse_scheme(f"int{bits}_row")).dequantize()
        errs.append(float((deq - w).norm() / w.norm()))
    assert errs == sorted(errs, reverse=True) and errs[-1] < 0.05
    assert all(math.isfinite(e) for e in errs)


def test_coded_part_claiming_a_huge_shape_is_refused_before_decoding():
    rec = quantize("w", heavy(32, 64), parse_scheme("int6_row"))
    rec.coding = {"q": {"codec": "zstd", "layout": "row"}}
    blob = encode_container(Artifact(tensors=[rec]))
    with pytest.raises(ContainerError, match="refusing"):
        decode_container(_with_shape(blob, b'"shape":[32,64],"offset":0', b'"shape":[65536,65536],"offset":0'))


def test_int_scheme_values_outside_their_range_are_refused():
    rec = quantize("w", heavy(8, 64), parse_scheme("int4_row"))
    rec.parts["q"][0, 0] = -128
    with pytest.raises(ContainerError, match="int4_row parts do not fit"):
        decode_container(encode_container(Artifact(tensors=[rec])))
