"""The compression layer around a container: zstd or zlib, told apart by magic bytes.

Decompression is always bounded: an artifact that would inflate past `max_output` is refused
before it can exhaust memory.
"""

from __future__ import annotations

import zlib

import zstandard

from golfkit.errors import GolfkitError

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Generous for any artifact under the 16 MB cap (int8 containers rarely compress below 1/8).
DEFAULT_MAX_OUTPUT = 1 << 30
_ZSTD_FEED = 1 << 10


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


def decompress(blob: bytes, max_output: int = DEFAULT_MAX_OUTPUT, where: str = "artifact") -> bytes:
    """Decompress a zstd or zlib blob, refusing output larger than `max_output` bytes."""
    codec = sniff_codec(blob)
    try:
        if codec == "zstd":
            out = _zstd_bounded(blob, max_output, where)
        elif codec == "zlib":
            d = zlib.decompressobj()
            out = d.decompress(blob, max_output)
            if d.unconsumed_tail:
                raise _too_big(where, max_output)
            if not d.eof:
                raise GolfkitError(f"{where}: zlib stream is truncated; re-copy the file")
        else:
            raise GolfkitError(
                f"{where}: not a zstd or zlib stream (first bytes {blob[:4].hex() or 'empty'}); "
                "is this a golfkit artifact?"
            )
    except (zstandard.ZstdError, zlib.error) as exc:
        raise GolfkitError(f"{where}: corrupt {codec} data ({exc}); re-copy or rebuild the file") from None
    return out


def _zstd_bounded(blob: bytes, max_output: int, where: str) -> bytes:
    # Feed small input chunks so that the output can overshoot the bound by a few blocks at most
    # (a zstd block is at most 128 KiB of output for a 3-byte header), and check every frame ended.
    out, size, pending = [], 0, blob
    while pending:
        dobj = zstandard.ZstdDecompressor().decompressobj()
        for start in range(0, len(pending), _ZSTD_FEED):
            chunk = dobj.decompress(pending[start : start + _ZSTD_FEED])
            size += len(chunk)
            if size > max_output:
                raise _too_big(where, max_output)
            out.append(chunk)
            if dobj.eof:
                break
        if not dobj.eof:
            raise GolfkitError(f"{where}: zstd frame is truncated after {size:,} bytes of output; re-copy the file")
        pending = dobj.unused_data + pending[start + _ZSTD_FEED :]
    return b"".join(out)


def _too_big(where: str, max_output: int) -> GolfkitError:
    return GolfkitError(
        f"{where}: decompresses to more than {max_output:,} bytes; refusing (a real artifact is far smaller)"
    )
