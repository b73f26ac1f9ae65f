"""golfkit artifact container, version 1: a JSON header of tensors, then raw buffers. No pickle.

See `golfkit.artifact` for the five-line spec. Everything in the header is validated before a
single buffer is trusted: offsets in bounds and back to back, sizes equal to shape x itemsize.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from golfkit.artifact.compress import DEFAULT_MAX_OUTPUT, compress, decompress
from golfkit.errors import GolfkitError

MAGIC = b"GOLFKIT"
VERSION = 1
# A header is names, shapes and offsets: anything above this is not a golfkit header.
MAX_HEADER_BYTES = 64 << 20

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
SCHEME_PARTS = {"raw": {"data"}, "int8_row": {"q", "scale"}}


class ContainerError(GolfkitError):
    """The bytes are not a valid golfkit container."""


@dataclass
class TensorRecord:
    """One tensor as stored: its scheme and the raw parts that rebuild it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    scheme: str
    parts: dict[str, torch.Tensor]

    def dequantize(self) -> torch.Tensor:
        """The tensor's value, in its original dtype."""
        target = DTYPES[self.dtype]
        if self.scheme == "raw":
            return self.parts["data"].to(target).reshape(self.shape)
        if self.scheme == "int8_row":
            q, scale = self.parts["q"], self.parts["scale"]
            return (q.float() * scale.float()[:, None]).to(target).reshape(self.shape)
        raise ContainerError(f"tensor {self.name!r}: unknown scheme {self.scheme!r}")


