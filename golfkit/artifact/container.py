"""golfkit artifact container, version 1: a JSON header of tensors, then raw buffers. No pickle.

See `golfkit.artifact` for the five-line spec. Everything in the header is validated before a
single buffer is trusted: offsets in bounds and back to back, sizes equal to shape x itemsize.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from golfkit.artifact import ans, codecs
from golfkit.artifact.compress import DEFAULT_MAX_OUTPUT, compress, decompress
from golfkit.errors import GolfkitError
from golfkit.files import read_bytes
from golfkit.writes import refuse_existing, write_file

MAGIC = b"GOLFKIT"
VERSION = 1
# Version 2 = version 1 plus intN schemes and per-part coding; written only when a file uses them.
VERSION_CODED = 2
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
INT_ROW = re.compile(r"int([2-8])_row")
INT_GROUP = re.compile(r"int([2-8])_g([1-9][0-9]{0,5})")


def scheme_parts(scheme: str, version: int) -> set[str] | None:
    """Part roles a scheme needs, or None if `scheme` does not exist in this container version."""
    if scheme in SCHEME_PARTS:
        return SCHEME_PARTS[scheme]
    if version >= VERSION_CODED and (INT_ROW.fullmatch(scheme) or INT_GROUP.fullmatch(scheme)):
        return {"q", "scale"}
    return None


def scheme_bits(scheme: str) -> int | None:
    """Bits of an integer scheme ("int6_row" -> 6), None for "raw"."""
    m = INT_ROW.fullmatch(scheme) or INT_GROUP.fullmatch(scheme)
    return int(m.group(1)) if m else None


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
    # role -> how the part is coded in a version-2 file: the request when writing
    # ({"codec", "level", "layout", ...}), the stored coding when read back. Empty: raw bytes.
    coding: dict[str, dict[str, Any]] = field(default_factory=dict)

    def dequantize(self) -> torch.Tensor:
        """The tensor's value, in its original dtype."""
        target = DTYPES[self.dtype]
        if self.scheme == "raw":
            return self.parts["data"].to(target).reshape(self.shape)
        if self.scheme == "int8_row" or INT_ROW.fullmatch(self.scheme):
            q, scale = self.parts["q"], self.parts["scale"]
            return (q.float() * scale.float()[:, None]).to(target).reshape(self.shape)
        if INT_GROUP.fullmatch(self.scheme):
            q, scale = self.parts["q"], self.parts["scale"]
            group = q.shape[1] // scale.shape[1]
            return (q.float() * scale.float().repeat_interleave(group, dim=1)).to(target).reshape(self.shape)
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


def container_version(artifact: Artifact) -> int:
    """1 if the artifact uses only version-1 features, else 2."""
    v1 = all(rec.scheme in SCHEME_PARTS and not rec.coding for rec in artifact.tensors)
    return VERSION if v1 else VERSION_CODED


def encode_container(artifact: Artifact) -> bytes:
    """Serialize `artifact` to container bytes (uncompressed)."""
    version = container_version(artifact)
    entries, chunks, offset = [], [], 0
    for rec in artifact.tensors:
        needed = scheme_parts(rec.scheme, version)
        if needed is None or set(rec.parts) != needed:
            raise ContainerError(f"tensor {rec.name!r}: scheme {rec.scheme!r} needs parts {needed}")
        parts = {}
        for role, t in rec.parts.items():
            if role in rec.coding:
                raw, stored = _code_part(t, rec.coding[role])
                parts[role] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "offset": offset,
                               "nbytes": len(raw), "coding": stored}
            else:
                raw = _tensor_bytes(t)
                parts[role] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "offset": offset, "nbytes": len(raw)}
            chunks.append(raw)
            offset += len(raw)
        entries.append({"name": rec.name, "dtype": rec.dtype, "shape": list(rec.shape), "scheme": rec.scheme, "parts": parts})
    header = json.dumps({"meta": artifact.meta, "tensors": entries}, separators=(",", ":")).encode()
    return MAGIC + bytes([version]) + struct.pack("<I", len(header)) + header + b"".join(chunks)


