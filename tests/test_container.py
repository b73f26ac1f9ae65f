"""golfkit container v1: round trips, strict rejection of bad bytes, and agreement with the trainer's copy."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
import torch

from golfkit.artifact import (
    Artifact,
    ContainerError,
    TensorRecord,
    compress,
    decode_container,
    decompress,
    encode_container,
    read_artifact,
    write_artifact,
)
from golfkit.artifact.container import DTYPES, MAX_HEADER_BYTES
from golfkit.artifact.quantize import quantize_state_dict
from golfkit.errors import GolfkitError

TRAINER = Path(__file__).resolve().parents[1] / "templates" / "train_gpt.py"
pytestmark = pytest.mark.usefixtures("one_thread")



def sample_tensor(dtype: torch.dtype, shape=(3, 5)) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    lo, hi = (0, 255) if dtype == torch.uint8 else (-100, 100)
    return torch.randint(lo, hi, shape, generator=g).to(dtype)


def all_schemes_artifact() -> Artifact:
    records = [TensorRecord(f"raw_{name}", name, (3, 5), "raw", {"data": sample_tensor(dt)})
               for name, dt in DTYPES.items()]
    records.append(TensorRecord("scalar", "float32", (), "raw", {"data": torch.tensor(2.5)}))
    records.append(TensorRecord("empty", "float16", (0, 4), "raw", {"data": torch.zeros(0, 4, dtype=torch.float16)}))
    q = torch.randint(-127, 128, (4, 6), dtype=torch.int8)
    scale = torch.rand(4).to(torch.float16)
    for target in ("float32", "bfloat16", "float16"):
        records.append(TensorRecord(f"int8_{target}", target, (4, 6), "int8_row", {"q": q, "scale": scale}))
    return Artifact(meta={"model": {"family": "test"}, "seed": 7}, tensors=records)


def with_header(blob: bytes, edit) -> bytes:
    """Re-pack a container after `edit(header_dict)`, keeping the data section."""
    (hlen,) = struct.unpack("<I", blob[8:12])
    header = json.loads(blob[12 : 12 + hlen])
    edit(header)
    new = json.dumps(header, separators=(",", ":")).encode()
    return blob[:8] + struct.pack("<I", len(new)) + new + blob[12 + hlen :]


def test_round_trip_every_dtype_and_scheme():
    art = all_schemes_artifact()
    back = decode_container(encode_container(art))
    assert back.meta == art.meta
    assert [t.name for t in back.tensors] == [t.name for t in art.tensors]
    for a, b in zip(art.tensors, back.tensors):
        assert (a.dtype, tuple(a.shape), a.scheme) == (b.dtype, tuple(b.shape), b.scheme)
        for role in a.parts:
            assert b.parts[role].dtype == a.parts[role].dtype
            assert torch.equal(b.parts[role], a.parts[role].reshape(b.parts[role].shape))
        assert b.dequantize().dtype == DTYPES[a.dtype]
    deq = back.state_dict()["int8_float32"]
    q, scale = art.tensors[-3].parts["q"], art.tensors[-3].parts["scale"]
    assert torch.equal(deq, q.float() * scale.float()[:, None])


@pytest.mark.parametrize("codec", ["zstd", "zlib"])
def test_write_read_file_round_trip(tmp_path, codec):
    art = all_schemes_artifact()
    path = tmp_path / "m.ptz"
    n = write_artifact(path, art, codec=codec)
    assert n == path.stat().st_size
    back = read_artifact(path)
    for name, t in art.state_dict().items():
        assert torch.equal(back.state_dict()[name], t)
    with pytest.raises(GolfkitError, match="already exists"):
        write_artifact(path, art)
    write_artifact(path, art, codec=codec, force=True)


def test_quantize_policy_int8_for_big_matrices_only():
    state = {"big.weight": torch.randn(64, 32), "small.weight": torch.randn(4, 4), "blocks.0.attn_scale": torch.ones(8)}
    art = quantize_state_dict(state, min_numel=1024)
    schemes = {t.name: (t.scheme, {r: p.dtype for r, p in t.parts.items()}) for t in art.tensors}
    assert schemes["big.weight"] == ("int8_row", {"q": torch.int8, "scale": torch.float16})
    assert schemes["small.weight"] == ("raw", {"data": torch.float16})
    assert schemes["blocks.0.attn_scale"] == ("raw", {"data": torch.float32})
    err = (art.state_dict()["big.weight"] - state["big.weight"]).abs().max()
    assert err < state["big.weight"].abs().max() / 100


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b: b"NOTGOLF" + b[7:], "no GOLFKIT magic"),
        (lambda b: b[:7] + bytes([99]) + b[8:], "version 99"),
        (lambda b: b[:6], "no GOLFKIT magic"),
        (lambda b: b[:40], "runs past the end"),
        (lambda b: b[:-3], "out of place or past the end"),
        (lambda b: b + b"\x00\x01", "stray bytes"),
        (lambda b: b[:8] + struct.pack("<I", MAX_HEADER_BYTES + 1) + b[12:], "header length"),
        (lambda b: b[:12] + b"\xff" + b[13:], "not valid JSON"),
    ],
    ids=["wrong-magic", "wrong-version", "tiny", "truncated-header", "truncated-data", "stray-bytes",
         "huge-header", "corrupt-json"],
)
def test_bad_container_bytes_are_refused(mutate, match):
    blob = encode_container(all_schemes_artifact())
    with pytest.raises(ContainerError, match=match):
        decode_container(mutate(blob))


def _shift_offset(header):
    header["tensors"][1]["parts"]["data"]["offset"] += 4


def _wrong_nbytes(header):
    header["tensors"][0]["parts"]["data"]["nbytes"] -= 4


def _bad_scheme(header):
    header["tensors"][0]["scheme"] = "int3_magic"


def _missing_part(header):
    del header["tensors"][-1]["parts"]["scale"]


def _shape_mismatch(header):
    header["tensors"][0]["shape"] = [4, 5]


@pytest.mark.parametrize("edit, match", [
    (_shift_offset, "out of place"),
    (_wrong_nbytes, "nbytes"),
    (_bad_scheme, "unsupported"),
    (_missing_part, "needs parts"),
    (_shape_mismatch, "shape needs"),
])
def test_inconsistent_headers_are_refused(edit, match):
    blob = with_header(encode_container(all_schemes_artifact()), edit)
    with pytest.raises(ContainerError, match=match):
        decode_container(blob)


def test_compressed_stream_errors():
    payload = encode_container(all_schemes_artifact())
    for codec in ("zstd", "zlib"):
        blob = compress(payload, codec)
        assert decompress(blob) == payload
        with pytest.raises(GolfkitError, match="truncated|corrupt"):
            decompress(blob[: len(blob) // 2])
    with pytest.raises(GolfkitError, match="not a zstd or zlib stream"):
        decompress(b"PK\x03\x04 a zip file")


def test_zstd_frame_without_content_size_is_checked_for_truncation():
    import zstandard

    payload = encode_container(all_schemes_artifact())
    blob = zstandard.ZstdCompressor(level=3, write_content_size=False).compress(payload)
    assert decompress(blob, where="x.ptz") == payload
    with pytest.raises(GolfkitError, match=r"x\.ptz: zstd data is corrupt or truncated \(frame is truncated"):
        decompress(blob[:-4], where="x.ptz")


def test_zstd_several_frames_are_read_whole():
    import zstandard

    a, b = b"first frame " * 100, b"second frame " * 100
    blob = zstandard.ZstdCompressor().compress(a) + zstandard.ZstdCompressor().compress(b)
    assert decompress(blob) == a + b


@pytest.mark.parametrize("codec", ["zstd", "zlib"])
def test_bounded_decompression_refuses_a_bomb(codec, tmp_path):
    bomb = compress(bytes(8 << 20), codec)
    assert len(bomb) < 10_000
    with pytest.raises(GolfkitError, match="refusing"):
        decompress(bomb, max_output=1 << 20)
    path = tmp_path / "bomb.ptz"
    path.write_bytes(bomb)
    with pytest.raises(GolfkitError, match="refusing"):
        read_artifact(path, max_output=1 << 20)


def test_unreadable_artifact_file(tmp_path):
    with pytest.raises(GolfkitError, match="no such file; give the path of an artifact"):
        read_artifact(tmp_path / "missing.ptz")
    with pytest.raises(GolfkitError, match="a folder, not a file"):
        read_artifact(tmp_path)


# --- the trainer's own mirror of writer and reader ---




@pytest.fixture(scope="module")
def model_state(trainer):
    torch.manual_seed(0)
    model = trainer.GPT(vocab_size=64, num_layers=3, model_dim=32, num_heads=4, num_kv_heads=2, mlp_mult=2)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return {k: v.detach() for k, v in model.state_dict().items()}


META = {"model": {"family": "golfkit-gpt-v1", "vocab_size": 64}, "train_seq_len": 16, "seed": 1}


@pytest.mark.parametrize("min_numel", [0, 1024, 1 << 20])
def test_trainer_writer_is_byte_identical_to_golfkit(trainer, model_state, min_numel):
    ours = encode_container(quantize_state_dict(model_state, META, min_numel=min_numel))
    theirs = trainer.encode_artifact(model_state, META, min_numel)
    assert theirs == ours
    assert trainer.compress_artifact(theirs, "zstd") == compress(ours, "zstd")
    assert trainer.compress_artifact(theirs, "zlib") == compress(ours, "zlib")


@pytest.mark.parametrize("codec", ["zstd", "zlib"])
def test_trainer_and_golfkit_readers_agree(trainer, model_state, tmp_path, codec):
    # trainer writes -> golfkit reads
    path = tmp_path / "final_model.int8.ptz"
    path.write_bytes(trainer.compress_artifact(trainer.encode_artifact(model_state, META, 512), codec))
    art = read_artifact(path)
    assert art.meta == META
    meta, theirs = trainer.read_artifact(path.read_bytes())
    assert meta == META
    ours = art.state_dict()
    assert list(ours) == list(theirs) == list(model_state)
    for name in ours:
        assert ours[name].dtype == theirs[name].dtype == model_state[name].dtype
        assert torch.equal(ours[name], theirs[name])
    # golfkit writes -> trainer reads
    path2 = tmp_path / "golfkit.ptz"
    write_artifact(path2, all_schemes_artifact(), codec=codec)
    _, theirs = trainer.read_artifact(path2.read_bytes())
    for name, t in read_artifact(path2).state_dict().items():
        assert torch.equal(theirs[name], t), name


def test_trainer_reader_refuses_bad_bytes(trainer, model_state):
    payload = trainer.encode_artifact(model_state, META, 512)
    with pytest.raises(trainer.InputError, match="stray bytes"):
        trainer.read_artifact(zlib.compress(payload + b"xx"))
    with pytest.raises(trainer.InputError, match="out of place or truncated"):
        trainer.read_artifact(zlib.compress(payload[:-10]))
    with pytest.raises(trainer.InputError, match="not a golfkit container"):
        trainer.read_artifact(zlib.compress(b"GOLFKIT\x02" + payload[8:]))
    with pytest.raises(trainer.InputError, match="not a zstd or zlib"):
        trainer.read_artifact(b"junk")


def test_trainer_reader_reads_a_payload_larger_than_one_chunk(trainer):
    state = {"w": torch.zeros(3000, 3000), "v": torch.linspace(-1, 1, 5000)}  # 18 MB as fp16, over 16 MiB
    blob = trainer.compress_artifact(trainer.encode_artifact(state, {}, 1 << 30), "zstd")
    assert len(decompress(blob)) > 1 << 24
    _, back = trainer.read_artifact(blob)
    assert torch.equal(back["w"], state["w"]) and torch.equal(back["v"], state["v"].half().float())
