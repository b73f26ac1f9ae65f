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
