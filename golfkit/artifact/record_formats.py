"""Read the artifacts real records ship (docs/verify.md#artifacts-records-ship), as data only.

Layers are peeled until a known payload appears: zstd, zlib, xz, .lzma, raw LZMA2 or brotli
compression (each bounded), a b"BSHF" byte shuffle, then either a golfkit container or a
torch.save zip loaded with `weights_only=True`. Payload formats: the baseline's
`int8_clean_per_row_v1` dict, `{"w": {name.q, name.scale, name}, "m": {name: meta}}`, or a plain
state dict.

`record_state_dict` turns what was read into the state dict the record's own model loads: every
tensor dequantized the way the records' own `dequantize_*` functions do it, in the dtype the
trainer's model had (recorded by the format, else taken from a template state dict).
"""

from __future__ import annotations

import io
import lzma
import math
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from golfkit import bounded
from golfkit.artifact.codecs import byte_unshuffle
from golfkit.artifact.compress import DEFAULT_MAX_OUTPUT, ZSTD_MAGIC, bound_note, output_bound
from golfkit.artifact.container import MAGIC, Artifact, decode_container, read_artifact_bytes
from golfkit.errors import GolfkitError

BSHF = b"BSHF"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class StoredTensor:
    """One tensor as a record stores it: its scheme label and the arrays that hold it."""

    name: str
    shape: tuple[int, ...]
    scheme: str
    parts: dict[str, torch.Tensor]
    # The dtype the trainer's model held this tensor in, when the format records it (the baseline's
    # `dtypes` and `passthrough_orig_dtypes`); None when it does not say.
    dtype: torch.dtype | None = None


@dataclass
class RecordArtifact:
    path: str
    file_bytes: int
    layers: list[str]  # outermost first, e.g. ["brotli", "bshf/2"]
    format: str
    payload: bytes  # what the last layer produced (torch zip or golfkit container)
    tensors: list[StoredTensor] = field(default_factory=list)
    container: Artifact | None = None
    obj: Any = None  # the torch.save payload as loaded (weights only), for a record's own dequantizer


def read_record_artifact(path: str | Path, max_output: int = DEFAULT_MAX_OUTPUT) -> RecordArtifact:
    """Peel compression and shuffle layers of `path` and parse the payload, never running code."""
    path = Path(path)
    blob = read_artifact_bytes(path, max_output)
    where, layers, data = str(path), [], blob
    # Every layer, and the tensors at the end, may hold at most this much (a small file cannot be a bomb).
    limit = output_bound(len(blob), max_output)
    for _ in range(4):
        if data[:7] == MAGIC:
            art = decode_container(data, where, max_decoded=limit)
            tensors = [StoredTensor(t.name, t.shape, t.scheme, t.parts) for t in art.tensors]
            return RecordArtifact(where, len(blob), layers, f"golfkit container v{data[7]}", data, tensors, art)
        if data[:4] == ZIP_MAGIC:
            check_zip_size(data, limit, where, bound_note(len(blob), limit, max_output))
            obj = load_weights_only(data, where)
            fmt, tensors = parse_torch_payload(obj, where)
            check_tensor_bytes(tensors, limit, where, bound_note(len(blob), limit, max_output))
            return RecordArtifact(where, len(blob), layers, fmt, data, tensors, obj=obj)
        if data[:4] == BSHF:
            if len(data) < 5 or not 1 <= data[4] <= 64:
                raise GolfkitError(f"{where}: BSHF header with a bad stride; corrupt artifact")
            layers.append(f"bshf/{data[4]}")
            data = byte_unshuffle(data[5:], data[4])
            continue
        try:
            name, data = _decompress_any(data, limit, where)
        except bounded.TooLarge as exc:
            raise GolfkitError(f"{where}: {exc}{bound_note(len(blob), limit, max_output)}") from None
        layers.append(name)
    raise GolfkitError(f"{where}: more than 4 layers of compression; not an artifact golfkit knows")


def check_tensor_bytes(tensors: list[StoredTensor], limit: int, where: str, note: str = "") -> None:
    """Refuse a payload whose tensors hold more than `limit` bytes in all, or a tensor larger than its
    storage (a view that repeats a few bytes billions of times): both would fill memory when copied."""
    total = 0
    for t in tensors:
        for role, part in t.parts.items():
            size = part.numel() * part.element_size()
            if size > part.untyped_storage().nbytes():
                raise GolfkitError(f"{where}: tensor {t.name!r} ({role}) claims {size:,} bytes over a storage of "
                                   f"{part.untyped_storage().nbytes():,}; not an artifact golfkit reads")
            total += size
            if total > limit:
                raise GolfkitError(f"{where}: the tensors hold more than {limit:,} bytes{note}; refusing")


