"""Byte codecs and layouts for one container part (container version 2).

A part's coding is a small dict stored in the header: {"codec", "layout", ...}. Encoding lays the
raw little-endian bytes out ("row" as stored, "col" transposed, "shuffle" bytes regrouped by
position modulo a stride), then compresses them. Decoding is always bounded by the part's known
raw size, so a hostile part cannot inflate past it.
"""

from __future__ import annotations

import lzma
import zlib
from typing import Any

import numpy as np
import zstandard

from golfkit import bounded
from golfkit.errors import GolfkitError

GENERAL_CODECS = ("none", "zlib", "zstd", "lzma", "xz", "brotli")
LAYOUTS = ("row", "col", "shuffle")


def lay_out(arr: np.ndarray, layout: str, stride: int = 2) -> bytes:
    """The bytes of `arr` (little-endian) in `layout` order."""
    if layout == "col" and arr.ndim == 2:
        arr = arr.T
    raw = np.ascontiguousarray(arr).tobytes()
    if layout == "shuffle":
        return byte_shuffle(raw, stride)
    return raw


def undo_layout(raw: bytes, layout: str, shape: tuple[int, ...], dtype: np.dtype, stride: int = 2) -> np.ndarray:
    """Inverse of `lay_out`: an array of `shape` and `dtype` from laid-out bytes."""
    if layout == "shuffle":
        raw = byte_unshuffle(raw, stride)
    if layout == "col" and len(shape) == 2:
        return np.frombuffer(raw, dtype=dtype).reshape(shape[1], shape[0]).T.copy()
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def byte_shuffle(raw: bytes, stride: int) -> bytes:
    """Regroup bytes by position modulo `stride` (the records' BSHF layout, without its header)."""
    a = np.frombuffer(raw, dtype=np.uint8)
    return b"".join(a[i::stride].tobytes() for i in range(stride))


def byte_unshuffle(raw: bytes, stride: int) -> bytes:
    a = np.frombuffer(raw, dtype=np.uint8)
    out = np.empty_like(a)
    start = 0
    for i in range(stride):
        n = len(range(i, len(a), stride))
        out[i::stride] = a[start : start + n]
        start += n
    return out.tobytes()


# LZMA2's own limits: a dictionary of at most 1.5 GiB (golfkit writes at most 64 MiB), lc + lp <= 4, pb <= 4.
MAX_LZMA_DICT = 1 << 28


def _lzma_filters(coding: dict[str, Any]) -> list[dict[str, Any]]:
    fields = {k: coding[k] for k in ("dict", "lc", "lp", "pb")}
    if any(isinstance(v, bool) or not isinstance(v, int) for v in fields.values()):
        raise ValueError(f"lzma fields {fields} are not integers")
    if not (4096 <= fields["dict"] <= MAX_LZMA_DICT and 0 <= fields["lc"] <= 4 and 0 <= fields["lp"] <= 4
            and fields["lc"] + fields["lp"] <= 4 and 0 <= fields["pb"] <= 4):
        raise ValueError(f"lzma fields {fields} are out of range")
    return [{"id": lzma.FILTER_LZMA2, "dict_size": fields["dict"], "lc": fields["lc"], "lp": fields["lp"],
             "pb": fields["pb"]}]


def compress_bytes(raw: bytes, codec: str, level: int | None, long: bool = False) -> tuple[bytes, dict[str, Any]]:
    """Compress `raw`; returns the blob and the coding fields a decoder needs besides "codec"."""
    if codec == "none":
        return raw, {}
    if codec == "zlib":
        return zlib.compress(raw, 9 if level is None else level), {}
    if codec == "zstd":
        params = zstandard.ZstdCompressionParameters.from_level(
            level or 22, source_size=len(raw), enable_ldm=long, window_log=27 if long else 0
        )
        return zstandard.ZstdCompressor(compression_params=params).compress(raw), {}
    if codec in ("lzma", "xz"):
        # Quantized values are bytes with no alignment structure: lc=0..1, lp=0, pb=0 beat the defaults.
        preset = (9 if level is None else level) | lzma.PRESET_EXTREME
        dict_size = max(4096, min(1 << 26, 1 << max(12, (len(raw) - 1).bit_length())))
        fields = {"dict": dict_size, "lc": 1, "lp": 0, "pb": 0}
        filters = [{"id": lzma.FILTER_LZMA2, "preset": preset, "dict_size": dict_size, "lc": 1, "lp": 0, "pb": 0}]
        fmt = lzma.FORMAT_RAW if codec == "lzma" else lzma.FORMAT_XZ
        check = lzma.CHECK_NONE if codec == "xz" else -1
        return lzma.compress(raw, format=fmt, check=check, filters=filters), fields
    if codec == "brotli":
        brotli = _brotli()
        return brotli.compress(raw, quality=11 if level is None else level, lgwin=24), {}
    raise GolfkitError(f"unknown codec {codec!r}: use one of {', '.join(GENERAL_CODECS)} or ans")


def decompress_bytes(blob: bytes, coding: dict[str, Any], size: int, where: str) -> bytes:
    """Decompress a part to exactly `size` bytes, refusing anything larger or shorter."""
    codec = coding.get("codec")
    blob = bytes(blob)
    try:
        if codec == "none":
            out = blob
        elif codec == "zlib":
            out = bounded.zlib_decode(blob, size)
        elif codec == "zstd":
            out = bounded.zstd_decode(blob, size)
        elif codec == "lzma":
            out = bounded.lzma_decode(blob, size, lzma.FORMAT_RAW, _lzma_filters(coding))
        elif codec == "xz":
            out = bounded.lzma_decode(blob, size, lzma.FORMAT_XZ)
        elif codec == "brotli":
            out = bounded.brotli_decode(blob, size)
        else:
            raise GolfkitError(f"{where}: unknown part codec {repr(codec)[:40]}; this golfkit cannot read it, "
                               "upgrade golfkit")
    except (KeyError, TypeError, ValueError) as exc:
        raise GolfkitError(f"{where}: corrupt {codec} part ({exc}); re-copy or rebuild the artifact") from None
    except bounded.TooLarge:
        raise GolfkitError(f"{where}: {codec} part decodes to more than {size} bytes; corrupt artifact") from None
    except (bounded.DecodeError, bounded.MissingDecoder) as exc:
        raise GolfkitError(f"{where}: {codec} part: {exc}") from None
    if len(out) != size:
        raise GolfkitError(f"{where}: {codec} part decodes to {len(out)} bytes, expected {size}; corrupt artifact")
    return out


def _brotli():
    try:
        import brotli
    except ImportError:
        raise GolfkitError("brotli is not installed: pip install 'golfkit[brotli]' or pick another codec") from None
    return brotli
