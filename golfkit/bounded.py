"""Bounded decoders for every compressor golfkit reads: artifacts, their parts, records' pickles, wrappers.

Each decoder takes the compressed bytes and `max_output`, and either returns the whole
decompressed payload or raises: `DecodeError` for corrupt or truncated data, `TooLarge` for output
that would exceed `max_output` (data can claim any size; we never inflate past the bound), and
`MissingDecoder` when the optional module a codec needs is not installed.
"""

from __future__ import annotations

import bz2
import lzma
import zlib

from golfkit.errors import GolfkitError

XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


# Feed zstd this much input at a time: the output can then overshoot the bound by a few blocks at most
# (a zstd block is at most 128 KiB of output for a 3-byte header).
_ZSTD_FEED = 1 << 10


class DecodeError(GolfkitError):
    """The compressed data is corrupt or truncated."""


class TooLarge(GolfkitError):
    """The data would decompress past the bound."""


class MissingDecoder(GolfkitError):
    """The optional module a codec needs is not installed."""


def _too_big(codec: str, max_output: int) -> TooLarge:
    return TooLarge(f"{codec} data decompresses to more than {max_output:,} bytes; refusing")


def _corrupt(codec: str, detail: str) -> DecodeError:
    return DecodeError(f"{codec} data is corrupt or truncated ({detail}); re-copy the file")


def lzma_name(data: bytes, fmt: int) -> str:
    """Name the lzma container: "lzma-raw", "xz" or "lzma-alone"."""
    if fmt == lzma.FORMAT_RAW:
        return "lzma-raw"
    if fmt == lzma.FORMAT_XZ or (fmt == lzma.FORMAT_AUTO and data.startswith(XZ_MAGIC)):
        return "xz"
    return "lzma-alone"


def lzma_decode(data: bytes, max_output: int, fmt: int = lzma.FORMAT_AUTO, filters=None) -> bytes:
    """lzma.decompress, bounded; reads concatenated streams and ignores trailing garbage as it does."""
    name = lzma_name(data, fmt)
    out = bytearray()
    rest = data
    while True:
        try:
            dec = lzma.LZMADecompressor(fmt, None, filters)
            chunk = dec.decompress(rest, max_output + 1 - len(out))
        except (lzma.LZMAError, ValueError, TypeError) as exc:
            if rest is not data:
                break
            raise _corrupt(name, str(exc)) from None
        out += chunk
        if len(out) > max_output:
            raise _too_big(name, max_output)
        if not dec.eof:
            raise _corrupt(name, "stream ends before its end marker")
        rest = dec.unused_data
        if not rest:
            break
    return bytes(out)


def zlib_decode(data: bytes, max_output: int, wbits: int = zlib.MAX_WBITS) -> bytes:
    name = "gzip" if wbits >= 16 + 8 else "zlib"
    try:
        dec = zlib.decompressobj(wbits)
        out = dec.decompress(data, max_output + 1)
    except zlib.error as exc:
        raise _corrupt(name, str(exc)) from None
    if len(out) > max_output or dec.unconsumed_tail:
        raise _too_big(name, max_output)
    if not dec.eof:
        raise _corrupt(name, "stream ends early")
    return out


def bz2_decode(data: bytes, max_output: int) -> bytes:
    dec = bz2.BZ2Decompressor()
    try:
        out = dec.decompress(data, max_output + 1)
    except OSError as exc:
        raise _corrupt("bz2", str(exc)) from None
    if len(out) > max_output or (not dec.eof and not dec.needs_input):
        raise _too_big("bz2", max_output)
    if not dec.eof:
        raise _corrupt("bz2", "stream ends early")
    return out


def brotli_decode(data: bytes, max_output: int) -> bytes:
    brotli = _optional("brotli", "brotli")
    dec = brotli.Decompressor()
    try:
        out = dec.process(data, output_buffer_limit=max_output + 1)
        while len(out) <= max_output and not dec.is_finished() and _brotli_has_more(dec):
            out += dec.process(b"", output_buffer_limit=max_output + 1 - len(out))
    except brotli.error as exc:
        raise _corrupt("brotli", str(exc)) from None
    if len(out) > max_output:
        raise _too_big("brotli", max_output)
    if not dec.is_finished():
        raise _corrupt("brotli", "stream ends early")
    return out


def _brotli_has_more(dec) -> bool:
    # Older brotli releases lack can_accept_more_data; there the first process() call is complete.
    can = getattr(dec, "can_accept_more_data", None)
    return can is not None and not can()


def zstd_decode(data: bytes, max_output: int) -> bytes:
    """Every frame of `data`, each checked to have ended (a frame without a stored size can stop short)."""
    zstandard = _optional("zstandard", "zstandard")
    out, size, pending = [], 0, bytes(data)
    try:
        while pending:
            dobj = zstandard.ZstdDecompressor().decompressobj()
            fed = 0
            while fed < len(pending) and not dobj.eof:
                chunk = dobj.decompress(pending[fed : fed + _ZSTD_FEED])
                fed += _ZSTD_FEED
                size += len(chunk)
                if size > max_output:
                    raise _too_big("zstd", max_output)
                out.append(chunk)
            if not dobj.eof:
                raise _corrupt("zstd", f"frame is truncated after {size:,} bytes of output")
            pending = dobj.unused_data + pending[fed:]
    except zstandard.ZstdError as exc:
        raise _corrupt("zstd", str(exc)) from None
    return b"".join(out)


def ppmd_decode(data: bytes, max_output: int, max_order: int = 6, mem_size: int = 16 << 20,
                variant: str = "I") -> bytes:
    pyppmd = _optional("pyppmd", "pyppmd")
    if variant not in ("I", "i"):
        raise GolfkitError("PPMd variant H payloads are not decoded (its decoder is unreliable); use variant I")
    try:
        dec = pyppmd.Ppmd8Decoder(max_order, mem_size)
        out = dec.decode(data, max_output + 1)
    except (pyppmd.PpmdError, ValueError, MemoryError) as exc:
        raise _corrupt("ppmd", str(exc)) from None
    if len(out) > max_output:
        raise _too_big("ppmd", max_output)
    if not dec.eof:
        raise _corrupt("ppmd", "stream ends before its end mark")
    return out


def _optional(module: str, package: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDecoder(f"decoding this needs the {module} module; install it (pip install {package})") from None