def _decompress_any(data: bytes, max_output: int, where: str) -> tuple[str, bytes]:
    if data[:4] == ZSTD_MAGIC:
        return "zstd", _plain_bounded(data, max_output, where)
    if len(data) >= 2 and data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0:
        return "zlib", _plain_bounded(data, max_output, where)
    if data[:6] == XZ_MAGIC:
        return "xz", _lzma_bounded(data, lzma.FORMAT_XZ, None, max_output, where)
    attempts: list[tuple[str, Any]] = [
        ("lzma", lambda: _lzma_bounded(data, lzma.FORMAT_ALONE, None, max_output, where)),
        ("brotli", lambda: _brotli_bounded(data, max_output, where)),
        ("lzma2-raw", lambda: _lzma_bounded(data, lzma.FORMAT_RAW, [{"id": lzma.FILTER_LZMA2}], max_output, where)),
    ]
    for name, attempt in attempts:
        try:
            out = attempt()
        except _NotThis:
            continue
        if out[:4] in (ZIP_MAGIC, BSHF) or out[:7] == MAGIC:
            return name, out
    raise GolfkitError(
        f"{where}: not a compressed artifact golfkit knows (first bytes {data[:8].hex()}); "
        "expected zstd, zlib, xz, lzma, brotli, a BSHF shuffle, a torch.save zip or a golfkit container"
    )


def _plain_bounded(data: bytes, max_output: int, where: str) -> bytes:
    """zstd or zlib, bounded; TooLarge goes up as it is (the caller says why the bound is what it is)."""
    codec = bounded.zstd_decode if data[:4] == ZSTD_MAGIC else bounded.zlib_decode
    try:
        return codec(data, max_output)
    except bounded.TooLarge:
        raise
    except GolfkitError as exc:
        raise GolfkitError(f"{where}: {exc}") from None


class _NotThis(Exception):
    """This decompressor does not fit the data (try the next one)."""


def _lzma_bounded(data: bytes, fmt: int, filters: Any, max_output: int, where: str) -> bytes:
    try:
        return bounded.lzma_decode(data, max_output, fmt, filters)
    except bounded.DecodeError as exc:
        if fmt == lzma.FORMAT_XZ:
            raise GolfkitError(f"{where}: {exc}") from None
        raise _NotThis from None
    except bounded.TooLarge:
        raise


def _brotli_bounded(data: bytes, max_output: int, where: str) -> bytes:
    try:
        return bounded.brotli_decode(data, max_output)
    except (bounded.DecodeError, bounded.MissingDecoder):
        raise _NotThis from None


def check_zip_size(data: bytes, limit: int, where: str, note: str = "") -> None:
    """Refuse a zip whose members unpack to more than `limit` bytes in all, before torch.load inflates
    them (its reader sizes each member's buffer by the size the zip declares)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            total = sum(info.file_size for info in z.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise GolfkitError(f"{where}: not a readable torch.save payload ({str(exc)[:120]})") from None
    if total > limit:
        raise GolfkitError(f"{where}: the torch.save zip unpacks to {total:,} bytes, more than {limit:,}{note}; refusing")


def load_weights_only(data: bytes, where: str) -> Any:
    """torch.load with weights_only=True; a pickle that needs code is refused, not run."""
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise GolfkitError(f"{where}: the pickle needs code to load ({needed_global(exc)}); golfkit loads weights only") from None
    except (RuntimeError, EOFError, ValueError) as exc:
        raise GolfkitError(f"{where}: not a readable torch.save payload ({str(exc).splitlines()[0][:160]})") from None


def needed_global(exc: Exception) -> str:
    """The class or function a refused pickle asked for, from torch's weights-only error."""
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    return f"it refers to {m.group(1)}" if m else str(exc).strip().splitlines()[0][:120]


def parse_torch_payload(obj: Any, where: str) -> tuple[str, list[StoredTensor]]:
    """Recognise the record formats; returns (format name, stored tensors)."""
    if isinstance(obj, dict) and obj.get("__quant_format__") is not None:
        return str(obj["__quant_format__"]), _baseline_format(obj, where)
    if isinstance(obj, dict) and set(obj) >= {"w", "m"} and isinstance(obj["w"], dict):
        return "w/m dict", _wm_format(obj["w"], obj["m"] if isinstance(obj["m"], dict) else {}, where)
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return "state dict", [StoredTensor(k, tuple(v.shape), _float_label(v), {"data": v}) for k, v in obj.items()]
    raise GolfkitError(f"{where}: unknown payload ({type(obj).__name__} with keys {list(obj)[:5] if isinstance(obj, dict) else '-'})")


def _float_label(t: torch.Tensor) -> str:
    return {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}.get(t.dtype, str(t.dtype).removeprefix("torch."))


