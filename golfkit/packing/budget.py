"""The byte budget: code + loader + model against the 16,000,000-byte cap, and where model bytes go.

Coded parts have exact sizes. Parts left to the outer compressor share it: each gets a slice of
what is left in proportion to its size compressed alone, so the table always sums to the file.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from golfkit.facts import SIZE_CAP_BYTES


@dataclass
class TensorCost:
    name: str
    shape: tuple[int, ...]
    scheme: str
    coding: str
    bytes: int
    rel_rms: float | None = None  # ||w - dequantized|| / ||w||, when the originals are known

    @property
    def params(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def bits_per_param(self) -> float:
        return 8 * self.bytes / max(1, self.params)


@dataclass
class Budget:
    model_bytes: int
    tensors: list[TensorCost]
    overhead_bytes: int  # container header (and pickle framing for records)
    code_bytes: int | None = None
    code_label: str = ""
    loader_bytes: int = 0
    cap: int = SIZE_CAP_BYTES
    info: dict[str, Any] = field(default_factory=dict)  # label -> value (ints stay ints; printed with commas)
    notes: list[str] = field(default_factory=list)  # what the build or reading could not do, or chose, and why
    meta: dict[str, Any] = field(default_factory=dict)  # a golfkit container's header meta, when there is one

    @property
    def total(self) -> int:
        return (self.code_bytes or 0) + self.loader_bytes + self.model_bytes

    @property
    def headroom(self) -> int:
        return self.cap - self.total

    def to_json(self, baseline: Budget | None = None) -> dict[str, Any]:
        base = {t.name: t.bytes for t in baseline.tensors} if baseline else {}
        out = {
            **{snake_case(k): v for k, v in self.info.items()},
            "code_bytes": self.code_bytes, "code": self.code_label, "loader_bytes": self.loader_bytes,
            "model_bytes": self.model_bytes, "total_bytes": self.total, "cap": self.cap,
            "headroom_bytes": self.headroom, "overhead_bytes": self.overhead_bytes,
            "tensors": [
                {"name": t.name, "shape": list(t.shape), "params": t.params, "scheme": t.scheme, "coding": t.coding,
                 "bytes": t.bytes, "bits_per_param": round(t.bits_per_param, 4),
                 "share": round(t.bytes / max(1, self.model_bytes), 6), "rel_rms": t.rel_rms,
                 **({"delta_bytes": t.bytes - base[t.name]} if t.name in base else {})}
                for t in sorted(self.tensors, key=lambda t: -t.bytes)
            ],
        }
        if baseline:
            out["baseline_model_bytes"] = baseline.model_bytes
            out["delta_model_bytes"] = self.model_bytes - baseline.model_bytes
        if self.meta:
            out["meta"] = self.meta
        out["notes"] = list(self.notes)
        return out


def snake_case(label: str) -> str:
    """A JSON key for a label shown to people: "outer codec" -> "outer_codec"."""
    return "_".join(label.lower().replace("-", " ").split())


def _shown(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def render_text(b: Budget, baseline: Budget | None = None) -> str:
    """The budget as a table for people, most expensive tensor first."""
    lines = [f"{k}: {_shown(v)}" for k, v in b.info.items()]
    if b.code_bytes is not None:
        lines.append(f"code     {b.code_bytes:>12,} bytes  {b.code_label}")
    else:
        lines.append(f"code     {'-':>12}        not counted (give the script with --code)")
    if b.loader_bytes:
        lines.append(f"loader   {b.loader_bytes:>12,} bytes  decoder snippet (golfkit build --emit-loader)")
    lines.append(f"model    {b.model_bytes:>12,} bytes")
    if baseline:
        d = b.model_bytes - baseline.model_bytes
        lines.append(f"         {d:>+12,} bytes  vs the default policy ({baseline.model_bytes:,})")
    verdict = "fits" if b.headroom >= 0 else "OVER THE CAP"
    lines.append(f"total    {b.total:>12,} bytes  headroom {b.headroom:,} to {b.cap:,} ({verdict})")
    lines += [f"note: {note}" for note in b.notes]
    base = {t.name: t.bytes for t in baseline.tensors} if baseline else {}
    name_w = max([len(t.name) for t in b.tensors] + [6])
    head = f"{'tensor':<{name_w}} {'params':>11} {'scheme':<14} {'coding':<18} {'bytes':>11} {'bits/p':>7} {'share':>6} {'rel.rms':>8}"
    if baseline:
        head += f" {'delta':>9}"
    lines += ["", head]
    for t in sorted(b.tensors, key=lambda t: -t.bytes):
        err = f"{t.rel_rms:.5f}" if t.rel_rms is not None else "-"
        row = (f"{t.name:<{name_w}} {t.params:>11,} {t.scheme:<14} {t.coding:<18} {t.bytes:>11,} "
               f"{t.bits_per_param:>7.3f} {100 * t.bytes / max(1, b.model_bytes):>5.1f}% {err:>8}")
        if baseline:
            row += f" {t.bytes - base.get(t.name, 0):>+9,}"
        lines.append(row)
    lines.append(f"{'(header)':<{name_w}} {'':>11} {'':<14} {'':<18} {b.overhead_bytes:>11,}")
    return "\n".join(lines)


def apportion(total: int, exact: dict[Any, int], estimates: dict[Any, float]) -> dict[Any, int]:
    """Split `total` bytes: exact keys get their size, the rest share the remainder by estimate."""
    out = dict(exact)
    rest = total - sum(exact.values())
    weight = sum(estimates.values()) or 1.0
    for k, e in estimates.items():
        out[k] = round(rest * e / weight)
    if estimates:  # rounding leftovers go to the last shared key so the table sums exactly
        last = next(reversed(estimates))
        out[last] += total - sum(out.values())
    return out


def container_costs(
    container: bytes, file_bytes: int, estimate: Callable[[bytes], int], rel_rms: dict[str, float] | None = None
) -> Budget:
    """Per-tensor costs of a golfkit container whose compressed file is `file_bytes` long.

    `estimate(raw)` sizes a raw chunk compressed alone with the outer codec.
    """
    (hlen,) = struct.unpack("<I", container[8:12])
    header = json.loads(container[12 : 12 + hlen])
    data = memoryview(container)[12 + hlen :]
    exact, estimates = {}, {"(header)": float(estimate(container[: 12 + hlen]))}
    for e in header["tensors"]:
        for role, p in e["parts"].items():
            key = (e["name"], role)
            if p.get("coding", {}).get("codec", "none") != "none":
                exact[key] = p["nbytes"]
            else:
                estimates[key] = float(estimate(bytes(data[p["offset"] : p["offset"] + p["nbytes"]])))
    shares = apportion(file_bytes, exact, estimates)
    tensors = []
    for e in header["tensors"]:
        codings = [_describe(p.get("coding")) for p in e["parts"].values()]
        main = next((c for c in codings if c != "outer"), "outer")
        tensors.append(TensorCost(
            e["name"], tuple(e["shape"]), e["scheme"], main,
            sum(shares[(e["name"], r)] for r in e["parts"]), (rel_rms or {}).get(e["name"]),
        ))
    return Budget(file_bytes, tensors, shares["(header)"], info={"container": f"v{container[7]}"},
                  meta=header.get("meta") if isinstance(header.get("meta"), dict) else {})


def _describe(coding: dict[str, Any] | None) -> str:
    if not coding:
        return "outer"
    if coding["codec"] == "ans":
        return f"ans {coding['rg']}x{coding['cg']} {coding.get('mode', 'table')}"
    return f"{coding['codec']}:{coding.get('layout', 'row')}"
