"""golfkit.eval.precision: CUDA's bf16 autocast policy, emulated on the CPU."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from golfkit.eval.precision import (
    cuda_autocast,
    describe_precision,
    flash_attention,
    resolve,
    scripts_cuda_autocast_emulated,
)

torch.manual_seed(0)
CPU = torch.device("cpu")


def test_the_policy_is_cudas_not_the_cpus():
    x, w = torch.randn(2, 8, 32), torch.randn(16, 32)
    with cuda_autocast():
        y = F.linear(x, w)
        assert y.dtype == torch.bfloat16 and (x @ w.t()).dtype == torch.bfloat16
        # CUDA's float32 list; torch's CPU autocast keeps all of these in bfloat16
        for out in (F.rms_norm(y, (16,)), y.softmax(-1), F.log_softmax(y, -1), y.sum(), y.pow(2), y.exp(),
                    torch.rsqrt(y.abs() + 1)):
            assert out.dtype == torch.float32
        assert y.sum(dtype=torch.bfloat16).dtype == torch.bfloat16  # a dtype the call names is kept
        assert y.mean().dtype == torch.bfloat16 and torch.tanh(y).dtype == torch.bfloat16  # not listed: as called
        assert torch.cat([y, y.float()], -1).dtype == torch.float32  # promoted to the widest
        with cuda_autocast(None):  # a region with autocast off
            assert F.linear(x, w).dtype == torch.float32
    assert F.linear(x, w).dtype == torch.float32  # nothing outside


def test_a_matrix_product_is_a_bf16_gemm_with_float32_accumulation():
    x, w = torch.randn(4, 64, 128), torch.randn(96, 128)
    with cuda_autocast():
        emulated = F.linear(x, w)
    assert torch.equal(emulated, F.linear(x.bfloat16().float(), w.bfloat16().float()).bfloat16())


def test_flash_attention_rounds_only_the_probabilities():
    q, k, v = (torch.randn(2, 4, 40, 16) for _ in range(3))
    exact = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(flash_attention(q, k, v, is_causal=True, dtype=torch.float32), exact, atol=1e-6)
    rounded = flash_attention(q, k, v, is_causal=True, dtype=torch.bfloat16)
    assert 0 < (rounded - exact).abs().max() < 2e-2
    kv = (torch.randn(2, 2, 40, 16), torch.randn(2, 2, 40, 16))
    grouped = F.scaled_dot_product_attention(q, *kv, is_causal=True, enable_gqa=True)
    assert torch.allclose(flash_attention(q, *kv, is_causal=True, dtype=torch.float32), grouped, atol=1e-6)


def test_a_scripts_own_cuda_autocast_regions_drive_the_emulation():
    x, w = torch.randn(3, 8), torch.randn(5, 8)
    real = torch.autocast
    with scripts_cuda_autocast_emulated():
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            assert F.linear(x, w).dtype == torch.bfloat16
            with torch.autocast(device_type="cuda", enabled=False):
                assert F.linear(x, w).dtype == torch.float32
            assert F.linear(x, w).dtype == torch.bfloat16
        with torch.cuda.amp.autocast(dtype=torch.bfloat16):
            assert F.linear(x, w).dtype == torch.bfloat16
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):  # another device: torch's own
            assert F.linear(x, w).dtype == torch.bfloat16

        @torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        def decorated():
            return F.linear(x, w)

        assert decorated().dtype == torch.bfloat16
        assert F.linear(x, w).dtype == torch.float32
    assert torch.autocast is real


def test_auto_and_the_names_in_reports():
    assert resolve("auto", CPU) == "fp32" and resolve("auto", torch.device("cuda", 0)) == "bf16"
    assert resolve("bf16", CPU) == "bf16"
    with pytest.raises(ValueError):
        resolve("fp16", CPU)
    assert describe_precision(CPU, "bf16") == "bf16 autocast (CUDA's policy, emulated on cpu)"
    assert describe_precision(torch.device("cuda", 0), "bf16") == "bf16 autocast"
