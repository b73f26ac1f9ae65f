"""The probe on real records: what the child provides so that a record written for CUDA runs on CPU unchanged.

Three layers. The CPU stand-ins in this process: flash-attention (versions 3 and 2, dense and
variable-length) against a float64 reference, a minimal triton that lets kernels be defined but never
launched, and the finder that serves them only when the real module is missing. A small script shaped like
the later records (GPT(h), evaluators taking a ValidationData, DATA_DIR's layout, build_luts, CUDA
autocast, flash-attention and a Triton kernel), probed end to end. And every folder of the real-record
corpus, probed as `golfkit probe <folder> --trust-code` probes it (without the normalization sweep, for
time): the findings each one really earns, quiet elsewhere, and for the one that still cannot run on this
machine, `probe.not_run` naming what is missing.
"""

from __future__ import annotations

import importlib
import math
import sys
import types
from pathlib import Path

import pytest
import torch
from _corpus import CORPUS, corpus_params, corpus_present

from golfkit.probe import child
from golfkit.probe.probes import score_before_update
from golfkit.probe.report import summary_finding
from golfkit.probe.run import ProbeOptions, probe_record

# ----------------------------------------------------------------------------- flash-attention stand-ins


def reference(q, k, v, causal=False, window=(-1, -1), softcap=0.0, scale=None):
    """Flash-attention's function, written out in float64 one query at a time: q [B, Tq, H, D], k and v
    [B, Tk, Hk, D]; query i sees key j when j <= i + Tk - Tq (causal, bottom-right) and within the window;
    a query that sees no key gives 0. Returns the output and the log-sum-exp [B, H, Tq]."""
    B, Tq, H, D = q.shape
    Tk, Hk = k.shape[1], k.shape[2]
    scale = 1.0 / math.sqrt(D) if scale is None else scale
    out = torch.zeros(B, Tq, H, D, dtype=torch.float64)
    lse = torch.full((B, H, Tq), float("-inf"), dtype=torch.float64)
    left, right = window
    if causal:
        right = 0
    for b in range(B):
        for h in range(H):
            kh = h // (H // Hk)
            for i in range(Tq):
                diag = i + Tk - Tq
                keys = [j for j in range(Tk) if (right < 0 or j <= diag + right) and (left < 0 or j >= diag - left)]
                if not keys:
                    continue
                s = torch.stack([(q[b, i, h].double() * k[b, j, kh].double()).sum() * scale for j in keys])
                if softcap:
                    s = softcap * torch.tanh(s / softcap)
                lse[b, h, i] = torch.logsumexp(s, 0)
                p = torch.softmax(s, 0)
                out[b, i, h] = sum(p[n] * v[b, j, kh].double() for n, j in enumerate(keys))
    return out, lse


def qkv(b, tq, tk, h, hk, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, tq, h, d, generator=g), torch.randn(b, tk, hk, d, generator=g),
            torch.randn(b, tk, hk, d, generator=g))


FA3 = child.flash_attn_module(torch, "flash_attn_interface", 3)
FA2 = child.flash_attn_module(torch, "flash_attn", 2)

CASES = [  # (name, Tq, Tk, H, Hk, kwargs)
    ("causal", 12, 12, 4, 4, {"causal": True}),
    ("causal-gqa", 12, 12, 4, 1, {"causal": True}),
    ("full", 9, 9, 2, 2, {}),
    ("causal-fewer-queries", 5, 11, 2, 1, {"causal": True}),  # bottom-right: the last query sees every key
    ("causal-more-queries", 11, 5, 2, 2, {"causal": True}),  # the first six queries see no key: 0
    ("window", 12, 12, 2, 2, {"causal": True, "window_size": (3, 0)}),
    ("window-both-sides", 10, 10, 2, 2, {"window_size": (2, 1)}),
    ("softcap", 10, 10, 2, 2, {"causal": True, "softcap": 5.0}),
    ("scale", 8, 8, 2, 2, {"causal": True, "softmax_scale": 0.05}),
]


