"""GPTQ-style error compensation for `build --fit` (Frantar et al., 2022, "GPTQ: Accurate Post-Training
Quantization for Generative Pre-trained Transformers").

A linear layer's output error for a weight error D is D X; over calibration inputs its squared norm is
tr(D H D^T) with H = sum x x^T. Quantizing the columns one at a time, GPTQ spreads each column's rounding
error over the columns not yet quantized, through the inverse of H, so that the errors cancel in the
output instead of adding up. The scales are those of the scheme (the same clip rule, rounded to float16
the same way), and the stored parts are exactly those of `golfkit.packing.schemes.quantize`: a file holding
compensated values is read by the same decoder.
"""

from __future__ import annotations

import torch

from golfkit.artifact.container import DTYPE_NAMES, TensorRecord
from golfkit.packing.schemes import Scheme, _clip, as_matrix, is_v1_int8

DAMP = 0.01  # added to H's diagonal, as a fraction of its mean: keeps the inverse stable
BLOCK = 128  # columns updated together (the lazy batch update of the paper)


def applies(scheme: Scheme, t: torch.Tensor) -> bool:
    """GPTQ applies to the integer schemes golfkit quantizes itself (the version-1 int8 reader's files keep its
    own rounding) of 2-D float tensors."""
    return scheme.kind == "int" and not is_v1_int8(scheme) and t.dim() == 2 and t.is_floating_point()


def _scales(w: torch.Tensor, s: Scheme) -> tuple[torch.Tensor, torch.Tensor]:
    """The scheme's scales (float16, stored shape) and the float scale of every value [rows, cols]."""
    rows, cols = w.shape
    qmax = (1 << (s.bits - 1)) - 1
    m = w if s.group is None else w.reshape(-1, s.group)
    scale = (_clip(m, s) / qmax).clamp_min(1e-12).to(torch.float16).float()
    scale = scale.clamp_min(torch.finfo(torch.float16).tiny)  # as quantize_rows: what is stored is what is used
    if s.group is None:
        return scale.to(torch.float16), scale[:, None].expand(rows, cols)
    per = scale.reshape(rows, cols // s.group)
    return per.to(torch.float16), per.repeat_interleave(s.group, dim=1)


def gptq_record(name: str, t: torch.Tensor, s: Scheme, hessian: torch.Tensor) -> TensorRecord | None:
    """The record `quantize(name, t, s)` would store, with its values chosen by GPTQ against `hessian`
    (sum of x x^T over calibration inputs, [cols, cols]); None when H cannot be inverted even damped."""
    w = as_matrix(t.detach().float()).clone()
    rows, cols = w.shape
    if s.group is not None and cols % s.group:
        return None
    qmax = (1 << (s.bits - 1)) - 1
    stored, scale = _scales(w, s)
    h = hessian.detach().double().clone()
    dead = torch.diag(h) <= 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0  # inputs that are always zero: their weights never reach the output
    inverse = None
    for damp in (DAMP, DAMP * 10, DAMP * 100):
        try:
            damped = h + damp * torch.diag(h).mean() * torch.eye(cols, dtype=h.dtype)
            inverse = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(damped)), upper=True)
            break
        except RuntimeError:  # torch.linalg.LinAlgError: not positive definite
            continue
    if inverse is None or not torch.isfinite(inverse).all():
        return None
    inverse = inverse.float()
    q = torch.zeros(rows, cols, dtype=torch.int8)
    for i1 in range(0, cols, BLOCK):
        i2 = min(i1 + BLOCK, cols)
        block, errors, hinv = w[:, i1:i2].clone(), torch.zeros(rows, i2 - i1), inverse[i1:i2, i1:i2]
        for j in range(i2 - i1):
            column, step = block[:, j], scale[:, i1 + j]
            qj = torch.clamp(torch.round(column / step), -qmax, qmax)
            q[:, i1 + j] = qj.to(torch.int8)
            err = (column - qj * step) / hinv[j, j]
            block[:, j:] -= err[:, None] * hinv[j, j:][None, :]
            errors[:, j] = err
        w[:, i2:] -= errors @ inverse[i1:i2, i2:]
    dtype = DTYPE_NAMES[t.dtype]
    return TensorRecord(name, dtype, tuple(t.shape), s.container_name, {"q": q, "scale": stored})
