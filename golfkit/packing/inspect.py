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
from golfkit.artifact.container import container_version, part_array
from golfkit.artifact.record_formats import read_record_artifact
from golfkit.files import MAX_SCRIPT_BYTES, read_bytes
from golfkit.packing.budget import Budget, TensorCost, apportion, container_costs
from golfkit.packing.loader import emit_loader

_ZSTD9 = zstandard.ZstdCompressor(level=9)


def _estimate(raw: bytes) -> int:
    return len(_ZSTD9.compress(raw))


def inspect_artifact(path: str | Path, max_output: int = DEFAULT_MAX_OUTPUT, code: str | Path | None = None) -> Budget:
    """Read `path` (bounded, weights only) and account for every byte of it: the total is the code (when
    given) + the decoder a version-2 golfkit container needs + the file."""
    rec = read_record_artifact(path, max_output)
    info = {"artifact": str(path), "format": rec.format, "layers": " > ".join(rec.layers) or "none",
            "file bytes": rec.file_bytes, "payload bytes": len(rec.payload)}
    loader = ""
    if rec.container is not None:
        outer = rec.layers[0] if rec.layers in (["zstd"], ["zlib"]) else "zstd"
        estimate = _estimate if outer == "zstd" else (lambda raw: len(compress(raw, outer, 6)))
        b = container_costs(rec.payload, rec.file_bytes, estimate)
        b.info = {**info, **b.info}
        if container_version(rec.container) >= 2:
            try:
                loader = emit_loader(rec.container, outer)
            except (KeyError, TypeError):  # a coding golfkit's loader does not know: the reader refused it already
                loader = ""
            b.loader_bytes = len(loader.encode())
            b.notes.append("a version-2 container: its decoder (golfkit build --emit-loader, the loader row) ships "
                           "with the script and counts")
    else:
        estimates: dict[object, float] = {"(header)": float(_framing_estimate(rec.payload))}
        for t in rec.tensors:
            estimates[t.name] = float(sum(_estimate(part_array(p).tobytes()) for p in t.parts.values()))
        shares = apportion(rec.file_bytes, {}, estimates)
        tensors = [TensorCost(t.name, t.shape, t.scheme, "whole file", shares[t.name]) for t in rec.tensors]
        b = Budget(rec.file_bytes, tensors, shares["(header)"], info=info)
        b.notes.append("the decoder of this format is part of the record's own script (counted in its code)")
    if code is not None:
        data = read_bytes(code, MAX_SCRIPT_BYTES, "a Python script")
        b.code_bytes, b.code_label = len(data), f"{code} (as shipped)"
        if loader and loader.split("\n", 1)[1] in data.decode("utf-8", errors="replace"):
            b.loader_bytes = 0
            b.notes.append(f"the loader is not counted again: {code} already contains the decoder snippet")
    return b


def _framing_estimate(payload: bytes) -> int:
    """Compressed size of a torch.save zip without its tensor storages (pickle + zip headers)."""
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as z:
            members = z.infolist()
            framing = b"".join(z.read(m) for m in members if "/data/" not in m.filename)
    except (zipfile.BadZipFile, OSError):
        return 0
    return _estimate(framing) + 60 * len(members)
