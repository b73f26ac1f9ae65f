"""Build an artifact: quantize by scheme, code the parts, compress, prove the round trip, write.

Everything is done in memory first; the file appears (atomically) only after the decoded bytes
have been compared with what was meant to be stored, and only if the total fits the cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import zstandard

from golfkit.artifact.compress import compress, decompress
from golfkit.artifact.container import (
    Artifact,
    TensorRecord,
    container_version,
    decode_container,
    encode_container,
)
from golfkit.errors import GolfkitError
from golfkit.facts import SIZE_CAP_BYTES
from golfkit.files import MAX_SCRIPT_BYTES, decode_source, read_bytes
from golfkit.findings import Severity
from golfkit.packing import budget as budget_mod
from golfkit.packing.budget import Budget
from golfkit.packing.loader import emit_loader
from golfkit.packing.part_codecs import CodecSpec, assign_codings, outer_codec, parse_codec
from golfkit.packing.policy import MIN_NUMEL, Assignment, Rule, assign
from golfkit.packing.schemes import quantize
from golfkit.writes import write_file


@dataclass
class Built:
    """An artifact built in memory: the file's bytes, what went in, and its budget."""

    artifact: Artifact
    assignments: list[Assignment]
    blob: bytes
    outer: str
    budget: Budget
    errors: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> rel_rms, max_abs
    loader: str = ""

    @property
    def version(self) -> int:
        """The container version: 2 needs the decoder snippet (`loader`) in the submission, 1 is read by the
        reference trainer's own reader."""
        return container_version(self.artifact)


def quantize_state(
    state: dict[str, torch.Tensor], rules: list[Rule], meta: dict[str, Any] | None = None, min_numel: int = MIN_NUMEL,
    quantized: dict[str, TensorRecord] | None = None,
) -> tuple[Artifact, list[Assignment]]:
    """Apply the rules' schemes to every tensor; returns the artifact (no codings yet). `quantized` holds
    records already made for some tensors (build --fit's GPTQ values, in the scheme's own parts)."""
    assignments = assign(state, rules, min_numel)
    done = quantized or {}
    records = [done[a.name] if a.name in done else quantize(a.name, state[a.name], a.scheme) for a in assignments]
    return Artifact(meta=dict(meta or {}), tensors=records), assignments


def error_stats(original: torch.Tensor, restored: torch.Tensor) -> dict[str, float]:
    """Relative RMS and max absolute error of `restored` against `original`."""
    a, b = original.detach().float().reshape(-1), restored.detach().float().reshape(-1)
    if a.numel() == 0:
        return {"rel_rms": 0.0, "max_abs": 0.0}
    diff = a - b
    norm = float(a.norm())
    return {"rel_rms": float(diff.norm()) / norm if norm else float(diff.norm()), "max_abs": float(diff.abs().max())}


def check_round_trip(blob: bytes, artifact: Artifact, state: dict[str, torch.Tensor], where: str) -> dict[str, dict[str, float]]:
    """Decode `blob` and compare every stored part exactly; returns error stats per tensor."""
    decoded = decode_container(decompress(blob, where=where), where=where)
    if [t.name for t in decoded.tensors] != [t.name for t in artifact.tensors]:
        raise GolfkitError(f"{where}: round trip lost or reordered tensors; this is a golfkit bug, please report it")
    stats = {}
    for want, got in zip(artifact.tensors, decoded.tensors):
        for role, t in want.parts.items():
            g = got.parts[role]
            if g.dtype != t.dtype or g.shape != t.shape or not torch.equal(_bits(g), _bits(t)):
                raise GolfkitError(
                    f"{where}: tensor {want.name!r} part {role!r} does not decode to the values written; "
                    "nothing was written (please report this golfkit bug)"
                )
        stats[want.name] = error_stats(state[want.name].float(), got.dequantize().float())
    return stats


