"""Entropy coding (context-grouped ANS), general codecs and layouts, and the emitted loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from golfkit.artifact import ans, codecs
from golfkit.artifact.container import read_artifact
from golfkit.errors import GolfkitError
from golfkit.packing.part_codecs import order0_bytes, parse_codec
from golfkit.packing.pipeline import build_in_memory
from golfkit.packing.policy import parse_rule


def quantized(rows: int, cols: int, col_spread: float, seed: int = 0, qmax: int = 31) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_t(4, size=(rows, cols)) * np.exp(rng.normal(0, col_spread, cols))
    scale = np.quantile(np.abs(w), 0.9999, axis=1) / qmax
    return np.clip(np.round(w / scale[:, None]), -qmax, qmax).astype(np.int8)


@pytest.mark.parametrize("shape", [(1, 1), (1, 300), (300, 1), (64, 96), (257, 129)])
def test_ans_round_trips_any_shape(shape):
    q = quantized(*shape, col_spread=0.3)
    blob, coding = ans.encode(q)
    assert np.array_equal(ans.decode(blob, coding, shape, "t"), q)


def test_ans_round_trips_constant_and_full_range_values():
    for q in (np.full((20, 30), -7, np.int8), np.arange(-128, 128, dtype=np.int8).reshape(16, 16)):
        blob, coding = ans.encode(q)
        assert np.array_equal(ans.decode(blob, coding, q.shape, "t"), q)
    q = quantized(64, 64, 0.5)
    for rg, cg in [(1, 1), (4, 2), (8, 8)]:
        for mode in ("table", "scaled"):
            blob, coding = ans.encode(q, {"rg": rg, "cg": cg, "mode": mode})
            assert np.array_equal(ans.decode(blob, coding, q.shape, "t"), q)


@pytest.mark.parametrize("qmax", [31, 127])
def test_ans_contexts_beat_order0_when_columns_differ(qmax):
    q = quantized(1024, 512, col_spread=0.5, qmax=qmax)
    blob, coding = ans.encode(q)
    assert coding["cg"] > 1
    assert len(blob) < 0.98 * order0_bytes(q)


def test_scaled_mode_is_chosen_for_wide_alphabets_and_round_trips():
    q = quantized(512, 512, col_spread=0.5, qmax=127)
    plan, est = ans.choose(q)
    assert plan["mode"] == "scaled"
    blob, coding = ans.encode(q, plan)
    assert coding["mode"] == "scaled" and abs(len(blob) - est) <= 0.001 * est
    assert np.array_equal(ans.decode(blob, coding, q.shape, "t"), q)
    with pytest.raises(GolfkitError, match="bad fields"):
        ans.decode(blob, {**coding, "mode": "other"}, q.shape, "t")


def test_ans_stays_within_order0_plus_0p3_percent_without_structure():
    q = quantized(1024, 512, col_spread=0.0, seed=3)
    blob, _ = ans.encode(q)
    assert len(blob) <= 1.003 * order0_bytes(q)


def test_ans_estimate_matches_the_coded_size():
    q = quantized(512, 256, col_spread=0.4)
    plan, est = ans.choose(q)
    blob, _ = ans.encode(q, plan)
    assert abs(len(blob) - est) <= max(8, 0.001 * est)


def test_ans_refuses_corrupt_parts():
    q = quantized(64, 64, 0.5)
    blob, coding = ans.encode(q, {"rg": 2, "cg": 2})
    with pytest.raises(GolfkitError, match="truncated"):
        ans.decode(blob[:10], coding, q.shape, "t")
    with pytest.raises(GolfkitError, match="bad fields"):
        ans.decode(blob, {**coding, "rg": 3}, q.shape, "t")
    with pytest.raises(GolfkitError, match="left over"):
        ans.decode(blob + b"\x01\x00\x00\x00", coding, q.shape, "t")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 9))
def test_byte_shuffle_is_inverted(raw, stride):
    assert codecs.byte_unshuffle(codecs.byte_shuffle(raw, stride), stride) == raw


@pytest.mark.parametrize("codec", ["none", "zlib", "zstd", "lzma", "xz", "brotli"])
@pytest.mark.parametrize("layout", ["row", "col", "shuffle"])
def test_general_codecs_round_trip_in_every_layout(codec, layout):
    arr = np.random.default_rng(1).normal(size=(33, 17)).astype("<f2")
    blob, fields = codecs.compress_bytes(codecs.lay_out(arr, layout, 2), codec, None)
    coding = {"codec": codec, "layout": layout, **fields}
    raw = codecs.decompress_bytes(blob, coding, arr.nbytes, "t")
    assert np.array_equal(codecs.undo_layout(raw, layout, arr.shape, arr.dtype, 2), arr)
    if codec != "none":
        with pytest.raises(GolfkitError, match="decodes to|corrupt"):
            codecs.decompress_bytes(blob, coding, arr.nbytes - 1, "t")


def test_codec_specs_parse_or_fail_clearly():
    assert parse_codec("brotli-11:col").layout == "col"
    assert parse_codec("zstd-22-long:shuffle").long
    assert parse_codec("lzma-9e").level == 9
    for bad in ("gzip", "zstd:diag", "brotli-x"):
        with pytest.raises(GolfkitError, match="unknown codec"):
            parse_codec(bad)


def _state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    cols = torch.exp(torch.randn(256, generator=g) * 0.5)
    return {
        "a.weight": torch.randn(512, 256, generator=g) * cols,
        "b.weight": torch.randn(256, 256, generator=g).to(torch.bfloat16),
        "a_scale": torch.ones(256),
        "steps": torch.arange(5),
    }


@pytest.mark.parametrize("codec", ["zstd", "zlib", "ans", "best", "brotli-11:col", "lzma-9e:shuffle", "xz-6:row"])
def test_emitted_loader_decodes_what_golfkit_reads(tmp_path, codec):
    built = build_in_memory(_state(), [parse_rule("*=int6_g64"), parse_rule("b.weight=bf16")], codec)
    path = tmp_path / "m.gk"
    path.write_bytes(built.blob)
    ns: dict = {}
    exec(compile(built.loader, "loader", "exec"), ns)  # noqa: S102 - our own emitted loader, under test
    got = ns["load_artifact"](str(path))
    want = read_artifact(path).state_dict()
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), k
    assert built.budget.loader_bytes == len(built.loader.encode()) < 2500


def test_loader_only_carries_the_decoders_it_needs():
    sd = _state()
    plain = build_in_memory(sd, [], "zstd").loader
    assert "constriction" not in plain and "_gen" not in plain
    coded = build_in_memory(sd, [parse_rule("*=int6_row")], "ans").loader
    assert "constriction" in coded and "brotli" not in coded


def test_best_is_never_larger_than_ans_and_beats_the_general_codecs_on_structured_weights():
    g = torch.Generator().manual_seed(1)
    cols = torch.exp(torch.randn(256, generator=g) * 0.5)
    sd = {f"l{i}.weight": torch.randn(512, 256, generator=g) * cols / torch.rand(512, 256, generator=g).clamp_min(0.1)
          for i in range(2)}
    rules = [parse_rule("*=int6_row")]
    sizes = {c: len(build_in_memory(sd, rules, c).blob) for c in ("best", "ans", "zstd-22:col", "brotli-11:col")}
    assert sizes["best"] <= sizes["ans"]
    assert sizes["best"] < 0.99 * min(sizes["zstd-22:col"], sizes["brotli-11:col"])


def test_emitted_loader_reads_scaled_mode_ans(tmp_path):
    built = build_in_memory(_state(), [parse_rule("*=int8_row:max")], "ans")
    path = tmp_path / "m.gk"
    path.write_bytes(built.blob)
    ns: dict = {}
    exec(compile(built.loader, "loader", "exec"), ns)  # noqa: S102 - our own emitted loader, under test
    got, want = ns["load_artifact"](str(path)), read_artifact(path).state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    stored = {t.name: t.coding for t in read_artifact(path).tensors}
    assert stored["a.weight"]["q"]["mode"] == "scaled"
