"""The precision an evaluation computes in: float32, or bfloat16 autocast as CUDA applies it.

The challenge's scripts evaluate on the GPU under `torch.autocast("cuda", dtype=torch.bfloat16)`. A re-run
gives the same numbers only in the same precision: in float32 the CPU differs from such a GPU run by
1.6e-4 (round trip) and 1.35e-4 (sliding) in val_bpb on the reference trainer's trained 9x512 model,
more than the rerun's 1e-4; with this emulation by 1.4e-7 and 9.2e-5 (docs/eval.md).
On a GPU, `bf16` is torch's own CUDA autocast. On a CPU, torch's CPU autocast is not the same thing
(its op lists differ: CUDA runs rms_norm, pow, softmax, exp, rsqrt and sum in float32, the CPU in
bfloat16), so golfkit emulates CUDA's policy (`CudaAutocast`, a TorchFunctionMode):

- matrix products (linear, matmul, bmm, ...): float inputs rounded to bfloat16, the product computed
  in float32 (what a bf16 GEMM with float32 accumulation computes, at the CPU's float32 speed), the
  result rounded to bfloat16; scaled_dot_product_attention as a flash kernel computes it (float32
  scores and softmax, the probabilities rounded to bfloat16 before they multiply V);
- CUDA's float32 ops (norms, pow, exp, log, softmax, losses, sum, ...): inputs cast to float32;
- cat, stack and CUDA's other promoting ops: inputs cast to the widest float type among them;
- everything else as called (elementwise ops on bfloat16 tensors stay in bfloat16, as on the GPU).

What it does not reproduce: the GPU kernels' own summation orders (flash attention's blockwise online
softmax, split-K GEMMs). Those are measured by bench/device_check.py on a GPU.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

PRECISIONS = ("auto", "fp32", "bf16")

# CUDA autocast's lists (torch/csrc/autocast_mode.cpp; the same as torch.testing's AutocastTestLists), by
# the name of the Python-visible function or method.
LOWER = frozenset({
    "linear", "matmul", "__matmul__", "__rmatmul__", "mm", "mv", "bmm", "addmm", "addmv", "addr", "addbmm",
    "baddbmm", "einsum", "chain_matmul", "linalg_vecdot", "linalg_multi_dot", "multi_dot", "vecdot",
    "scaled_dot_product_attention", "conv1d", "conv2d", "conv3d", "conv_tbc", "conv_transpose1d",
    "conv_transpose2d", "conv_transpose3d", "convolution", "prelu",
})
FP32 = frozenset({
    "acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal", "rsqrt",
    "sinh", "tan", "pow", "__pow__", "__rpow__", "softplus", "layer_norm", "rms_norm", "group_norm", "norm",
    "frobenius_norm", "nuclear_norm", "cosine_similarity", "poisson_nll_loss", "cosine_embedding_loss",
    "nll_loss", "nll_loss2d", "hinge_embedding_loss", "kl_div", "l1_loss", "smooth_l1_loss", "huber_loss",
    "mse_loss", "margin_ranking_loss", "multilabel_margin_loss", "soft_margin_loss", "triplet_margin_loss",
    "multi_margin_loss", "binary_cross_entropy_with_logits", "dist", "pdist", "cdist", "renorm", "logsumexp",
    "cross_entropy",  # log_softmax + nll_loss, both float32 under CUDA autocast
})
# float32 unless the call names a dtype itself (CUDA's fp32_set_opt_dtype policy)
FP32_UNLESS_DTYPE = frozenset({"prod", "softmax", "log_softmax", "cumprod", "cumsum", "sum", "linalg_vector_norm",
                               "linalg_matrix_norm", "vector_norm", "matrix_norm"})
PROMOTE = frozenset({"addcdiv", "addcmul", "atan2", "bilinear", "cross", "dot", "vdot", "grid_sampler",
                     "index_put", "tensordot", "scatter_add", "cat", "concat", "concatenate", "stack"})

# Innermost autocast region last: its dtype, or None where a region turned autocast off.
_REGIONS: list[torch.dtype | None] = []


def _eligible(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype != torch.float64


class CudaAutocast(TorchFunctionMode):
    """CUDA's autocast policy applied on any device, while a region pushed by `cuda_autocast` is on."""

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        dtype = _REGIONS[-1] if _REGIONS else None
        name = getattr(func, "__name__", "")
        if dtype is None:
            return func(*args, **kwargs)
        if name in LOWER:
            def rounded(x: Any) -> Any:
                return x.to(dtype).float() if _eligible(x) else x

            if name == "scaled_dot_product_attention":
                out = flash_attention(*tree_map(rounded, args), dtype=dtype, **tree_map(rounded, kwargs))
            else:
                out = func(*tree_map(rounded, args), **tree_map(rounded, kwargs))
            return tree_map(lambda y: y.to(dtype) if _eligible(y) else y, out)
        if name in FP32 or (name in FP32_UNLESS_DTYPE and kwargs.get("dtype") is None and args and _eligible(args[0])):
            def wide(x: Any) -> Any:
                return x.float() if _eligible(x) else x

            if name in FP32_UNLESS_DTYPE:
                return func(*args, **{**kwargs, "dtype": torch.float32})
            return func(*tree_map(wide, args), **tree_map(wide, kwargs))
        if name in PROMOTE:
            found = [x for x in _leaves(args, kwargs) if _eligible(x)]
            if found:
                widest = max((x.dtype for x in found), key=lambda d: torch.finfo(d).bits)
                if any(x.dtype != widest for x in found):
                    def cast(x: Any) -> Any:
                        return x.to(widest) if _eligible(x) else x

                    return func(*tree_map(cast, args), **tree_map(cast, kwargs))
        return func(*args, **kwargs)


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None,
                    dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                    enable_gqa: bool = False, *, dtype: torch.dtype) -> torch.Tensor:
    """scaled_dot_product_attention as a bf16 flash-attention kernel computes it, in float32 on bf16-rounded
    q, k, v: scores and softmax statistics in float32, the probabilities rounded to `dtype` before they
    multiply V (the kernel's P @ V is a bf16 matrix product), the row sums taken before that rounding.
    Causal attention goes by blocks of queries against only the keys they see (half the work, in cache).
    Arguments it does not model (dropout, a float mask) go to torch's own function."""
    if dropout_p or (attn_mask is not None and attn_mask.dtype != torch.bool):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p,
                                                                is_causal=is_causal, scale=scale, enable_gqa=enable_gqa)
    if k.shape[-3] != q.shape[-3]:  # grouped keys and values: query head h reads kv head h // (H / Hk)
        rep = q.shape[-3] // k.shape[-3]
        k, v = k.repeat_interleave(rep, dim=-3), v.repeat_interleave(rep, dim=-3)
    q = q * (q.shape[-1] ** -0.5 if scale is None else scale)
    tq, tk = q.shape[-2], k.shape[-2]
    if not is_causal or attn_mask is not None or tq != tk:
        allowed = attn_mask
        if is_causal:
            causal = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(tk - tq)
            allowed = causal if allowed is None else allowed & causal
        return _softmax_pv(torch.matmul(q, k.transpose(-2, -1)), v, allowed, dtype)
    out = torch.empty_like(q)
    block = ATTENTION_BLOCK
    for start in range(0, tq, block):
        end = min(start + block, tq)
        scores = torch.matmul(q[..., start:end, :], k[..., :end, :].transpose(-2, -1))  # keys this block may see
        allowed = torch.ones(end - start, end, dtype=torch.bool, device=q.device).tril(start)
        out[..., start:end, :] = _softmax_pv(scores, v[..., :end, :], allowed, dtype)
    return out


