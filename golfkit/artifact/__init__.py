"""golfkit's artifact container (version 1) and its compression layer.

Spec, in five lines:
1. The artifact file is the container compressed whole with zstd (frame magic 28 B5 2F FD) or zlib
   (first byte 0x78); a reader tells which from the first bytes and decompresses with a size bound.
2. Container = b"GOLFKIT" + version byte (1) + header length (uint32 little-endian) + header + data.
3. The header is UTF-8 JSON: {"meta": {...}, "tensors": [{"name", "dtype", "shape", "scheme",
   "parts": {role: {"dtype", "shape", "offset", "nbytes"}}}]}; offsets count from the start of data.
4. Parts are raw little-endian arrays laid back to back in header order, no gaps, no overlap.
5. Schemes: "raw" (part "data", stored as its own dtype, restored to "dtype"); "int8_row" (parts "q":
   int8 [rows, cols] and "scale": float16 [rows]; value = q * scale[:, None], cast to "dtype").

Version 2 (version byte 2, written only by files that use one of these; everything else as above):
6. Schemes "intN_row" (N = 2..8: as int8_row with |q| <= 2**(N-1) - 1) and "intN_gG" (scale float16
   [rows, cols / G], one per G consecutive values of a row; value = q * scale repeated G times).
7. A part may carry "coding": its "nbytes" bytes are then coded, not raw. {"codec": none|zlib|zstd|
   lzma|xz|brotli, "layout": row|col|shuffle, "stride"?, lzma "dict"/"lc"/"lp"/"pb"}: the raw bytes,
   transposed (col) or regrouped by position modulo stride (shuffle), then compressed ("lzma" is raw
   LZMA2 with those filter fields). {"codec": "ans", "lo", "hi", "rg", "cg", "mode"?}: context-grouped
   ANS of an int8 matrix, format in golfkit.artifact.ans.
"""

from golfkit.artifact.compress import compress, decompress, sniff_codec
from golfkit.artifact.container import (
    Artifact,
    ContainerError,
    TensorRecord,
    decode_container,
    encode_container,
    read_artifact,
    write_artifact,
)

__all__ = [
    "Artifact",
    "ContainerError",
    "TensorRecord",
    "compress",
    "decode_container",
    "decompress",
    "encode_container",
    "read_artifact",
    "sniff_codec",
    "write_artifact",
]