@dataclass
class Artifact:
    meta: dict[str, Any] = field(default_factory=dict)
    tensors: list[TensorRecord] = field(default_factory=list)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Dequantized tensors by name, ready for `model.load_state_dict`."""
        return {t.name: t.dequantize() for t in self.tensors}


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    arr = t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()


def encode_container(artifact: Artifact) -> bytes:
    """Serialize `artifact` to container bytes (uncompressed)."""
    entries, chunks, offset = [], [], 0
    for rec in artifact.tensors:
        if rec.scheme not in SCHEME_PARTS or set(rec.parts) != SCHEME_PARTS[rec.scheme]:
            raise ContainerError(f"tensor {rec.name!r}: scheme {rec.scheme!r} needs parts {SCHEME_PARTS.get(rec.scheme)}")
        parts = {}
        for role, t in rec.parts.items():
            raw = _tensor_bytes(t)
            parts[role] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "offset": offset, "nbytes": len(raw)}
            chunks.append(raw)
            offset += len(raw)
        entries.append({"name": rec.name, "dtype": rec.dtype, "shape": list(rec.shape), "scheme": rec.scheme, "parts": parts})
    header = json.dumps({"meta": artifact.meta, "tensors": entries}, separators=(",", ":")).encode()
    return MAGIC + bytes([VERSION]) + struct.pack("<I", len(header)) + header + b"".join(chunks)


def decode_container(blob: bytes, where: str = "artifact") -> Artifact:
    """Parse container bytes, validating every field and offset before reading a buffer."""
    if len(blob) < 12 or blob[:7] != MAGIC:
        raise ContainerError(f"{where}: not a golfkit container (no GOLFKIT magic)")
    if blob[7] != VERSION:
        raise ContainerError(f"{where}: container version {blob[7]}, this golfkit reads version {VERSION}; upgrade golfkit")
    (hlen,) = struct.unpack("<I", blob[8:12])
    if hlen > MAX_HEADER_BYTES or 12 + hlen > len(blob):
        raise ContainerError(f"{where}: header length {hlen} runs past the end of the file ({len(blob)} bytes); truncated?")
    try:
        header = json.loads(blob[12 : 12 + hlen])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContainerError(f"{where}: header is not valid JSON ({exc})") from None
    data = memoryview(blob)[12 + hlen :]
    if not isinstance(header, dict) or not isinstance(header.get("tensors"), list):
        raise ContainerError(f"{where}: header has no 'tensors' list")
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise ContainerError(f"{where}: header 'meta' is not an object")
    expected, tensors = 0, []
    for i, e in enumerate(header["tensors"]):
        try:
            name, dtype, shape, scheme, parts = e["name"], e["dtype"], tuple(e["shape"]), e["scheme"], e["parts"]
        except (KeyError, TypeError):
            raise ContainerError(f"{where}: tensor entry {i} lacks name/dtype/shape/scheme/parts") from None
        if dtype not in DTYPES or scheme not in SCHEME_PARTS or not isinstance(parts, dict):
            raise ContainerError(f"{where}: tensor {name!r}: unsupported dtype {dtype!r} or scheme {scheme!r}")
        if set(parts) != SCHEME_PARTS[scheme]:
            raise ContainerError(f"{where}: tensor {name!r}: scheme {scheme!r} needs parts {sorted(SCHEME_PARTS[scheme])}")
        loaded = {}
        for role, p in parts.items():
            loaded[role] = _read_part(data, p, expected, f"{where}: tensor {name!r} part {role!r}")
            expected += p["nbytes"]
        rec = TensorRecord(name, dtype, shape, scheme, loaded)
        _check_shapes(rec, where)
        tensors.append(rec)
    if expected != len(data):
        raise ContainerError(f"{where}: {len(data) - expected} stray bytes after the last tensor")
    return Artifact(meta=meta, tensors=tensors)


def _read_part(data: memoryview, p: Any, expected: int, where: str) -> torch.Tensor:
    try:
        dtype, shape, offset, nbytes = p["dtype"], [int(s) for s in p["shape"]], int(p["offset"]), int(p["nbytes"])
    except (KeyError, TypeError, ValueError):
        raise ContainerError(f"{where}: malformed part entry") from None
    if dtype not in DTYPES or any(s < 0 for s in shape):
        raise ContainerError(f"{where}: bad dtype {dtype!r} or shape {shape}")
    itemsize = torch.empty((), dtype=DTYPES[dtype]).element_size()
    if nbytes != math.prod(shape) * itemsize:
        raise ContainerError(f"{where}: nbytes {nbytes} != shape {shape} x {itemsize}")
    if offset != expected or offset + nbytes > len(data):
        raise ContainerError(f"{where}: offset {offset} (+{nbytes}) is out of place or past the end; truncated?")
    np_dtype = np.int16 if dtype == "bfloat16" else np.dtype(DTYPE_NAMES[DTYPES[dtype]]).newbyteorder("<")
    arr = np.frombuffer(data[offset : offset + nbytes], dtype=np_dtype).reshape(shape).copy()
    t = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("=")))
    return t.view(torch.bfloat16) if dtype == "bfloat16" else t


def _check_shapes(rec: TensorRecord, where: str) -> None:
    n = math.prod(rec.shape)
    if rec.scheme == "raw" and rec.parts["data"].numel() != n:
        raise ContainerError(f"{where}: tensor {rec.name!r}: data has {rec.parts['data'].numel()} values, shape needs {n}")
    if rec.scheme == "int8_row":
        q, scale = rec.parts["q"], rec.parts["scale"]
        if q.dtype != torch.int8 or q.dim() != 2 or q.numel() != n or scale.shape != (q.shape[0],):
            raise ContainerError(f"{where}: tensor {rec.name!r}: int8_row parts do not fit shape {list(rec.shape)}")


def write_artifact(path: str | Path, artifact: Artifact, codec: str = "zstd", force: bool = False) -> int:
    """Compress and write atomically; refuse to replace an existing file unless `force`. Returns bytes."""
    path = Path(path)
    if path.exists() and not force:
        raise GolfkitError(f"{path}: already exists; pass --force to overwrite")
    blob = compress(encode_container(artifact), codec)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(blob)


def read_artifact(path: str | Path, max_output: int = DEFAULT_MAX_OUTPUT) -> Artifact:
    """Read, decompress (bounded) and validate a golfkit artifact file."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise GolfkitError(f"{path}: cannot read artifact ({exc.strerror})") from None
    return decode_container(decompress(blob, max_output, where=str(path)), where=str(path))
