"""How each part is coded: parse `--codec`, and for `best` try the codecs and keep the smallest.

Codec specs: `zstd` and `zlib` (the whole container compressed at once: version 1 when the schemes
allow), `ans` (context-grouped ANS for quantized matrices), `NAME-LEVEL[-long][:LAYOUT]` for a
general codec on every large part (`brotli-11:col`, `lzma-9e:row`, `zstd-22-long:shuffle`,
`none:shuffle`), and `best`. Parts under MIN_CODED_BYTES are left to the outer zstd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from golfkit.artifact import ans, codecs
from golfkit.artifact.container import Artifact, part_array
from golfkit.packing.codec_names import SPEC, check_codec, have_brotli

MIN_CODED_BYTES = 4096
SAMPLE_BYTES = 1 << 15  # `best` screens general codecs on this much of each part
# A screened codec is run in full only if its sample estimate is within this factor of the best so far.
SCREEN_MARGIN = 1.03
# The general codecs `best` screens (the reference set of the benchmark), over every layout.
BEST_GENERAL = (("zstd", 22), ("brotli", 11), ("lzma", 9))


@dataclass(frozen=True)
class CodecSpec:
    text: str
    kind: str  # "whole" (v1 outer codec only), "ans", "general", "best"
    codec: str = "zstd"
    level: int | None = None
    long: bool = False
    layout: str = "row"

    def request(self) -> dict[str, Any]:
        return {"codec": self.codec, "level": self.level, "long": self.long, "layout": self.layout}


def parse_codec(text: str) -> CodecSpec:
    t = check_codec(text)
    if t in ("zstd", "zlib"):
        return CodecSpec(t, "whole", codec=t)
    if t in ("ans", "best"):
        return CodecSpec(t, t)
    m = SPEC.fullmatch(t)
    assert m is not None  # check_codec accepted it
    level = int(m.group(2)) if m.group(2) else None
    return CodecSpec(t, "general", m.group(1), level, bool(m.group(3)), m.group(4) or "row")


def outer_codec(spec: CodecSpec) -> str:
    """The codec the whole container is compressed with."""
    return spec.codec if spec.kind == "whole" else "zstd"


def assign_codings(artifact: Artifact, spec: CodecSpec) -> None:
    """Set each record's `coding` requests for `spec` (in place)."""
    # Parts of one kind (role, dtype, shape, scheme) compress alike: once ANS has clearly won the
    # screening for a kind, the other parts of that kind skip the general codecs.
    ans_won: set[tuple] = set()
    for rec in artifact.tensors:
        rec.coding = {}
        if spec.kind == "whole":
            continue
        for role, t in rec.parts.items():
            if t.numel() * t.element_size() < MIN_CODED_BYTES:
                continue
            is_q = t.dtype == torch.int8 and t.dim() == 2 and role == "q"
            if spec.kind == "ans":
                if is_q:
                    rec.coding[role] = {"codec": "ans"}
            elif spec.kind == "general":
                rec.coding[role] = spec.request()
            else:
                kind = (role, t.dtype, tuple(t.shape), rec.scheme)
                choice = best_coding(t, is_q, screen=kind not in ans_won)
                if choice is not None and choice.get("clear_win"):
                    ans_won.add(kind)
                    choice = {k: v for k, v in choice.items() if k != "clear_win"}
                if choice is not None:
                    rec.coding[role] = choice


def _zstd_alone(raw: bytes) -> int:
    return len(codecs.compress_bytes(raw, "zstd", 22)[0])


def best_coding(t: torch.Tensor, is_q: bool, screen: bool = True) -> dict[str, Any] | None:
    """The smallest coding for one part, or None when leaving it to the outer zstd is smallest.

    ANS sizes are exact estimates; general codecs are screened on a sample of each layout and the
    best of them is run in full before it may replace ANS.
    """
    arr = part_array(t)
    exact: list[tuple[float, dict[str, Any] | None]] = []
    if is_q:
        plan, est = ans.choose(arr)
        exact.append((est, {"codec": "ans", **plan}))
        if not screen:
            return exact[0][1]
    screened: list[tuple[float, dict[str, Any] | None, bytes]] = []
    for layout in codecs.LAYOUTS:
        if layout == "col" and arr.ndim != 2:
            continue
        laid = codecs.lay_out(arr, layout, max(2, arr.itemsize))
        sample = laid[:SAMPLE_BYTES]
        scale = len(laid) / max(1, len(sample))
        outer = None if layout == "row" else {"codec": "none", "layout": layout}
        screened.append((_zstd_alone(sample) * scale, outer, laid))
        for name, level in BEST_GENERAL:
            if name == "brotli" and not _have_brotli():
                continue
            blob, _ = codecs.compress_bytes(sample, name, level)
            screened.append((len(blob) * scale, {"codec": name, "level": level, "layout": layout}, laid))
    estimate, request, laid = min(screened, key=lambda c: c[0])
    plain = request is None or request["codec"] == "none"
    if exact and exact[0][0] * SCREEN_MARGIN <= estimate:
        return {**exact[0][1], "clear_win": True}
    if exact and exact[0][0] <= estimate * SCREEN_MARGIN and (plain or exact[0][0] <= estimate):
        return exact[0][1]
    if plain or not exact:
        return request
    size = len(codecs.compress_bytes(laid, request["codec"], request.get("level"))[0])
    return request if size < exact[0][0] else exact[0][1]


def _have_brotli() -> bool:
    return have_brotli()


def codec_notes(spec: CodecSpec) -> list[str]:
    """What `spec` could not try here, said rather than skipped: `best` without the optional brotli module."""
    if spec.kind == "best" and not have_brotli():
        return [("brotli is not installed: --codec best compared ANS, zstd-22 and lzma-9e but not brotli-11, which "
                "is often smallest on float parts (pip install 'golfkit[brotli]')")]
    return []


def order0_bytes(q: np.ndarray) -> float:
    """Order-0 entropy of the values of `q`, in bytes (the bound the benchmark compares against)."""
    counts = np.bincount((q.astype(np.int64) - int(q.min())).ravel())
    counts = counts[counts > 0]
    p = counts / counts.sum()
    return float(-(counts * np.log2(p)).sum() / 8)
