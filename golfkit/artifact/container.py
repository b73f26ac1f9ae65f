"""golfkit artifact container, version 1: a JSON header of tensors, then raw buffers. No pickle.

See `golfkit.artifact` for the five-line spec. Everything in the header is validated before a
single buffer is trusted: offsets in bounds and back to back, sizes equal to shape x itemsize.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from golfkit import bounded
from golfkit.artifact import ans, codecs
from golfkit.artifact.compress import DEFAULT_MAX_OUTPUT, bound_note, compress, decompress, output_bound
from golfkit.errors import GolfkitError
from golfkit.files import read_bytes
from golfkit.writes import refuse_existing, write_file

MAGIC = b"GOLFKIT"
VERSION = 1
# Version 2 = version 1 plus intN schemes and per-part coding; written only when a file uses them.
VERSION_CODED = 2
# A header is names, shapes and offsets (and `build --meta`, at most 1 MiB): anything above these is not
# a golfkit header. Checked before the JSON is parsed, so no header can exhaust memory or the stack.
MAX_HEADER_BYTES = 16 << 20
MAX_HEADER_DEPTH = 64  # golfkit's own fields nest 6 deep
MAX_NUMBER_CHARS = 32  # int64 has 19 digits, a float's repr at most 24 characters
MAX_DIMS = 8

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
        if m := INT_GROUP.fullmatch(self.scheme):
            q, scale = self.parts["q"], self.parts["scale"]
            group = int(m.group(2))
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
    if len(header) > MAX_HEADER_BYTES:
        raise ContainerError(f"the header would be {len(header):,} bytes, more than {MAX_HEADER_BYTES:,}; keep meta small")
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


def decode_container(blob: bytes, where: str = "artifact", max_decoded: int | None = None) -> Artifact:
    """Parse container bytes, validating every field and offset before reading a buffer.

    Coded parts (version 2) may decode to `max_decoded` bytes in all (default: `output_bound` of the
    container's size), so a small file cannot claim a huge shape and inflate into it.
    """
    if len(blob) < 12 or blob[:7] != MAGIC:
        raise ContainerError(f"{where}: not a golfkit container (no GOLFKIT magic)")
    version = blob[7]
    if version not in (VERSION, VERSION_CODED):
        raise ContainerError(f"{where}: container version {blob[7]}, this golfkit reads version {VERSION}; upgrade golfkit")
    (hlen,) = struct.unpack("<I", blob[8:12])
    if hlen > MAX_HEADER_BYTES:
        raise ContainerError(f"{where}: header length {hlen:,} is more than a golfkit header holds "
                             f"({MAX_HEADER_BYTES:,}); corrupt artifact")
    if 12 + hlen > len(blob):
        raise ContainerError(f"{where}: header length {hlen} runs past the end of the file ({len(blob)} bytes); truncated?")
    header = parse_header(bytes(blob[12 : 12 + hlen]), where)
    data = memoryview(blob)[12 + hlen :]
    if not isinstance(header.get("tensors"), list):
        raise ContainerError(f"{where}: header has no 'tensors' list")
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise ContainerError(f"{where}: header 'meta' is not an object")
    budget = output_bound(len(blob)) if max_decoded is None else max_decoded
    expected, tensors, decoded = 0, [], 0
    for i, e in enumerate(header["tensors"]):
        name, dtype, shape, scheme, parts = _entry(e, i, where)
        needed = scheme_parts(scheme, version)
        if needed is None:
            raise ContainerError(f"{where}: tensor {name!r}: unsupported dtype {dtype!r} or scheme {scheme!r}")
        if set(parts) != needed:
            raise ContainerError(f"{where}: tensor {name!r}: scheme {scheme!r} needs parts {sorted(needed)}")
        loaded, coding = {}, {}
        for role, p in parts.items():
            part_where = f"{where}: tensor {name!r} part {role!r}"
            part = _part_fields(p, part_where)
            if version == VERSION_CODED and "coding" in p:
                loaded[role], coding[role] = _read_coded_part(data, part, p["coding"], expected, part_where,
                                                              budget - decoded)
                decoded += loaded[role].numel() * loaded[role].element_size()
            else:
                loaded[role] = _read_part(data, part, expected, part_where)
            expected += part[3]
        rec = TensorRecord(name, dtype, shape, scheme, loaded, coding)
        _check_shapes(rec, where)
        tensors.append(rec)
    if expected != len(data):
        raise ContainerError(f"{where}: {len(data) - expected} stray bytes after the last tensor")
    return Artifact(meta=meta, tensors=tensors)


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


class _NumberTooLong(ValueError):
    pass


def parse_header(raw: bytes, where: str = "artifact") -> dict[str, Any]:
    """The header's JSON object, bounded before parsing: size, nesting depth and number length.

    Raises ContainerError (one line) for anything that is not a small JSON object of plain values.
    """
    if len(raw) > MAX_HEADER_BYTES:
        raise ContainerError(f"{where}: header of {len(raw):,} bytes, more than {MAX_HEADER_BYTES:,}; corrupt artifact")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContainerError(f"{where}: header is not valid JSON (not UTF-8 at byte {exc.start}); corrupt artifact") from None
    depth = json_depth(raw)
    if depth > MAX_HEADER_DEPTH:
        raise ContainerError(f"{where}: header JSON nests {depth:,} deep, more than {MAX_HEADER_DEPTH}; "
                             "not a golfkit header")
    try:
        header = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except _NumberTooLong as exc:
        raise ContainerError(f"{where}: header {exc}; not a golfkit header") from None
    except json.JSONDecodeError as exc:
        raise ContainerError(f"{where}: header is not valid JSON ({exc})") from None
    except RecursionError:  # json_depth bounds the nesting; this is a second net
        raise ContainerError(f"{where}: header JSON nests too deep; not a golfkit header") from None
    if not isinstance(header, dict):
        raise ContainerError(f"{where}: header is not a JSON object")
    return header


def json_depth(raw: bytes) -> int:
    """How deep the arrays and objects of the JSON text `raw` nest (brackets inside strings ignored)."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    a = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((a == ord("[")) | (a == ord("{")), 1, -1).astype(np.int64)
    return int(np.cumsum(steps).max())


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(f"holds a number of {len(text):,} characters")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(f"holds a number of {len(text):,} characters")
    value = float(text)
    if not math.isfinite(value):
        raise _NumberTooLong(f"holds {text}, too large for a float")
    return value


def _parse_constant(text: str) -> float:
    raise _NumberTooLong(f"holds {text}, which JSON does not allow")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _entry(e: Any, i: int, where: str) -> tuple[str, str, tuple[int, ...], str, dict[str, Any]]:
    """A tensor entry's name, dtype, shape, scheme and parts, each of the right type."""
    if not isinstance(e, dict) or not all(k in e for k in ("name", "dtype", "shape", "scheme", "parts")):
        raise ContainerError(f"{where}: tensor entry {i} lacks name/dtype/shape/scheme/parts")
    name, dtype, scheme, parts = e["name"], e["dtype"], e["scheme"], e["parts"]
    if not isinstance(name, str):
        raise ContainerError(f"{where}: tensor entry {i}: name {_short(name)} is not a string")
    if not isinstance(dtype, str) or dtype not in DTYPES or not isinstance(scheme, str) or not isinstance(parts, dict):
        raise ContainerError(f"{where}: tensor {name!r}: unsupported dtype {_short(dtype)} or scheme {_short(scheme)}")
    if not all(isinstance(p, dict) for p in parts.values()):
        raise ContainerError(f"{where}: tensor {name!r}: a part entry is not an object")
    return name, dtype, _shape(e["shape"], f"{where}: tensor {name!r}"), scheme, parts


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if (not isinstance(value, list) or len(value) > MAX_DIMS
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        raise ContainerError(f"{where}: shape {_short(value)} is not a list of at most {MAX_DIMS} sizes")
    return tuple(value)


def _part_fields(p: dict[str, Any], where: str) -> tuple[str, tuple[int, ...], int, int]:
    """A part entry's dtype, shape, offset and nbytes, each of the right type."""
    try:
        dtype, shape, offset, nbytes = p["dtype"], p["shape"], p["offset"], p["nbytes"]
    except KeyError:
        raise ContainerError(f"{where}: malformed part entry (needs dtype, shape, offset, nbytes)") from None
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ContainerError(f"{where}: bad dtype {_short(dtype)}")
    shape = _shape(shape, where)
    for key, value in (("offset", offset), ("nbytes", nbytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ContainerError(f"{where}: {key} {_short(value)} is not a size")
    return dtype, shape, offset, nbytes


def _read_part(data: memoryview, part: tuple[str, tuple[int, ...], int, int], expected: int,
               where: str) -> torch.Tensor:
    dtype, shape, offset, nbytes = part
    itemsize = _np_dtype(dtype).itemsize
    if nbytes != math.prod(shape) * itemsize:
        raise ContainerError(f"{where}: nbytes {nbytes} != shape {list(shape)} x {itemsize}")
    if offset != expected or offset + nbytes > len(data):
        raise ContainerError(f"{where}: offset {offset} (+{nbytes}) is out of place or past the end; truncated?")
    return _from_bytes(data[offset : offset + nbytes], dtype, list(shape))


def _from_bytes(raw: Any, dtype: str, shape: list[int]) -> torch.Tensor:
    np_dtype = _np_dtype(dtype)
    arr = np.frombuffer(raw, dtype=np_dtype).reshape(shape).copy()
    t = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("=")))
    return t.view(torch.bfloat16) if dtype == "bfloat16" else t


def _np_dtype(dtype: str) -> np.dtype:
    return np.dtype(np.int16) if dtype == "bfloat16" else np.dtype(DTYPE_NAMES[DTYPES[dtype]]).newbyteorder("<")


def _read_coded_part(data: memoryview, part: tuple[str, tuple[int, ...], int, int], coding: Any, expected: int,
                     where: str, budget: int) -> tuple[torch.Tensor, dict[str, Any]]:
    """A version-2 part stored through a codec: bounds first, then decode to exactly shape x itemsize.

    `budget` is what the coded parts not yet read may still decode to (see decode_container).
    """
    dtype, shape, offset, nbytes = part
    if not isinstance(coding, dict):
        raise ContainerError(f"{where}: coding {_short(coding)} is not an object")
    coding = dict(coding)
    if offset != expected or offset + nbytes > len(data):
        raise ContainerError(f"{where}: offset {offset} (+{nbytes}) is out of place or past the end; truncated?")
    size = math.prod(shape) * _np_dtype(dtype).itemsize
    if size > budget:
        raise ContainerError(f"{where}: coded parts would decode to more than {budget:,} bytes (shape "
                             f"{_short(list(shape))}); no artifact of this size holds that much, refusing")
    blob = data[offset : offset + nbytes]
    if coding.get("codec") == "ans":
        if dtype != "int8" or len(shape) != 2:
            raise ContainerError(f"{where}: codec ans needs a 2-D int8 part, header says {dtype} {list(shape)}")
        try:
            return torch.from_numpy(ans.decode(blob, coding, (shape[0], shape[1]), where)), coding
        except (ValueError, TypeError, RuntimeError, OverflowError) as exc:
            raise ContainerError(f"{where}: ans part does not decode ({str(exc)[:120]}); corrupt artifact") from None
    layout, stride = coding.get("layout", "row"), coding.get("stride", 2)
    if (not isinstance(layout, str) or layout not in codecs.LAYOUTS or isinstance(stride, bool)
            or not isinstance(stride, int) or not 1 <= stride <= 16):
        raise ContainerError(f"{where}: bad layout {_short(layout)} or stride {_short(stride)}")
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
    """Read (a regular file, not a symlink), decompress (bounded) and validate a golfkit artifact file.

    What the file may decode to, outer layer and coded parts alike, is `output_bound` of its size.
    """
    path = Path(path)
    blob = read_artifact_bytes(path, max_output)
    limit = output_bound(len(blob), max_output)
    try:
        container = decompress(blob, limit, where=str(path))
    except bounded.TooLarge as exc:
        raise ContainerError(f"{exc}{bound_note(len(blob), limit, max_output)}") from None
    return decode_container(container, where=str(path), max_decoded=limit)


def read_artifact_bytes(path: str | Path, limit: int, what: str = "an artifact") -> bytes:
    """The bytes of the artifact file `path`: a regular file, never a symlink (a record's file could point
    anywhere), FIFO or device (refused before it is opened); at most `limit` bytes."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        mode = None  # read_bytes says what is wrong
    if mode is not None and stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        raise GolfkitError(f"{path}: a symlink (to {target!r}), not a regular file; golfkit does not follow "
                           f"links for {what}: give the path of the file itself")
    return read_bytes(path, limit, what)