def int_label(q: torch.Tensor, scale: torch.Tensor, declared: str | None = None) -> str:
    """"int6_row" etc.: bits from the record's own meta when given, else from max |q|."""
    if declared and declared.startswith("int") and declared[3:].isdigit():
        bits = int(declared[3:])
    else:
        peak = int(q.abs().max()) if q.numel() else 0
        bits = max(2, math.ceil(math.log2(peak + 1)) + 1)
    return f"int{bits}_{'row' if scale.dim() > 0 else 'tensor'}"


def _baseline_format(obj: dict, where: str) -> list[StoredTensor]:
    try:
        quantized, scales, passthrough = obj["quantized"], obj["scales"], obj.get("passthrough", {})
        dtypes, orig = obj.get("dtypes") or {}, obj.get("passthrough_orig_dtypes") or {}
        out = []
        for name, q in quantized.items():
            s = scales[name]
            if not isinstance(q, torch.Tensor) or not isinstance(s, torch.Tensor):
                raise TypeError(name)
            out.append(StoredTensor(name, tuple(q.shape), int_label(q, s, "int8"), {"q": q, "scale": s},
                                    _dtype_named(dtypes.get(name), name, where)))
        for name, t in passthrough.items():
            if not isinstance(t, torch.Tensor):
                raise TypeError(name)
            out.append(StoredTensor(name, tuple(t.shape), _float_label(t), {"data": t},
                                    _dtype_named(orig.get(name), name, where) or t.dtype))
    except (KeyError, TypeError, AttributeError) as exc:
        raise GolfkitError(f"{where}: malformed {obj['__quant_format__']} payload (entry {exc})") from None
    return out


# The dtypes a record's format may name for a tensor of its model (no other torch attribute is looked up).
FLOAT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
                "float64": torch.float64}


def _dtype_named(name: Any, tensor: str, where: str) -> torch.dtype | None:
    if name is None:
        return None
    if not isinstance(name, str) or name.removeprefix("torch.") not in FLOAT_DTYPES:
        raise GolfkitError(f"{where}: tensor {tensor!r} names dtype {str(name)[:40]!r}, not a float dtype; corrupt payload")
    return FLOAT_DTYPES[name.removeprefix("torch.")]


def record_state_dict(art: RecordArtifact, template: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The state dict the record's model loads, from what `read_record_artifact` read.

    Integer tensors are dequantized as the records' own functions do it (`q.float() * scale` per row, or
    times the one scale), then cast to the tensor's dtype: the one the format records, else the
    template's (the record's model as built for evaluation), else float32; kept float tensors go to the
    recorded or template dtype too. A golfkit container gives its own dequantized tensors.
    """
    if art.container is not None:
        return art.container.state_dict()
    template = template or {}
    out = {}
    for t in art.tensors:
        like = template.get(t.name)
        target = t.dtype or (like.dtype if isinstance(like, torch.Tensor) and like.is_floating_point() else None)
        if "data" in t.parts:
            data = t.parts["data"]
            out[t.name] = data.to(target) if target is not None and data.is_floating_point() else data
            continue
        out[t.name] = _dequantize_int(t, target or torch.float32, art.path)
    return out


def _dequantize_int(t: StoredTensor, dtype: torch.dtype, where: str) -> torch.Tensor:
    q, s = t.parts["q"], t.parts["scale"]
    if q.is_floating_point() or not s.is_floating_point():
        raise GolfkitError(f"{where}: tensor {t.name!r}: values {q.dtype} and scale {s.dtype} are not an integer tensor "
                           "and a float scale; corrupt payload")
    if s.dim() == 0:
        return (q.float() * float(s.item())).to(dtype).contiguous()
    if q.dim() == 0 or s.numel() != q.shape[0]:
        raise GolfkitError(f"{where}: tensor {t.name!r}: {s.numel()} scales for {list(q.shape)} values (one per row "
                           "expected); corrupt payload")
    return (q.float() * s.float().view(q.shape[0], *([1] * (q.dim() - 1)))).to(dtype).contiguous()


def _wm_format(w: dict, m: dict, where: str) -> list[StoredTensor]:
    out = []
    for key, t in w.items():
        if not isinstance(t, torch.Tensor):
            raise GolfkitError(f"{where}: w/m payload entry {key!r} is not a tensor")
        if key.endswith(".scale") and key[: -len(".scale")] + ".q" in w:
            continue
        if key.endswith(".q") and key[: -2] + ".scale" in w:
            name, s = key[:-2], w[key[:-2] + ".scale"]
            meta = m.get(name)
            declared = meta.get("type") if isinstance(meta, dict) else None
            out.append(StoredTensor(name, tuple(t.shape), int_label(t, s, declared), {"q": t, "scale": s}))
        else:
            out.append(StoredTensor(key, tuple(t.shape), _float_label(t), {"data": t}))
    return out
