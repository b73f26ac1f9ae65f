"""Quantization schemes: what each tensor becomes in the container.

A scheme is written as text, as on the command line and in TOML files:
  fp32 | fp16 | bf16 | raw            float passthrough (raw: keep the checkpoint's dtype)
  intN_row[:CLIP]                     N = 2..8, one float16 scale per row
  intN_gG[:CLIP]                      one float16 scale per G consecutive values of a row
  default                             the version-1 policy (int8_row if large, else fp32/fp16)
CLIP is pP (clip each row or group at the P-th percentile of |w|, default p99.99984 as the
baseline), stdK (at K standard deviations), or max. scale = clip / (2**(N-1) - 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from golfkit.artifact.container import DTYPE_NAMES, DTYPES, TensorRecord
from golfkit.artifact.quantize import CLIP_PERCENTILE, is_control, quantize_int8_row
from golfkit.errors import GolfkitError

FLOATS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_INT = re.compile(r"int([2-8])_(row|g([1-9][0-9]{0,5}))(?::(.+))?")
_CLIP = re.compile(r"p(\d+(?:\.\d+)?)|std(\d+(?:\.\d+)?)|max")
SCHEME_HELP = "fp32, fp16, bf16, raw, default, intN_row[:CLIP] or intN_gG[:CLIP] (N 2..8; CLIP pP, stdK or max)"


@dataclass(frozen=True)
class Scheme:
    """A parsed scheme. `bits` is None for float passthrough; `group` None means per row."""

    text: str
    kind: str  # "float", "int", "raw", "default"
    float_dtype: torch.dtype | None = None
    bits: int | None = None
    group: int | None = None
    clip: str = "p"
    clip_value: float = CLIP_PERCENTILE

    @property
    def quantizes(self) -> bool:
        return self.kind == "int"

    @property
    def container_name(self) -> str:
        return f"int{self.bits}_row" if self.group is None else f"int{self.bits}_g{self.group}"

    def max_abs_error(self, scale: torch.Tensor) -> torch.Tensor:
        """Error bound for values inside the clip range: half a quantization step."""
        return scale.float() / 2


def parse_scheme(text: str) -> Scheme:
    """Parse a scheme name; a GolfkitError names the valid forms."""
    t = text.strip()
    if t in FLOATS:
        return Scheme(t, "float", float_dtype=FLOATS[t])
    if t in ("raw", "default"):
        return Scheme(t, t)
    m = _INT.fullmatch(t)
    if not m:
        raise GolfkitError(f"unknown scheme {text!r}: use {SCHEME_HELP}")
    bits, group = int(m.group(1)), int(m.group(3)) if m.group(3) else None
    clip, value = "p", CLIP_PERCENTILE
    if m.group(4):
        c = _CLIP.fullmatch(m.group(4))
        if not c:
            raise GolfkitError(f"scheme {text!r}: clip {m.group(4)!r} is not pP (percentile), stdK or max")
        if c.group(1):
            clip, value = "p", float(c.group(1))
            if not 0 < value <= 100:
                raise GolfkitError(f"scheme {text!r}: percentile must be in (0, 100]")
        elif c.group(2):
            clip, value = "std", float(c.group(2))
            if value <= 0:
                raise GolfkitError(f"scheme {text!r}: std multiple must be positive")
        else:
            clip, value = "p", 100.0
    return Scheme(t, "int", bits=bits, group=group, clip=clip, clip_value=value)


def is_v1_int8(s: Scheme) -> bool:
    """True when `s` is exactly the version-1 int8_row scheme (its files stay version 1)."""
    return s.bits == 8 and s.group is None and s.clip == "p" and s.clip_value == CLIP_PERCENTILE


def as_matrix(t: torch.Tensor) -> torch.Tensor:
    """2-D view used by the row and group schemes: [rows, values per row]."""
    if t.dim() == 0:
        return t.reshape(1, 1)
    if t.dim() == 1:
        return t.reshape(1, -1)
    return t.reshape(t.shape[0], -1)


def _clip(w: torch.Tensor, s: Scheme) -> torch.Tensor:
    """Clip magnitude per row of `w` [rows, n]."""
    a = w.abs()
    if s.clip == "std":
        return torch.minimum(s.clip_value * w.std(dim=1, correction=0), a.amax(dim=1))
    if s.clip_value >= 100.0:
        return a.amax(dim=1)
    # torch.quantile refuses very large inputs: do it in slices of rows.
    q = s.clip_value / 100.0
    step = max(1, (1 << 24) // max(1, w.shape[1]))
    return torch.cat([torch.quantile(a[i : i + step], q, dim=1) for i in range(0, w.shape[0], step)])


def quantize_rows(w: torch.Tensor, s: Scheme) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row (or per-group rows) quantization: q int8 [rows, n], scale float16 [rows]."""
    qmax = (1 << (s.bits - 1)) - 1
    clip = _clip(w, s) if w.numel() else w.new_zeros(w.shape[0])
    scale = (clip / qmax).clamp_min(1e-12).to(torch.float16).float().clamp_min(torch.finfo(torch.float16).tiny)
    q = torch.clamp(torch.round(w / scale[:, None]), -qmax, qmax).to(torch.int8)
    return q, scale.to(torch.float16)


def quantize(name: str, t: torch.Tensor, s: Scheme) -> TensorRecord:
    """Apply scheme `s` (not "default") to tensor `t` named `name`."""
    t = t.detach().cpu()
    dtype = DTYPE_NAMES.get(t.dtype)
    if dtype is None:
        raise GolfkitError(f"tensor {name!r}: dtype {t.dtype} is not supported; use one of {', '.join(DTYPES)}")
    shape = tuple(t.shape)
    if s.kind == "raw" or not t.is_floating_point():
        return TensorRecord(name, dtype, shape, "raw", {"data": t.contiguous()})
    if s.kind == "float":
        return TensorRecord(name, dtype, shape, "raw", {"data": t.to(s.float_dtype).contiguous()})
    if s.kind != "int":
        raise GolfkitError(f"tensor {name!r}: scheme {s.text!r} must be resolved before quantizing")
    w = as_matrix(t.float())
    if is_v1_int8(s):
        q, scale = quantize_int8_row(w)
        return TensorRecord(name, dtype, shape, "int8_row", {"q": q, "scale": scale})
    if s.group is None:
        q, scale = quantize_rows(w, s)
        return TensorRecord(name, dtype, shape, s.container_name, {"q": q, "scale": scale})
    rows, cols = w.shape
    if cols % s.group:
        raise GolfkitError(
            f"tensor {name!r}: {cols} values per row do not split into groups of {s.group}; "
            "pick a group size that divides it or a _row scheme"
        )
    q, scale = quantize_rows(w.reshape(-1, s.group), s)
    return TensorRecord(
        name, dtype, shape, s.container_name,
        {"q": q.reshape(rows, cols), "scale": scale.reshape(rows, cols // s.group)},
    )


def default_scheme(name: str, t: torch.Tensor, min_numel: int) -> Scheme:
    """The version-1 policy (golfkit.artifact.quantize) as a scheme for one tensor."""
    if not t.is_floating_point():
        return parse_scheme("raw")
    if t.dim() == 2 and t.numel() > min_numel:
        return parse_scheme("int8_row")
    return parse_scheme("fp32" if is_control(name) else "fp16")


def eligible(name: str, t: torch.Tensor, min_numel: int) -> bool:
    """Large float matrices that wildcard patterns may quantize (small and control tensors stay float)."""
    return t.is_floating_point() and t.dim() >= 2 and t.numel() > min_numel and not is_control(name)