@pytest.mark.parametrize(("name", "tq", "tk", "h", "hk", "kwargs"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("module", [FA3, FA2], ids=["fa3", "fa2"])
def test_the_flash_attention_stand_in_computes_the_kernel_s_function(module, name, tq, tk, h, hk, kwargs):
    q, k, v = qkv(2, tq, tk, h, hk, 8)
    ref, ref_lse = reference(q, k, v, kwargs.get("causal", False), kwargs.get("window_size", (-1, -1)),
                             kwargs.get("softcap", 0.0), kwargs.get("softmax_scale"))
    out = module.flash_attn_func(q, k, v, **kwargs)
    assert out.dtype == q.dtype and out.shape == q.shape
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
    got = module.flash_attn_func(q, k, v, return_attn_probs=True, **kwargs)
    torch.testing.assert_close(got[0], out)
    torch.testing.assert_close(got[1].double(), ref_lse, rtol=1e-5, atol=1e-5)


def test_version_2_takes_dropout_before_the_scale_and_version_3_the_scale_first():
    q, k, v = qkv(1, 6, 6, 2, 2, 8)
    ref, _ = reference(q, k, v, causal=True, scale=0.1)
    torch.testing.assert_close(FA3.flash_attn_func(q, k, v, 0.1, True).double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(FA2.flash_attn_func(q, k, v, 0.0, 0.1, True).double(), ref, rtol=1e-5, atol=1e-5)


def test_the_stand_in_returns_the_input_dtype_and_carries_gradients():
    q, k, v = (t.to(torch.bfloat16).requires_grad_() for t in qkv(1, 8, 8, 2, 1, 8))
    out = FA3.flash_attn_func(q, k, v, causal=True)
    assert out.dtype == torch.bfloat16
    out.float().square().sum().backward()
    assert all(t.grad is not None and torch.isfinite(t.grad.float()).all() for t in (q, k, v))


@pytest.mark.parametrize("module", [FA3, FA2], ids=["fa3", "fa2"])
def test_variable_length_attention_is_per_segment_and_leaves_other_rows_zero(module):
    # three documents packed in one row (6, 1 and 5 tokens), cu_seqlens padded with repeats of the total
    # as the records pad it to a bucket, and two trailing rows in no segment
    lengths, total = [6, 1, 5], 14
    q, k, v = (t[0] for t in qkv(1, total, total, 4, 2, 8, seed=3))
    cu = torch.tensor([0, 6, 7, 12, 12, 12], dtype=torch.int32)
    out, lse = module.flash_attn_varlen_func(q, k, v, cu, cu, max(lengths), max(lengths), causal=True,
                                             return_attn_probs=True)[:2]
    start = 0
    for n in lengths:
        ref, ref_lse = reference(q[None, start:start + n], k[None, start:start + n], v[None, start:start + n],
                                 causal=True)
        torch.testing.assert_close(out[start:start + n].double(), ref[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(lse[:, start:start + n].double(), ref_lse[0], rtol=1e-5, atol=1e-5)
        start += n
    assert torch.equal(out[12:], torch.zeros_like(out[12:]))
    plain = module.flash_attn_varlen_func(q, k, v, cu_seqlens_q=cu, cu_seqlens_k=cu, max_seqlen_q=6,
                                          max_seqlen_k=6, causal=True)
    torch.testing.assert_close(plain, out)


@pytest.mark.parametrize("window", [(-1, -1), (2, 0)])
def test_the_packed_path_equals_attending_each_segment_on_its_own(window):
    # the same segments for queries and keys take one block-diagonal attention; seqused_q (here the whole
    # segments) takes the per-segment loop: both compute the same function
    q, k, v = (t[0] for t in qkv(1, 14, 14, 4, 2, 8, seed=5))
    cu = torch.tensor([0, 6, 7, 12, 12], dtype=torch.int32)
    packed = child.varlen_reference(torch, q, k, v, cu, cu, None, None, None, True, window, 0.0, want_lse=True)
    looped = child.varlen_reference(torch, q, k, v, cu, cu, torch.tensor([6, 1, 5, 0]), None, None, True, window,
                                    0.0, want_lse=True)
    torch.testing.assert_close(packed[0], looped[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(packed[1], looped[1], rtol=1e-6, atol=1e-6)


def test_arguments_the_stand_in_does_not_compute_are_refused_not_ignored():
    q, k, v = qkv(1, 4, 4, 2, 2, 8)
    with pytest.raises(child.StandInUnsupported, match="alibi_slopes"):
        FA2.flash_attn_func(q, k, v, alibi_slopes=torch.ones(2))
    with pytest.raises(child.StandInUnsupported, match="q_descale"):
        FA3.flash_attn_func(q, k, v, q_descale=torch.ones(1))
    assert not hasattr(FA3, "flash_attn_with_kvcache")  # a function it lacks: the record's import fails, named


# ----------------------------------------------------------------------------- triton, and the finder

KERNEL_MODULE = '''
import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor


@triton.autotune(configs=[triton.Config({"BLOCK": 128}, num_warps=4)], key=["n"])
@triton.jit
def add_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr, DTYPE: tl.constexpr = tl.float32):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    tl.store(y_ptr + offs, tl.load(x_ptr + offs) + 1, mask=offs < n)


def add_one(x, use_triton):
    if use_triton and x.is_cuda:
        y = torch.empty_like(x)
        add_kernel[(triton.cdiv(x.numel(), 128),)](x, y, x.numel())
        return y
    return x + 1


def launch(x):
    add_kernel[(1,)](x, x, x.numel())


def descriptor(x):
    return TensorDescriptor.from_tensor(x, [16, 16])
'''


@pytest.fixture
def stand_in_finder():
    """The child's finder installed last on sys.meta_path, as in the child; removed afterwards with every
    module it served."""
    finder = child.StandInFinder(torch)
    before = set(sys.modules)
    sys.meta_path.append(finder)
    child.STAND_INS_USED.clear()
    try:
        yield finder
    finally:
        sys.meta_path.remove(finder)
        for name in set(sys.modules) - before:
            del sys.modules[name]
        child.STAND_INS_USED.clear()


def load_module(tmp_path: Path, name: str, source: str) -> types.ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(importlib.util.find_spec("triton") is not None, reason="a real triton is installed here")
def test_a_module_with_triton_kernels_imports_and_never_launches_one(tmp_path, stand_in_finder):
    module = load_module(tmp_path, "kernels", KERNEL_MODULE)
    assert child.STAND_INS_USED == ["triton"]
    x = torch.arange(4.0)
    assert torch.equal(module.add_one(x, use_triton=True), x + 1)  # on CPU the script takes its torch path
    with pytest.raises(RuntimeError, match="Triton kernel add_kernel was launched"):
        module.launch(x)
    with pytest.raises(RuntimeError, match="cannot run on the probe's CPU"):
        module.descriptor(x)


@pytest.mark.skipif(importlib.util.find_spec("flash_attn_interface") is not None,
                    reason="a real flash_attn_interface is installed here")
def test_the_stand_in_is_served_only_when_the_real_module_is_missing(tmp_path, stand_in_finder):
    import flash_attn_interface

    assert flash_attn_interface.__file__.startswith("<golfkit stand-in")
    assert child.STAND_INS_USED == ["flash_attn_interface"]
    del sys.modules["flash_attn_interface"]
    child.STAND_INS_USED.clear()
    (tmp_path / "flash_attn_interface.py").write_text("def flash_attn_func(*a, **k):\n    return 'own'\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import flash_attn_interface as own
    finally:
        sys.path.remove(str(tmp_path))
    assert own.flash_attn_func() == "own" and child.STAND_INS_USED == []


# ----------------------------------------------------------------------------- a script like the later records

# The shape of the 2026-04 records, in small: DATA_DIR's layout, GPT(h), a ValidationData the evaluators
# take, a table builder named build_luts, flash-attention 3 (dense, and variable-length per document), a
# Triton kernel used only on CUDA in training, a bfloat16 weight that needs CUDA's autocast.
LATER = '''
import glob
import math
import os

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
from torch import nn
from flash_attn_interface import flash_attn_func, flash_attn_varlen_func
import triton
import triton.language as tl

BOS_ID = 1


class Hyperparameters:
    data_dir = os.environ.get("DATA_DIR", "./data/")
    vocab_size = int(os.environ.get("VOCAB_SIZE", 8192))
    model_dim = int(os.environ.get("MODEL_DIM", 512))
    embedding_dim = int(os.environ.get("EMBEDDING_DIM", 512))
    num_heads = int(os.environ.get("NUM_HEADS", 8))
    num_kv_heads = int(os.environ.get("NUM_KV_HEADS", 4))
    eval_seq_len = int(os.environ.get("EVAL_SEQ_LEN", 2048))
    eval_stride = int(os.environ.get("EVAL_STRIDE", 64))
    val_batch_tokens = int(os.environ.get("VAL_BATCH_TOKENS", 524288))
    datasets_dir = os.path.join(data_dir, "datasets", f"fineweb10B_sp{vocab_size}")
    val_files = os.path.join(datasets_dir, "fineweb_val_*.bin")
    tokenizer_path = os.path.join(data_dir, "tokenizers", f"fineweb_{vocab_size}_bpe.model")


@triton.jit
def relu_square_kernel(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n)
    tl.store(x_ptr + offs, tl.where(x > 0, x * x, 0.0), mask=offs < n)


def build_luts(sp, vocab_size, device):
    base = np.zeros(vocab_size, np.int16)
    space = np.zeros(vocab_size, bool)
    boundary = np.ones(vocab_size, bool)
    for i in range(sp.vocab_size()):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            continue
        boundary[i] = False
        if sp.is_byte(i):
            base[i] = 1
            continue
        piece = sp.id_to_piece(i)
        if piece.startswith("\\u2581"):
            space[i] = True
            piece = piece[1:]
        base[i] = len(piece.encode())
    return (torch.tensor(base, device=device), torch.tensor(space, device=device),
            torch.tensor(boundary, device=device))


def load_validation_tokens(pattern, seq_len):
    tokens = np.concatenate([np.fromfile(f, dtype="<u2", offset=1024) for f in sorted(glob.glob(pattern))])
    usable = (len(tokens) - 1) // seq_len * seq_len
    return torch.from_numpy(tokens[: usable + 1].astype(np.int64))


class ValidationData:
    def __init__(self, h, device):
        self.sp = spm.SentencePieceProcessor(model_file=h.tokenizer_path)
        assert int(self.sp.vocab_size()) == h.vocab_size
        self.val_tokens = load_validation_tokens(h.val_files, h.eval_seq_len)
        self.base_bytes_lut, self.has_leading_space_lut, self.is_boundary_token_lut = build_luts(
            self.sp, h.vocab_size, device)


class BinaryLinear(nn.Linear):
    def forward(self, x):
        return F.linear(x, self.weight.bfloat16())  # a float32 x meets a bfloat16 weight: CUDA autocast


class GPT(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.h = h
        self.tok_emb = nn.Embedding(h.vocab_size, h.embedding_dim)
        self.qkv = nn.Linear(h.model_dim, h.model_dim + 2 * h.num_kv_heads * (h.model_dim // h.num_heads), bias=False)
        self.proj = BinaryLinear(h.model_dim, h.model_dim, bias=False)
        self.head = nn.Linear(h.model_dim, h.vocab_size, bias=False)

    def mlp(self, x):
        if self.training and x.is_cuda:
            relu_square_kernel[(1,)](x, x.numel(), BLOCK=1024)
            return x
        return F.relu(x).square()

    def forward_logits(self, idx, cu_seqlens=None, max_seqlen=0):
        h = self.h
        d = h.model_dim // h.num_heads
        x = self.tok_emb(idx)
        q, k, v = self.qkv(x).split([h.model_dim, h.num_kv_heads * d, h.num_kv_heads * d], dim=-1)
        B, T = idx.shape
        q, k, v = q.reshape(B, T, h.num_heads, d), k.reshape(B, T, -1, d), v.reshape(B, T, -1, d)
        if cu_seqlens is not None:
            y = flash_attn_varlen_func(q[0], k[0], v[0], cu_seqlens_q=cu_seqlens, cu_seqlens_k=cu_seqlens,
                                       max_seqlen_q=max_seqlen, max_seqlen_k=max_seqlen, causal=True)[None]
        else:
            y = flash_attn_func(q, k, v, causal=True)
        x = x + self.proj(y.reshape(B, T, -1)).float()
        x = x + self.mlp(x)
        return self.head(x).float()


def _score(h, val_data, model, logits, x, y):
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1), reduction="none")
    tb = val_data.base_bytes_lut[y].double() + (val_data.has_leading_space_lut[y]
                                                 & ~val_data.is_boundary_token_lut[x]).double()
    return nll.double().sum(), float(y.numel()), tb.sum()


def _finish(loss_sum, count, nbytes):
    val_loss = float(loss_sum) / count
    return val_loss, val_loss / math.log(2.0) * count / float(nbytes)


def eval_val(h, device, val_data, model):
    """Whole sequences, dense causal attention across documents."""
    seq_len = h.eval_seq_len
    n = (val_data.val_tokens.numel() - 1) // seq_len
    model.eval()
    with torch.inference_mode():
        x = val_data.val_tokens[: n * seq_len].reshape(n, seq_len).to(device)
        y = val_data.val_tokens[1: n * seq_len + 1].reshape(n, seq_len).to(device)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            logits = model.forward_logits(x)
        got = _score(h, val_data, model, logits, x, y)
    model.train()
    return _finish(*got)


def eval_val_varlen(h, device, val_data, model):
    """The whole stream in one row, each document attended on its own (cu_seqlens at every BOS)."""
    tokens = val_data.val_tokens
    x, y = tokens[:-1], tokens[1:]
    starts = (x == BOS_ID).nonzero(as_tuple=True)[0].tolist()
    if not starts or starts[0] != 0:
        starts = [0] + starts
    cu = torch.tensor(starts + [x.numel()] * 3, dtype=torch.int32)
    model.eval()
    with torch.inference_mode():
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            logits = model.forward_logits(x[None], cu_seqlens=cu, max_seqlen=x.numel())
        got = _score(h, val_data, model, logits, x, y)
    model.train()
    return _finish(*got)
'''


def probe_source(folder: Path, source: str, **options):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_gpt.py").write_text(source)
    return probe_record(folder, ProbeOptions(timeout_s=180, sweep=False, **options))


@pytest.mark.slow
@pytest.mark.fires("probe.doc_isolation.leak")
@pytest.mark.quiet("probe.not_run", "probe.coverage.double_scored", "probe.coverage.skipped", "probe.bytes.mismatch",
                   "probe.causality.future_token", "probe.harness.unattributed", "probe.harness.unreconciled")
def test_a_script_shaped_like_the_later_records_is_probed_unchanged(tmp_path):
    report = probe_source(tmp_path / "later", LATER)
    assert {e.name for e in report.evaluators} == {"eval_val", "eval_val_varlen"}, \
        [f.message for f in report.findings]
    for ev in report.evaluators:
        assert ev.scores == 6 * 32 and ev.val_data == "ValidationData", (ev.name, ev.scores, ev.val_data)
        assert {ev.status[p] for p in ("coverage", "bytes", "causality", "single_pass")} == {"pass"}, ev.status
    # the dense evaluator attends across documents, which the script (it uses cu_seqlens) claims it does not;
    # the variable-length one keeps each document to itself, as flash_attn_varlen_func does on CUDA
    (leak,) = report.findings
    assert leak.id == "probe.doc_isolation.leak" and leak.evidence["evaluator"] == "eval_val"
    assert {e.name: e.status["doc_isolation"] for e in report.evaluators}["eval_val_varlen"] == "pass"
    summary = summary_finding(report)
    assert summary.evidence["stand_ins"] == ["autocast cuda->cpu (bfloat16)", "flash_attn_interface", "triton"]
    assert "CPU stand-ins: autocast cuda->cpu (bfloat16), flash_attn_interface, triton" in summary.message


@pytest.mark.slow
@pytest.mark.fires("probe.not_run")
def test_a_record_s_own_module_is_used_rather_than_the_stand_in(tmp_path):
    folder = tmp_path / "own"
    folder.mkdir()
    (folder / "flash_attn_interface.py").write_text(
        "def flash_attn_func(*a, **k):\n    raise RuntimeError('the record ships its own flash_attn_interface')\n\n"
        "flash_attn_varlen_func = flash_attn_func\n")
    report = probe_source(folder, LATER, only=("eval_val",))
    (finding,) = report.findings
    assert finding.id == "probe.not_run" and "the record ships its own flash_attn_interface" in finding.message
    (ev,) = report.evaluators
    assert "flash_attn_interface" not in ev.stand_ins and "triton" in ev.stand_ins


@pytest.mark.slow
@pytest.mark.fires("probe.not_run")
def test_a_script_that_needs_a_module_golfkit_cannot_stand_in_for_says_which(tmp_path):
    report = probe_source(tmp_path / "missing", "import apex_fused_layer_norm_cuda\n" + LATER)
    (finding,) = report.findings
    assert finding.id == "probe.not_run" and finding.evidence["stage"] == "import"
    assert finding.evidence["reason"] == "missing module apex_fused_layer_norm_cuda"
    assert "golfkit has no CPU stand-in for it" in finding.message


@pytest.mark.slow
@pytest.mark.fires("probe.not_run")
@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 parses f-strings that nest the same quotes")
def test_a_script_written_for_a_newer_python_says_so(tmp_path):
    report = probe_source(tmp_path / "py312", LATER + '\nNAME = f"{"nested"}"\n')
    (finding,) = report.findings
    assert finding.id == "probe.not_run" and finding.evidence["stage"] == "import"
    assert finding.evidence["reason"].startswith("needs Python 3.12")


# ----------------------------------------------------------------------------- C3 and documents side by side


@pytest.mark.fires("probe.score_before_update.trained_first")  # the control case below
def test_training_the_next_document_from_its_bos_is_not_training_on_the_previous_one_s_last_target():
    """2026-04-13's per-document test-time training runs documents side by side, chunk by chunk: it
    trains on the first chunk of the document that starts at BOS position 4 (inputs 4..7) before it scores
    the previous document's last target, which is that BOS (position 3 -> token 4)."""
    from golfkit.probe.probes import Run

    run = Run.from_json({"scores": [[p, 0, 1.0, 1, 0] for p in (0, 1, 2, 4, 5, 6)] + [[3, 0, 1.0, 4, 0]],
                         "train_uses": [[4, 7, 2]], "updates": [3], "unattributed": 0})
    where = {"file": "train_gpt.py", "line": 1}
    assert score_before_update("ev", run, where, frozenset({0, 4})) == []
    (finding,) = score_before_update("ev", run, where)  # the same token, not a document's BOS: trained first
    assert finding.evidence["positions"] == [[3, 3]]


# ----------------------------------------------------------------------------- the corpus

# Per corpus folder (its main script, as `golfkit probe <folder>` chooses it): the evaluators probed and,
# per evaluator, the findings it really earns, as {id: evidence that must match}. Any other finding fails.
SKIPPED_64 = {"probe.coverage.skipped": {"positions": [[128, 191]]}}  # eval_val drops its last partial batch
EXPECTED: dict[str, dict[str, dict]] = {
    "2026-03-17_NaiveBaseline": {"eval_val": {}},
    "2026-03-18_FP16Embed_WD3600": {"eval_val": {}},
    "2026-03-18_LowerLR": {"eval_val": {}},
    "2026-03-18_Quasi10Bfrom50B_SP1024_9x512_KV4_4h_pgut3": {"eval_val": {}},
    # its sliding window scores the last stride of every window, the first one included: the first L - S
    # targets are never scored
    "2026-03-19_MixedQuant_Int6Int8_SlidingWindow": {
        "eval_val": {}, "eval_val_sliding_window": {"probe.coverage.skipped": {"positions": [[0, 23]]}}},
    # its last windows all score the same tail: 8 targets 4 times each
    "2026-03-20_11L_XSA4_EMA_Int6_MLP3x_WD04_1.1271": {
        "eval_val": {},
        "eval_val_sliding": {"probe.coverage.double_scored": {"positions": [[184, 191]], "extra_scores": 24}}},
    # eval_val's loss is computed by hand (logsumexp in the model): nothing to observe; its sliding window
    # stops 8 targets short of the end
    "2026-03-24_106M_Binary_Asymmetric_UNet_FP8_15L_8192BPE_YaRN_NeoMuon_Smear": {
        "eval_val": {"probe.not_run": {"reason": "no_scores"}},
        "eval_val_sliding": {"probe.coverage.skipped": {"positions": [[184, 191]]}}},
    "2026-04-01_Vocab4096_MLPMult4_WD085": {"eval_val": {}, "eval_val_sliding": {}},
    "2026-04-05_SP8192_GPTQ-Embeddings_SDClip_Loop45x2": {"eval_val": {}, "eval_val_sliding": {}},
    # eval_val keeps whole batches only ("# TODO: Don't truncate this."); per-document test-time training
    # (its LoRA, phased, and the statistics variant) scores every chunk before training on it
    "2026-04-13_VarLenAttn_PhasingTTT2000": {
        "eval_val": SKIPPED_64, "eval_val_sliding": {}, "eval_val_ttt_lora": {}, "eval_val_ttt_lora_stats": {},
        "eval_val_ttt_phased": {}},
    "2026-04-18_PR1626_CaseOps_Taper": {
        "eval_val": SKIPPED_64, "eval_val_sliding": {}, "eval_val_ttt_phased": {}},
}
# Folders this machine cannot probe, and what the not_run finding must name.
NOT_RUN = {
    # its decoded program nests same-quote f-strings: Python 3.12 parses it, 3.11 does not
    "2026-04-08_SP8192_ParallelResid_ScoreFirstTTT": ("import", "needs Python 3.12"),
}
# What each folder's probe reports having provided: every record evaluates under CUDA autocast; flash-attention
# 3 from 2026-03-20 on; triton where kernels are defined.
AUTOCAST, FLASH3 = "autocast cuda->cpu (bfloat16)", "flash_attn_interface"
STAND_INS = {name: {AUTOCAST} for name in EXPECTED} | {
    name: {AUTOCAST, FLASH3} for name in EXPECTED if name >= "2026-03-20" and not name.startswith("2026-03-18_Q")
} | {name: {AUTOCAST, FLASH3, "triton"} for name in ("2026-04-13_VarLenAttn_PhasingTTT2000",
                                                     "2026-04-18_PR1626_CaseOps_Taper")}
ALL_IDS = ("probe.coverage.double_scored", "probe.coverage.skipped", "probe.coverage.wrong_target",
           "probe.bytes.mismatch", "probe.causality.future_token", "probe.score_before_update.trained_first",
           "probe.single_pass.rescored", "probe.doc_isolation.leak", "probe.harness.unattributed",
           "probe.harness.nondeterministic", "probe.harness.unreconciled", "probe.sandbox.timeout",
           "probe.sandbox.memory", "probe.sandbox.crashed", "probe.sandbox.network", "probe.not_run")


def corpus_folders() -> list[Path]:
    return sorted(p for p in CORPUS.glob("track_*/*") if p.is_dir())


@pytest.mark.skipif(not corpus_present(), reason="real-record corpus absent")
def test_every_corpus_folder_has_a_case():
    assert {p.name for p in corpus_folders()} == set(EXPECTED) | set(NOT_RUN)


def corpus_cases() -> list:
    cases = []
    for name in sorted(set(EXPECTED) | set(NOT_RUN)):
        earned = {i for found in EXPECTED.get(name, {}).values() for i in found} | ({"probe.not_run"} if name in NOT_RUN
                                                                                  else set())
        marks = [pytest.mark.slow, pytest.mark.quiet(*[i for i in ALL_IDS if i not in earned])]
        if earned:
            marks.append(pytest.mark.fires(*sorted(earned)))
        cases.append(pytest.param(name, marks=marks, id=name.split("_")[0] + "-" + name.split("_")[1]))
    return corpus_params(cases)


@pytest.mark.parametrize("name", corpus_cases())
def test_a_corpus_record_is_probed_as_it_is(corpus, name):
    (folder,) = [p for p in corpus_folders() if p.name == name]
    report = probe_record(folder, ProbeOptions(timeout_s=300, sweep=False))
    if name in NOT_RUN:
        stage, why = NOT_RUN[name]
        (finding,) = report.findings
        assert finding.id == "probe.not_run" and finding.evidence["stage"] == stage, finding.message
        assert why in finding.evidence["reason"] and why in finding.message, finding.evidence
        return
    expected = EXPECTED[name]
    assert {e.name for e in report.evaluators} == set(expected), [f.message for f in report.findings]
    got: dict[str, dict[str, dict]] = {e.name: {} for e in report.evaluators}
    for f in report.findings:
        got[f.evidence["evaluator"]][f.id] = f.evidence
    for ev, found in expected.items():
        assert set(got[ev]) == set(found), (ev, {i: e for i, e in got[ev].items() if i not in found})
        for ident, evidence in found.items():
            assert {k: got[ev][ident].get(k) for k in evidence} == evidence, (ev, ident, got[ev][ident])
    for ev in report.evaluators:  # what was scored, was scored and counted right
        if "probe.not_run" not in expected[ev.name]:
            assert ev.scores >= 128 and ev.status["bytes"] == "pass", (ev.name, ev.scores, ev.status)
    assert set(summary_finding(report).evidence["stand_ins"]) == STAND_INS[name]
