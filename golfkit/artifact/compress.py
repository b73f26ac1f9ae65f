"""The compression layer around a container: zstd or zlib, told apart by magic bytes.

Decompression is always bounded: an artifact that would inflate past `max_output` is refused
before it can exhaust memory.
"""

from __future__ import annotations

import zlib

import zstandard

from golfkit import bounded
from golfkit.errors import GolfkitError

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Generous for any artifact under the 16 MB cap (int8 containers rarely compress below 1/8).
DEFAULT_MAX_OUTPUT = 1 << 30
# Below the cap, what a file may inflate to also scales with its size: trained weights compress a few
# times at most, so a small file that claims more than MAX_RATIO times its bytes (past a floor that every
# small test model fits in) is a decompression bomb, refused before it can fill memory.
MAX_RATIO = 64
RATIO_FLOOR = 16 << 20


def sniff_codec(blob: bytes) -> str | None:
    """Return "zstd" or "zlib" from the first bytes of `blob`, or None if neither."""
    if blob[:4] == ZSTD_MAGIC:
        return "zstd"
    # zlib: CMF byte 0x78 (deflate, 32K window) and a header checksum divisible by 31.
    if len(blob) >= 2 and blob[0] == 0x78 and (blob[0] * 256 + blob[1]) % 31 == 0:
        return "zlib"
    return None


def compress(payload: bytes, codec: str = "zstd", level: int | None = None) -> bytes:
    """Compress `payload` with "zstd" (default level 22) or "zlib" (default level 9)."""
    if codec == "zstd":
        params = zstandard.ZstdCompressionParameters.from_level(level or 22, source_size=len(payload))
        return zstandard.ZstdCompressor(compression_params=params).compress(payload)
    if codec == "zlib":
        return zlib.compress(payload, 9 if level is None else level)
    raise GolfkitError(f"unknown codec {codec!r}: use zstd or zlib")


def output_bound(input_bytes: int, max_output: int = DEFAULT_MAX_OUTPUT) -> int:
    """The most bytes a file of `input_bytes` may decode to: `max_output`, or less for a small file
    (MAX_RATIO times its size, at least RATIO_FLOOR)."""
    return min(max_output, max(RATIO_FLOOR, MAX_RATIO * input_bytes))


def bound_note(input_bytes: int, limit: int, max_output: int) -> str:
    """Why `limit` is what it is, for an error message."""
    if limit < max_output:
        return f" ({MAX_RATIO} times its {input_bytes:,} bytes: no trained model compresses that well)"
    return ""


def decompress(blob: bytes, max_output: int = DEFAULT_MAX_OUTPUT, where: str = "artifact") -> bytes:
    """Decompress a zstd or zlib blob, refusing output larger than `max_output` bytes."""
    codec = sniff_codec(blob)
    if codec is None:
        raise GolfkitError(
            f"{where}: not a zstd or zlib stream (first bytes {blob[:4].hex() or 'empty'}); "
            "is this a golfkit artifact?"
        )
    decode = bounded.zstd_decode if codec == "zstd" else bounded.zlib_decode
    try:
        return decode(blob, max_output)
    except GolfkitError as exc:
        raise type(exc)(f"{where}: {exc}") from None