def part_array(t: torch.Tensor) -> np.ndarray:
    """A part as a little-endian numpy array (bfloat16 as its int16 bits)."""
    t = t.detach().contiguous().cpu()
    arr = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy()
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False)


def _code_part(t: torch.Tensor, request: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """Code one part as `request` asks; returns its bytes and the coding to store in the header."""
    codec = request.get("codec")
    if codec == "ans":
        if t.dtype != torch.int8 or t.dim() != 2:
            raise ContainerError(f"codec ans codes 2-D int8 parts only, not {DTYPE_NAMES[t.dtype]} {list(t.shape)}")
        plan = {k: request[k] for k in ("rg", "cg", "mode") if k in request}
        return ans.encode(t.numpy(), plan if "rg" in plan and "cg" in plan else None)
    layout = request.get("layout", "row")
    if layout not in codecs.LAYOUTS:
        raise ContainerError(f"unknown layout {layout!r}: use one of {', '.join(codecs.LAYOUTS)}")
    arr = part_array(t)
    stored: dict[str, Any] = {"codec": codec, "layout": layout}
    if layout == "shuffle":
        stored["stride"] = max(2, arr.itemsize)
    laid = codecs.lay_out(arr, layout, stored.get("stride", 2))
    blob, fields = codecs.compress_bytes(laid, codec, request.get("level"), bool(request.get("long")))
    return blob, {**stored, **fields}


def decode_container(blob: bytes, where: str = "artifact") -> Artifact:
    """Parse container bytes, validating every field and offset before reading a buffer."""
    if len(blob) < 12 or blob[:7] != MAGIC:
        raise ContainerError(f"{where}: not a golfkit container (no GOLFKIT magic)")
    version = blob[7]
    if version not in (VERSION, VERSION_CODED):
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
    expected, tensors, decoded = 0, [], 0
    for i, e in enumerate(header["tensors"]):
        try:
            name, dtype, shape, scheme, parts = e["name"], e["dtype"], tuple(e["shape"]), e["scheme"], e["parts"]
        except (KeyError, TypeError):
            raise ContainerError(f"{where}: tensor entry {i} lacks name/dtype/shape/scheme/parts") from None
        needed = scheme_parts(scheme, version) if isinstance(scheme, str) else None
        if dtype not in DTYPES or needed is None or not isinstance(parts, dict):
            raise ContainerError(f"{where}: tensor {name!r}: unsupported dtype {dtype!r} or scheme {scheme!r}")
        if set(parts) != needed:
            raise ContainerError(f"{where}: tensor {name!r}: scheme {scheme!r} needs parts {sorted(needed)}")
        loaded, coding = {}, {}
        for role, p in parts.items():
            part_where = f"{where}: tensor {name!r} part {role!r}"
            if version == VERSION_CODED and isinstance(p, dict) and "coding" in p:
                loaded[role], coding[role] = _read_coded_part(data, p, expected, part_where, decoded)
                decoded += loaded[role].numel() * loaded[role].element_size()
            else:
                loaded[role] = _read_part(data, p, expected, part_where)
            expected += p["nbytes"]
        rec = TensorRecord(name, dtype, shape, scheme, loaded, coding)
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
    return _from_bytes(data[offset : offset + nbytes], dtype, shape)


def _from_bytes(raw: Any, dtype: str, shape: list[int]) -> torch.Tensor:
    np_dtype = _np_dtype(dtype)
    arr = np.frombuffer(raw, dtype=np_dtype).reshape(shape).copy()
    t = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("=")))
    return t.view(torch.bfloat16) if dtype == "bfloat16" else t


def _np_dtype(dtype: str) -> np.dtype:
    return np.dtype(np.int16) if dtype == "bfloat16" else np.dtype(DTYPE_NAMES[DTYPES[dtype]]).newbyteorder("<")


