"""Version-1 quantization policy, the one the reference trainer uses (the baseline's layout,
docs/verify.md#artifacts-records-ship).

2-D float tensors with more than `min_numel` values: int8 per row, clipped at the
99.99984th percentile of |w| in the row, fp16 scale = clip / 127. Everything else stays float:
control tensors (per-channel gains and mixes) in fp32, the rest in fp16.
"""

from __future__ import annotations

from typing import Any

import torch

from golfkit.artifact.container import DTYPE_NAMES, Artifact, TensorRecord

CLIP_PERCENTILE = 99.99984
MIN_NUMEL = 65_536
CONTROL_PATTERNS = ("attn_scale", "mlp_scale", "resid_mix", "q_gain", "skip_weight")


def quantize_int8_row(w: torch.Tensor, percentile: float = CLIP_PERCENTILE) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row int8: returns (q int8 [rows, cols], scale float16 [rows])."""
    w = w.detach().float()
    clip = torch.quantile(w.abs(), percentile / 100.0, dim=1) if w.numel() else w.new_zeros(w.shape[0])
    scale = (clip / 127.0).clamp_min(1e-12).to(torch.float16).float().clamp_min(torch.finfo(torch.float16).tiny)
    q = torch.clamp(torch.round(w / scale[:, None]), -127, 127).to(torch.int8)
    return q, scale.to(torch.float16)


def is_control(name: str) -> bool:
    return any(p in name for p in CONTROL_PATTERNS)


def quantize_state_dict(
    state: dict[str, torch.Tensor], meta: dict[str, Any] | None = None, min_numel: int = MIN_NUMEL
) -> Artifact:
    """Apply the version-1 policy to a float state dict."""
    records = []
    for name, t in state.items():
        t = t.detach().cpu()
        dtype = DTYPE_NAMES[t.dtype]
        if t.is_floating_point() and t.dim() == 2 and t.numel() > min_numel:
            q, scale = quantize_int8_row(t)
            records.append(TensorRecord(name, dtype, tuple(t.shape), "int8_row", {"q": q, "scale": scale}))
        elif t.is_floating_point():
            keep = torch.float32 if is_control(name) else torch.float16
            records.append(TensorRecord(name, dtype, tuple(t.shape), "raw", {"data": t.to(keep).contiguous()}))
        else:
            records.append(TensorRecord(name, dtype, tuple(t.shape), "raw", {"data": t.contiguous()}))
    return Artifact(meta=dict(meta or {}), tensors=records)