ATTENTION_BLOCK = 256  # query rows per block of the causal emulation


def _softmax_pv(scores: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    if allowed is not None:
        scores.masked_fill_(~allowed, float("-inf"))
    top = scores.amax(dim=-1, keepdim=True).clamp_min_(torch.finfo(torch.float32).min)
    probs = scores.sub_(top).exp_()
    total = probs.sum(dim=-1, keepdim=True)
    return torch.matmul(probs.to(dtype).float(), v).div_(total)


def _leaves(args: tuple, kwargs: dict) -> list[Any]:
    found: list[Any] = []
    tree_map(found.append, (args, kwargs))
    return found


_DEPTH = [0]  # CudaAutocast modes entered: one is enough, nested regions only push their dtype


@contextlib.contextmanager
def cuda_autocast(dtype: torch.dtype | None = torch.bfloat16) -> Iterator[None]:
    """A region of CUDA's autocast policy (emulated); `dtype=None` is a region with autocast off."""
    _REGIONS.append(dtype)
    mode = CudaAutocast() if _DEPTH[0] == 0 else contextlib.nullcontext()
    _DEPTH[0] += 1
    try:
        with mode:
            yield
    finally:
        _DEPTH[0] -= 1
        _REGIONS.pop()


def resolve(precision: str, device: torch.device) -> str:
    """`auto` for golfkit's own model: bf16 on a GPU (as the trainers evaluate there), fp32 elsewhere."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def describe_precision(device: torch.device, precision: str) -> str:
    """How the report names the precision an evaluation ran in."""
    if precision == "fp32":
        return "fp32"
    return "bf16 autocast" if device.type == "cuda" else f"bf16 autocast (CUDA's policy, emulated on {device.type})"


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Where the model's forward runs: nothing for fp32; torch's CUDA autocast on a GPU; the emulation elsewhere."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return cuda_autocast(torch.bfloat16)


@contextlib.contextmanager
def scripts_cuda_autocast_emulated() -> Iterator[None]:
    """While on, a script's own `torch.autocast(device_type="cuda", ...)` regions (and torch.cuda.amp.autocast)
    run CUDA's policy through the emulation, enabled or disabled as the script asks; other device types
    keep torch's own autocast."""
    real = torch.autocast, torch.amp.autocast, torch.cuda.amp.autocast

    class autocast:  # torch's own name
        def __init__(self, device_type: str = "cuda", dtype: torch.dtype | None = None, enabled: bool = True,
                     cache_enabled: bool | None = None):
            self.args = (device_type, dtype, enabled, cache_enabled)
            self.entered: list[contextlib.AbstractContextManager] = []

        def __enter__(self) -> None:
            device_type, dtype, enabled, cache_enabled = self.args
            inner = (cuda_autocast((dtype or torch.float16) if enabled else None) if device_type == "cuda"
                     else real[0](device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled))
            self.entered.append(inner)
            inner.__enter__()

        def __exit__(self, *exc: object) -> None:
            self.entered.pop().__exit__(*exc)

        def __call__(self, fn: Callable) -> Callable:
            @functools.wraps(fn)
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                with autocast(*self.args):
                    return fn(*args, **kwargs)

            return wrapped

    def cuda_amp(enabled: bool = True, dtype: torch.dtype = torch.float16, cache_enabled: bool = True) -> autocast:
        return autocast("cuda", dtype=dtype, enabled=enabled)

    torch.autocast = torch.amp.autocast = autocast
    torch.cuda.amp.autocast = cuda_amp
    try:
        yield
    finally:
        torch.autocast, torch.amp.autocast, torch.cuda.amp.autocast = real
