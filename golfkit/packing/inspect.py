"""`golfkit inspect`: the per-tensor byte table of any artifact golfkit can read.

For a golfkit container the coded parts are exact. For records' torch.save pickles the whole file
is compressed at once, so each tensor gets a share of the file in proportion to its bytes
compressed alone (zstd level 9), and the pickle's own framing is shown as the header row.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import zstandard

from golfkit.artifact.compress import DEFAULT_MAX_OUTPUT, compress
from golfkit.artifact.container import part_array
from golfkit.artifact.record_formats import read_record_artifact
from golfkit.packing.budget import Budget, TensorCost, apportion, container_costs

_ZSTD9 = zstandard.ZstdCompressor(level=9)


def _estimate(raw: bytes) -> int:
    return len(_ZSTD9.compress(raw))


def inspect_artifact(path: str | Path, max_output: int = DEFAULT_MAX_OUTPUT) -> Budget:
    """Read `path` (bounded, weights only) and account for every byte of it."""
    rec = read_record_artifact(path, max_output)
    info = {"artifact": str(path), "format": rec.format, "layers": " > ".join(rec.layers) or "none",
            "file bytes": f"{rec.file_bytes:,}", "payload bytes": f"{len(rec.payload):,}"}
    if rec.container is not None:
        outer = rec.layers[0] if rec.layers in (["zstd"], ["zlib"]) else "zstd"
        estimate = _estimate if outer == "zstd" else (lambda raw: len(compress(raw, outer, 6)))
        b = container_costs(rec.payload, rec.file_bytes, estimate)
        b.info = {**info, **b.info}
        return b
    estimates: dict[object, float] = {"(header)": float(_framing_estimate(rec.payload))}
    for t in rec.tensors:
        estimates[t.name] = float(sum(_estimate(part_array(p).tobytes()) for p in t.parts.values()))
    shares = apportion(rec.file_bytes, {}, estimates)
    tensors = [TensorCost(t.name, t.shape, t.scheme, "whole file", shares[t.name]) for t in rec.tensors]
    return Budget(rec.file_bytes, tensors, shares["(header)"], info=info)


def _framing_estimate(payload: bytes) -> int:
    """Compressed size of a torch.save zip without its tensor storages (pickle + zip headers)."""
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as z:
            members = z.infolist()
            framing = b"".join(z.read(m) for m in members if "/data/" not in m.filename)
    except (zipfile.BadZipFile, OSError):
        return 0
    return _estimate(framing) + 60 * len(members)