def _read_coded_part(
    data: memoryview, p: dict, expected: int, where: str, decoded: int
) -> tuple[torch.Tensor, dict[str, Any]]:
    """A version-2 part stored through a codec: bounds first, then decode to exactly shape x itemsize.

    `decoded` counts the bytes coded parts have already produced: all of them together may not
    exceed DEFAULT_MAX_OUTPUT, so a small file cannot claim a huge shape and inflate into it.
    """
    try:
        dtype, shape, offset, nbytes = p["dtype"], [int(s) for s in p["shape"]], int(p["offset"]), int(p["nbytes"])
        coding = dict(p["coding"])
    except (KeyError, TypeError, ValueError):
        raise ContainerError(f"{where}: malformed part entry") from None
    if dtype not in DTYPES or any(s < 0 for s in shape) or nbytes < 0:
        raise ContainerError(f"{where}: bad dtype {dtype!r}, shape {shape} or nbytes {nbytes}")
    if offset != expected or offset + nbytes > len(data):
        raise ContainerError(f"{where}: offset {offset} (+{nbytes}) is out of place or past the end; truncated?")
    size = math.prod(shape) * _np_dtype(dtype).itemsize
    if decoded + size > DEFAULT_MAX_OUTPUT:
        raise ContainerError(f"{where}: coded parts decode to more than {DEFAULT_MAX_OUTPUT:,} bytes; refusing")
    blob = data[offset : offset + nbytes]
    if coding.get("codec") == "ans":
        if dtype != "int8" or len(shape) != 2:
            raise ContainerError(f"{where}: codec ans needs a 2-D int8 part, header says {dtype} {shape}")
        return torch.from_numpy(ans.decode(blob, coding, (shape[0], shape[1]), where)), coding
    layout, stride = coding.get("layout", "row"), coding.get("stride", 2)
    if layout not in codecs.LAYOUTS or not isinstance(stride, int) or not 1 <= stride <= 16:
        raise ContainerError(f"{where}: bad layout {layout!r} or stride {stride!r}")
    raw = codecs.decompress_bytes(blob, coding, size, where)
    arr = codecs.undo_layout(raw, layout, tuple(shape), _np_dtype(dtype), stride)
    t = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("=")))
    return (t.view(torch.bfloat16) if dtype == "bfloat16" else t), coding


def _check_shapes(rec: TensorRecord, where: str) -> None:
    n = math.prod(rec.shape)
    if rec.scheme == "raw" and rec.parts["data"].numel() != n:
        raise ContainerError(f"{where}: tensor {rec.name!r}: data has {rec.parts['data'].numel()} values, shape needs {n}")
    if rec.scheme == "int8_row":
        q, scale = rec.parts["q"], rec.parts["scale"]
        if q.dtype != torch.int8 or q.dim() != 2 or q.numel() != n or scale.shape != (q.shape[0],):
            raise ContainerError(f"{where}: tensor {rec.name!r}: int8_row parts do not fit shape {list(rec.shape)}")
    bits = scheme_bits(rec.scheme)
    if bits is not None and rec.scheme != "int8_row":
        q, scale = rec.parts["q"], rec.parts["scale"]
        m = INT_GROUP.fullmatch(rec.scheme)
        ok = q.dtype == torch.int8 and q.dim() == 2 and q.numel() == n
        if ok and m:
            group = int(m.group(2))
            ok = q.shape[1] % group == 0 and tuple(scale.shape) == (q.shape[0], q.shape[1] // group)
        elif ok:
            ok = tuple(scale.shape) == (q.shape[0],)
        if ok and q.numel():
            ok = int(q.to(torch.int16).abs().max()) <= (1 << (bits - 1)) - 1  # int16: abs(-128) overflows int8
        if not ok:
            raise ContainerError(f"{where}: tensor {rec.name!r}: {rec.scheme} parts do not fit shape {list(rec.shape)}")


def write_artifact(path: str | Path, artifact: Artifact, codec: str = "zstd", force: bool = False) -> int:
    """Compress and write atomically (golfkit.writes); refuse to replace an existing file unless `force`.
    Returns the bytes written."""
    refuse_existing(path, force)
    return write_file(path, compress(encode_container(artifact), codec), force=force)


def read_artifact(path: str | Path, max_output: int = DEFAULT_MAX_OUTPUT) -> Artifact:
    """Read, decompress (bounded) and validate a golfkit artifact file."""
    path = Path(path)
    blob = read_bytes(path, max_output, "an artifact")
    return decode_container(decompress(blob, max_output, where=str(path)), where=str(path))