def build_in_memory(
    state: dict[str, torch.Tensor],
    rules: list[Rule],
    codec: CodecSpec | str = "best",
    meta: dict[str, Any] | None = None,
    min_numel: int = MIN_NUMEL,
    where: str = "artifact",
    quantized: dict[str, TensorRecord] | None = None,
) -> Built:
    """Quantize, code, compress and prove the round trip; nothing touches the disk."""
    spec = parse_codec(codec) if isinstance(codec, str) else codec
    artifact, assignments = quantize_state(state, rules, meta, min_numel, quantized)
    outer = outer_codec(spec)
    container, blob = _code(artifact, spec, outer)
    if spec.kind == "best":
        # Per-part choices rest on estimates for what the outer zstd does with raw parts; the
        # plain `ans` layout is one more whole candidate, so `best` is never larger than `ans`.
        chosen = {rec.name: rec.coding for rec in artifact.tensors}
        alt_container, alt_blob = _code(artifact, parse_codec("ans"), outer)
        if len(alt_blob) < len(blob):
            container, blob = alt_container, alt_blob
        else:
            for rec in artifact.tensors:
                rec.coding = chosen[rec.name]
    errors = check_round_trip(blob, artifact, state, where)
    rel = {k: v["rel_rms"] for k, v in errors.items()}
    cost = budget_mod.container_costs(container, len(blob), _estimator(outer), rel)
    cost.info["outer codec"] = outer
    loader = emit_loader(artifact, outer)
    # Version 1 is read by the reference trainer's own reader (bytes already in its code); version 2 needs
    # the decoder snippet shipped beside the script, so it counts.
    cost.loader_bytes = len(loader.encode()) if container_version(artifact) >= 2 else 0
    return Built(artifact, assignments, blob, outer, cost, errors, loader)


def _code(artifact: Artifact, spec: CodecSpec, outer: str) -> tuple[bytes, bytes]:
    assign_codings(artifact, spec)
    container = encode_container(artifact)
    return container, compress(container, outer)


def _estimator(outer: str):
    if outer == "zstd":
        cctx = zstandard.ZstdCompressor(level=9)
        return lambda raw: len(cctx.compress(raw))
    return lambda raw: len(compress(raw, outer, 6))


def code_bytes(path: str | Path, data: bytes, minified: bool) -> tuple[int, str]:
    """Bytes the code `data` (read from `path`) costs: as shipped, or as `golfkit minify` packs it
    (a wrapper's payload minified and wrapped once, as `golfkit minify` does with a wrapper)."""
    if not minified:
        return len(data), f"{path} (as shipped)"
    try:
        from golfkit.minify.packer import pack

        packed = pack(decode_source(data, str(path)), str(path))
    except ImportError as exc:
        raise GolfkitError(f"golfkit minify is not available here ({exc}); drop --minified") from None
    if not packed.ok:
        why = next(f.message for f in packed.findings if f.severity == Severity.ERROR)
        raise GolfkitError(f"{path}: golfkit minify cannot pack it ({why}); drop --minified")
    how = packed.chosen.name if packed.chosen else "minified, not wrapped"
    return len(packed.output), f"{path} (as golfkit minify packs it: {how})"


def account_code(built: Built, code: str | Path | None, minified: bool = False, cap: int = SIZE_CAP_BYTES) -> None:
    """Fill in code bytes; the loader is not counted again when the code already contains it."""
    b = built.budget
    b.cap = cap
    if code is not None:
        data = read_bytes(code, MAX_SCRIPT_BYTES, "a Python script")
        b.code_bytes, b.code_label = code_bytes(code, data, minified)
        if b.loader_bytes and built.loader.split("\n", 1)[1] in data.decode("utf-8", errors="replace"):
            b.loader_bytes = 0
            b.notes.append(f"the loader is not counted again: {code} already contains the decoder snippet")


def write_atomic(path: str | Path, blob: bytes, force: bool) -> None:
    """Write `blob` to `path` whole or not at all (golfkit.writes); never clobber without `force`."""
    write_file(path, blob, force=force)


def check_cap(b: Budget) -> None:
    if b.headroom < 0:
        raise GolfkitError(
            f"the submission would be {b.total:,} bytes, {-b.headroom:,} over the {b.cap:,} cap "
            "(nothing written); use fewer bits (--scheme '*=int6_row'), --codec best, or a smaller model"
        )


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bytes of a tensor, so that -0.0 and NaN compare exactly."""
    return t.detach().contiguous().reshape(-1).view(torch.uint8)
