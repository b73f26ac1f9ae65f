"""golfkit reference trainer: the challenge's baseline GPT (family golfkit-gpt-v1), in one file.

Shaped like the challenge's baseline train_gpt.py (modded-nanogpt style): hyperparameters from
environment variables, Muon for the block matrices and Adam for the rest, a wall-clock cap with
LR warm-down, an int8 per-row artifact in golfkit's container v1, and the validation metrics of the
model rebuilt from that artifact as read back from disk. Runs on CPU (float32, gloo under torchrun)
and CUDA (bf16 autocast, nccl, optional torch.compile). Imports only torch, numpy, sentencepiece,
zstandard and the standard library: these bytes are what a submission counts.
"""

from __future__ import annotations

import copy
import glob
import importlib.util
import json
import math
import os
import platform
import random
import struct
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch
import torch.distributed as dist
import torch.nn.functional as F
import zstandard
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel as DDP


class InputError(Exception):
    """Bad input a person can fix: printed as one line, exit code 2."""


# -----------------------------
# HYPERPARAMETERS
# -----------------------------

def _env(name: str, default, cast=str):
    value = os.environ.get(name, default)
    try:
        return cast(value)
    except ValueError:
        raise InputError(f"{name}={value!r} is not a valid {cast.__name__}") from None


class Hyperparameters:
    """Every knob, read from the environment when constructed (names and defaults of the baseline)."""

    def __init__(self) -> None:
        self.data_path = _env("DATA_PATH", "./data/datasets/fineweb10B_sp1024")
        self.train_files = os.path.join(self.data_path, "fineweb_train_*.bin")
        self.val_files = os.path.join(self.data_path, "fineweb_val_*.bin")
        self.tokenizer_path = _env("TOKENIZER_PATH", "./data/tokenizers/fineweb_1024_bpe.model")
        self.run_id = _env("RUN_ID", str(uuid.uuid4()))
        self.seed = _env("SEED", 1337, int)

        self.val_batch_size = _env("VAL_BATCH_SIZE", 524_288, int)
        self.val_loss_every = _env("VAL_LOSS_EVERY", 1000, int)
        self.train_log_every = _env("TRAIN_LOG_EVERY", 200, int)
        self.eval_stride = _env("EVAL_STRIDE", 0, int)

        self.iterations = _env("ITERATIONS", 20000, int)
        self.warmdown_iters = _env("WARMDOWN_ITERS", 1200, int)
        self.warmup_steps = _env("WARMUP_STEPS", 20, int)
        self.train_batch_tokens = _env("TRAIN_BATCH_TOKENS", 524_288, int)
        self.train_seq_len = _env("TRAIN_SEQ_LEN", 1024, int)
        self.eval_seq_len = _env("EVAL_SEQ_LEN", self.train_seq_len, int)
        self.max_wallclock_seconds = _env("MAX_WALLCLOCK_SECONDS", 600.0, float)

        self.vocab_size = _env("VOCAB_SIZE", 1024, int)
        self.num_layers = _env("NUM_LAYERS", 9, int)
        self.model_dim = _env("MODEL_DIM", 512, int)
        self.num_heads = _env("NUM_HEADS", 8, int)
        self.num_kv_heads = _env("NUM_KV_HEADS", 4, int)
        self.mlp_mult = _env("MLP_MULT", 2, int)
        self.rope_base = _env("ROPE_BASE", 10000.0, float)
        self.logit_softcap = _env("LOGIT_SOFTCAP", 30.0, float)
        self.qk_gain_init = _env("QK_GAIN_INIT", 1.5, float)
        self.tied_embed_init_std = _env("TIED_EMBED_INIT_STD", 0.005, float)

        # Embeddings are always tied in golfkit-gpt-v1, so the tied LR is the one that applies.
        self.tied_embed_lr = _env("TIED_EMBED_LR", 0.05, float)
        self.matrix_lr = _env("MATRIX_LR", 0.04, float)
        self.scalar_lr = _env("SCALAR_LR", 0.04, float)
        self.muon_momentum = _env("MUON_MOMENTUM", 0.95, float)
        self.muon_backend_steps = _env("MUON_BACKEND_STEPS", 5, int)
        self.muon_momentum_warmup_start = _env("MUON_MOMENTUM_WARMUP_START", 0.85, float)
        self.muon_momentum_warmup_steps = _env("MUON_MOMENTUM_WARMUP_STEPS", 500, int)
        self.beta1 = _env("BETA1", 0.9, float)
        self.beta2 = _env("BETA2", 0.95, float)
        self.adam_eps = _env("ADAM_EPS", 1e-8, float)
        self.grad_clip_norm = _env("GRAD_CLIP_NORM", 0.0, float)

        self.compile = bool(_env("COMPILE", 1, int))
        self.quant_min_numel = _env("QUANT_MIN_NUMEL", 65_536, int)
        self.compressor = _env("COMPRESSOR", "zstd")
        # Evaluate this finished artifact instead of training (e.g. one `golfkit build` wrote); a version-2
        # artifact is read with the snippet `golfkit build --emit-loader` printed, saved as ARTIFACT_LOADER.
        self.eval_artifact = _env("EVAL_ARTIFACT", "")
        self.artifact_loader = _env("ARTIFACT_LOADER", "")
        if self.compressor not in ("zstd", "zlib"):
            raise InputError(f"COMPRESSOR={self.compressor!r}: use zstd or zlib")
        if self.model_dim % self.num_heads or self.num_heads % self.num_kv_heads:
            raise InputError(f"MODEL_DIM={self.model_dim} must divide by NUM_HEADS={self.num_heads}, "
                             f"and NUM_HEADS by NUM_KV_HEADS={self.num_kv_heads}")
        if not 0 <= self.eval_stride <= self.eval_seq_len:
            raise InputError(f"EVAL_STRIDE={self.eval_stride} must be in 0..EVAL_SEQ_LEN={self.eval_seq_len}")


# -----------------------------
# MUON OPTIMIZER
# -----------------------------

def zeropower_via_newtonschulz5(G: Tensor, steps: int = 10, eps: float = 1e-7) -> Tensor:
    """Orthogonalise G with the quintic Newton-Schulz iteration (bf16 on CUDA, float32 on CPU)."""
    a, b, c = (3.4445, -4.7750, 2.0315)
    X = G.bfloat16() if G.is_cuda else G.float()
    X = X / (X.norm() + eps)
    transposed = G.size(0) > G.size(1)
    if transposed:
        X = X.T
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * A @ A
        X = a * X + B @ X
    return X.T if transposed else X


class Muon(torch.optim.Optimizer):
    """Momentum, then Newton-Schulz orthogonalisation; each rank orthogonalises a share of the matrices."""

    def __init__(self, params, lr: float, momentum: float, backend_steps: int, nesterov: bool = True):
        super().__init__(params, dict(lr=lr, momentum=momentum, backend_steps=backend_steps, nesterov=nesterov))

    @torch.no_grad()
    def step(self):
        distributed = dist.is_available() and dist.is_initialized()
        world_size = dist.get_world_size() if distributed else 1
        rank = dist.get_rank() if distributed else 0
        for group in self.param_groups:
            params = group["params"]
            updates = torch.zeros(sum(p.numel() for p in params), device=params[0].device, dtype=torch.float32)
            curr = 0
            for i, p in enumerate(params):
                if i % world_size == rank and p.grad is not None:
                    g = p.grad
                    buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(g))
                    buf.mul_(group["momentum"]).add_(g)
                    if group["nesterov"]:
                        g = g.add(buf, alpha=group["momentum"])
                    g = zeropower_via_newtonschulz5(g, steps=group["backend_steps"])
                    g = g * max(1, g.size(0) / g.size(1)) ** 0.5
                    updates[curr : curr + p.numel()] = g.reshape(-1).float()
                curr += p.numel()
            if distributed:
                dist.all_reduce(updates, op=dist.ReduceOp.SUM)
            curr = 0
            for p in params:
                p.add_(updates[curr : curr + p.numel()].view_as(p).to(p.dtype), alpha=-group["lr"])
                curr += p.numel()


# -----------------------------
# TOKENIZER-AGNOSTIC EVALUATION (val_loss in nats per token, val_bpb in bits per byte)
# -----------------------------

def build_sentencepiece_luts(sp: spm.SentencePieceProcessor, vocab_size: int, device: torch.device):
    """Per token id: UTF-8 bytes of its piece without the leading "▁", whether it had one, and whether it is
    a boundary token (control, unknown, unused). Byte-fallback pieces count one byte."""
    table_size = max(int(sp.vocab_size()), vocab_size)
    base_bytes = np.zeros(table_size, dtype=np.int16)
    has_leading_space = np.zeros(table_size, dtype=np.bool_)
    is_boundary_token = np.ones(table_size, dtype=np.bool_)
    for token_id in range(int(sp.vocab_size())):
        if sp.is_control(token_id) or sp.is_unknown(token_id) or sp.is_unused(token_id):
            continue
        is_boundary_token[token_id] = False
        if sp.is_byte(token_id):
            base_bytes[token_id] = 1
            continue
        piece = sp.id_to_piece(token_id)
        if piece.startswith("\u2581"):
            has_leading_space[token_id] = True
            piece = piece[1:]
        base_bytes[token_id] = len(piece.encode("utf-8"))
    return (torch.tensor(base_bytes, dtype=torch.int16, device=device),
            torch.tensor(has_leading_space, dtype=torch.bool, device=device),
            torch.tensor(is_boundary_token, dtype=torch.bool, device=device))


def _autocast(device: torch.device):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def _score(model, x: Tensor, y: Tensor, scored: Tensor, luts) -> Tensor:
    """[loss sum, target count, byte sum] over the positions where `scored` is true, in float64."""
    base_bytes, has_leading_space, is_boundary = luts
    with _autocast(x.device):
        logits = model.forward_logits(x)
    logits, tgt, prev = logits[scored], y[scored], x[scored]
    loss = F.cross_entropy(logits.float(), tgt, reduction="none")
    nbytes = base_bytes[tgt].to(torch.float64) + (has_leading_space[tgt] & ~is_boundary[prev]).to(torch.float64)
    count = torch.full((), float(tgt.numel()), dtype=torch.float64, device=x.device)
    return torch.stack((loss.to(torch.float64).sum(), count, nbytes.sum()))


def _finish(sums: Tensor, model, was_training: bool) -> tuple[float, float]:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(sums, op=dist.ReduceOp.SUM)
    model.train(was_training)
    loss_sum, count, nbytes = (float(v) for v in sums.cpu())
    return loss_sum / count, loss_sum / math.log(2.0) / nbytes


def eval_val(args, model, rank, world_size, device, val_tokens,
             base_bytes_lut, has_leading_space_lut, is_boundary_token_lut) -> tuple[float, float]:
    """Standard evaluation: non-overlapping windows of TRAIN_SEQ_LEN, every target scored once."""
    seq_len = args.train_seq_len
    total_seqs = (val_tokens.numel() - 1) // seq_len
    first, last = total_seqs * rank // world_size, total_seqs * (rank + 1) // world_size
    batch_seqs = max(1, args.val_batch_size // (8 * seq_len))  # as the baseline: world_size * grad_accum = 8
    luts = (base_bytes_lut, has_leading_space_lut, is_boundary_token_lut)
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for s in range(first, last, batch_seqs):
            e = min(s + batch_seqs, last)
            local = val_tokens[s * seq_len : e * seq_len + 1].to(device=device, dtype=torch.int64)
            x, y = local[:-1].reshape(-1, seq_len), local[1:].reshape(-1, seq_len)
            sums += _score(model, x, y, torch.ones_like(x, dtype=torch.bool), luts)
    return _finish(sums, model, was_training)


def sliding_windows(num_targets: int, seq_len: int, stride: int) -> list[tuple[int, int, int]]:
    """(window start, first scored target, end) triples: targets [a, b) scored by inputs [start, b)."""
    ranges = [(0, min(seq_len, num_targets))]
    ranges += [(a, min(a + stride, num_targets)) for a in range(seq_len, num_targets, stride)]
    return [(max(0, b - seq_len), a, b) for a, b in ranges]


def eval_val_sliding(args, model, rank, world_size, device, val_tokens, base_bytes_lut,
                     has_leading_space_lut, is_boundary_token_lut, stride, seq_len) -> tuple[float, float]:
    """Sliding-window evaluation: windows of `seq_len` moving by `stride`, each scoring only its suffix
    of new targets, so that every target is scored exactly once with as much context as fits."""
    windows = sliding_windows(val_tokens.numel() - 1, seq_len, stride)
    mine = windows[len(windows) * rank // world_size : len(windows) * (rank + 1) // world_size]
    batch_seqs = max(1, args.val_batch_size // (8 * seq_len))
    luts = (base_bytes_lut, has_leading_space_lut, is_boundary_token_lut)
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        i = 0
        while i < len(mine):
            width = mine[i][2] - mine[i][0]  # only the first window can be shorter than seq_len
            batch = [mine[i]]
            while i + len(batch) < len(mine) and len(batch) < batch_seqs and \
                    mine[i + len(batch)][2] - mine[i + len(batch)][0] == width:
                batch.append(mine[i + len(batch)])
            i += len(batch)
            x = torch.stack([val_tokens[s:b] for s, _, b in batch]).to(device=device, dtype=torch.int64)
            y = torch.stack([val_tokens[s + 1 : b + 1] for s, _, b in batch]).to(device=device, dtype=torch.int64)
            first_scored = torch.tensor([a - s for s, a, _ in batch], device=device)
            scored = torch.arange(width, device=device)[None, :] >= first_scored[:, None]
            sums += _score(model, x, y, scored, luts)
    return _finish(sums, model, was_training)


# -----------------------------
# DATA LOADING
# -----------------------------

SHARD_MAGIC, SHARD_VERSION, SHARD_HEADER_BYTES = 20240520, 1, 256 * 4


def load_data_shard(path: str, vocab_size: int) -> Tensor:
    """A shard's tokens, after checking magic, version, file size and token range."""
    try:
        size = os.path.getsize(path)
        header = np.fromfile(path, dtype="<i4", count=256)
    except OSError as exc:
        raise InputError(f"{path}: cannot read shard ({exc.strerror})") from None
    if header.size < 256:
        raise InputError(f"{path}: {size} bytes is shorter than the 1024-byte shard header; truncated?")
    if header[0] != SHARD_MAGIC or header[1] != SHARD_VERSION:
        raise InputError(f"{path}: magic {header[0]} version {header[1]}, expected {SHARD_MAGIC} version "
                         f"{SHARD_VERSION}; not a challenge token shard")
    count = int(header[2])
    if count < 0 or size != SHARD_HEADER_BYTES + 2 * count:
        raise InputError(f"{path}: header says {count} tokens ({SHARD_HEADER_BYTES + 2 * count} bytes) but the "
                         f"file has {size} bytes; truncated or corrupt, re-create it")
    tokens = np.fromfile(path, dtype="<u2", count=count, offset=SHARD_HEADER_BYTES)
    if tokens.size and int(tokens.max()) >= vocab_size:
        raise InputError(f"{path}: token id {int(tokens.max())} >= VOCAB_SIZE={vocab_size}; "
                         "shards and tokenizer do not match")
    return torch.from_numpy(tokens.astype(np.int32))


def shard_files(pattern: str) -> list[str]:
    files = sorted(glob.glob(pattern))
    if not files:
        raise InputError(f"no shards match {pattern}; set DATA_PATH to a folder holding fineweb_train_*.bin "
                         "and fineweb_val_*.bin (`golfkit data synth DIR` makes a synthetic one)")
    return files


def load_validation_tokens(pattern: str, seq_len: int, vocab_size: int) -> Tensor:
    """All validation shards concatenated, trimmed to a whole number of seq_len windows plus one token."""
    tokens = torch.cat([load_data_shard(f, vocab_size) for f in shard_files(pattern)])
    usable = ((tokens.numel() - 1) // seq_len) * seq_len
    if usable <= 0:
        raise InputError(f"{pattern}: {tokens.numel()} validation tokens, fewer than TRAIN_SEQ_LEN+1={seq_len + 1}")
    return tokens[: usable + 1]


class TokenStream:
    """Reads the train shards in order, wrapping around at the end."""

    def __init__(self, pattern: str, vocab_size: int):
        self.files, self.vocab_size = shard_files(pattern), vocab_size
        self.file_idx, self.pos = 0, 0
        self.tokens = load_data_shard(self.files[0], vocab_size)

    def take(self, n: int) -> Tensor:
        chunks = []
        while n > 0:
            if self.pos >= self.tokens.numel():
                self.file_idx = (self.file_idx + 1) % len(self.files)
                self.tokens, self.pos = load_data_shard(self.files[self.file_idx], self.vocab_size), 0
                continue
            k = min(n, self.tokens.numel() - self.pos)
            chunks.append(self.tokens[self.pos : self.pos + k])
            self.pos, n = self.pos + k, n - k
        return torch.cat(chunks)


class DistributedTokenLoader:
    """Each micro-step takes one contiguous chunk per rank from the shared stream, so that any world size
    sees the same tokens per optimizer step."""

    def __init__(self, pattern: str, rank: int, world_size: int, device: torch.device, vocab_size: int):
        self.rank, self.world_size, self.device = rank, world_size, device
        self.stream = TokenStream(pattern, vocab_size)

    def next_batch(self, global_tokens: int, seq_len: int, grad_accum_steps: int) -> tuple[Tensor, Tensor]:
        span = global_tokens // (self.world_size * grad_accum_steps) + 1
        chunk = self.stream.take(span * self.world_size)
        local = chunk[self.rank * span : (self.rank + 1) * span].to(torch.int64)
        x, y = local[:-1].reshape(-1, seq_len), local[1:].reshape(-1, seq_len)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


# -----------------------------
# MODEL (docs/reference-model.md)
# -----------------------------

CONTROL_PATTERNS = ("attn_scale", "mlp_scale", "resid_mix", "q_gain", "skip_weight")


def rms(x: Tensor) -> Tensor:
    return F.rms_norm(x, (x.size(-1),))


def apply_rotary_emb(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos), dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, num_kv_heads: int, rope_base: float, qk_gain_init: float):
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, dim // num_heads
        kv_dim = num_kv_heads * self.head_dim
        self.c_q = nn.Linear(dim, dim, bias=False)
        self.c_k = nn.Linear(dim, kv_dim, bias=False)
        self.c_v = nn.Linear(dim, kv_dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.proj._zero_init = True
        self.q_gain = nn.Parameter(torch.full((num_heads,), qk_gain_init, dtype=torch.float32))
        inv_freq = 1.0 / (rope_base ** (torch.arange(0, self.head_dim, 2, dtype=torch.float32) / self.head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        bsz, seqlen, dim = x.shape
        q = self.c_q(x).reshape(bsz, seqlen, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.c_k(x).reshape(bsz, seqlen, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.c_v(x).reshape(bsz, seqlen, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = rms(q), rms(k)
        freqs = torch.outer(torch.arange(seqlen, device=x.device, dtype=torch.float32), self.inv_freq)
        cos, sin = freqs.cos().to(q.dtype)[None, None], freqs.sin().to(q.dtype)[None, None]
        q, k = apply_rotary_emb(q, cos, sin), apply_rotary_emb(k, cos, sin)
        q = q * self.q_gain.to(q.dtype)[None, :, None, None]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           enable_gqa=self.num_kv_heads != self.num_heads)
        return self.proj(y.transpose(1, 2).reshape(bsz, seqlen, dim))


class MLP(nn.Module):
    def __init__(self, dim: int, mlp_mult: int):
        super().__init__()
        self.fc = nn.Linear(dim, mlp_mult * dim, bias=False)
        self.proj = nn.Linear(mlp_mult * dim, dim, bias=False)
        self.proj._zero_init = True

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(torch.relu(self.fc(x)).square())


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, num_kv_heads: int, mlp_mult: int, rope_base: float,
                 qk_gain_init: float):
        super().__init__()
        self.attn = CausalSelfAttention(dim, num_heads, num_kv_heads, rope_base, qk_gain_init)
        self.mlp = MLP(dim, mlp_mult)
        self.attn_scale = nn.Parameter(torch.ones(dim))
        self.mlp_scale = nn.Parameter(torch.ones(dim))
        self.resid_mix = nn.Parameter(torch.stack((torch.ones(dim), torch.zeros(dim))))

    def forward(self, x: Tensor, x0: Tensor) -> Tensor:
        mix = self.resid_mix.to(x.dtype)
        x = mix[0] * x + mix[1] * x0
        x = x + self.attn_scale.to(x.dtype) * self.attn(rms(x))
        return x + self.mlp_scale.to(x.dtype) * self.mlp(rms(x))


class GPT(nn.Module):
    """U-Net-shaped GPT with tied embeddings and a tanh logit soft-cap (golfkit-gpt-v1)."""

    def __init__(self, vocab_size: int, num_layers: int, model_dim: int, num_heads: int, num_kv_heads: int,
                 mlp_mult: int, rope_base: float = 10000.0, logit_softcap: float = 30.0,
                 qk_gain_init: float = 1.5, tied_embed_init_std: float = 0.005):
        super().__init__()
        self.logit_softcap = logit_softcap
        self.tok_emb = nn.Embedding(vocab_size, model_dim)
        self.num_encoder_layers = num_layers // 2
        self.num_decoder_layers = num_layers - self.num_encoder_layers
        n_skip = min(self.num_encoder_layers, self.num_decoder_layers)
        self.skip_weights = nn.Parameter(torch.ones(n_skip, model_dim))
        self.blocks = nn.ModuleList(Block(model_dim, num_heads, num_kv_heads, mlp_mult, rope_base, qk_gain_init)
                                    for _ in range(num_layers))
        nn.init.normal_(self.tok_emb.weight, mean=0.0, std=tied_embed_init_std)
        for module in self.modules():
            if getattr(module, "_zero_init", False):
                nn.init.zeros_(module.weight)

    def forward_logits(self, idx: Tensor) -> Tensor:
        x = rms(self.tok_emb(idx))
        x0, skips = x, []
        for i in range(self.num_encoder_layers):
            x = self.blocks[i](x, x0)
            skips.append(x)
        for i in range(self.num_decoder_layers):
            if skips:
                x = x + self.skip_weights[i].to(x.dtype) * skips.pop()
            x = self.blocks[self.num_encoder_layers + i](x, x0)
        logits = F.linear(rms(x), self.tok_emb.weight.to(x.dtype))
        return self.logit_softcap * torch.tanh(logits / self.logit_softcap)

    def forward(self, idx: Tensor, targets: Tensor) -> Tensor:
        logits = self.forward_logits(idx)
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1))


# -----------------------------
# ARTIFACT: golfkit container v1 (int8 per row), compressed whole with zstd or zlib
# -----------------------------

CLIP_PERCENTILE = 99.99984
ARTIFACT_DTYPES = {"float32": np.float32, "float16": np.float16, "int8": np.int8, "uint8": np.uint8,
                   "int16": np.int16, "int32": np.int32, "int64": np.int64, "bfloat16": np.int16}
MAX_ARTIFACT_BYTES = 1 << 30


def _dtype_name(t: Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def quantize_state(state: dict[str, Tensor], min_numel: int) -> list[tuple[str, Tensor, str, dict[str, Tensor]]]:
    """golfkit's v1 policy: 2-D float tensors above min_numel -> int8 per row (clip at the 99.99984th
    percentile of |w|, fp16 scale = clip/127); control tensors kept fp32; other floats fp16."""
    out = []
    for name, t in state.items():
        t = t.detach().cpu()
        if t.is_floating_point() and t.dim() == 2 and t.numel() > min_numel:
            w = t.float()
            clip = torch.quantile(w.abs(), CLIP_PERCENTILE / 100.0, dim=1)
            scale = (clip / 127.0).clamp_min(1e-12).to(torch.float16).float().clamp_min(torch.finfo(torch.float16).tiny)
            q = torch.clamp(torch.round(w / scale[:, None]), -127, 127).to(torch.int8)
            out.append((name, t, "int8_row", {"q": q, "scale": scale.to(torch.float16)}))
        elif t.is_floating_point():
            keep = torch.float32 if any(p in name for p in CONTROL_PATTERNS) else torch.float16
            out.append((name, t, "raw", {"data": t.to(keep).contiguous()}))
        else:
            out.append((name, t, "raw", {"data": t.contiguous()}))
    return out


def encode_artifact(state: dict[str, Tensor], meta: dict, min_numel: int) -> bytes:
    """Container bytes (uncompressed): b"GOLFKIT" + version 1 + uint32 header length + JSON header + data."""
    entries, chunks, offset = [], [], 0
    for name, t, scheme, parts in quantize_state(state, min_numel):
        described = {}
        for role, p in parts.items():
            raw = (p.view(torch.int16) if p.dtype == torch.bfloat16 else p).numpy()
            raw = raw.astype(raw.dtype.newbyteorder("<"), copy=False).tobytes()
            described[role] = {"dtype": _dtype_name(p), "shape": list(p.shape), "offset": offset, "nbytes": len(raw)}
            chunks.append(raw)
            offset += len(raw)
        entries.append({"name": name, "dtype": _dtype_name(t), "shape": list(t.shape), "scheme": scheme,
                        "parts": described})
    header = json.dumps({"meta": meta, "tensors": entries}, separators=(",", ":")).encode()
    return b"GOLFKIT" + bytes([1]) + struct.pack("<I", len(header)) + header + b"".join(chunks)


def compress_artifact(payload: bytes, compressor: str) -> bytes:
    if compressor == "zlib":
        return zlib.compress(payload, 9)
    params = zstandard.ZstdCompressionParameters.from_level(22, source_size=len(payload))
    return zstandard.ZstdCompressor(compression_params=params).compress(payload)


def read_artifact(blob: bytes, where: str = "artifact") -> tuple[dict, dict[str, Tensor]]:
    """(meta, float state dict) from a compressed container; decompression is bounded, offsets checked."""
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        reader, chunks, size = zstandard.ZstdDecompressor().stream_reader(blob), [], 0
        while size <= MAX_ARTIFACT_BYTES and (chunk := reader.read(1 << 24)):
            chunks.append(chunk)
            size += len(chunk)
        payload = b"".join(chunks)
    elif blob[:1] == b"\x78":
        d = zlib.decompressobj()
        payload = d.decompress(blob, MAX_ARTIFACT_BYTES + 1)
    else:
        raise InputError(f"{where}: not a zstd or zlib stream")
    if len(payload) > MAX_ARTIFACT_BYTES:
        raise InputError(f"{where}: decompresses to more than {MAX_ARTIFACT_BYTES} bytes; refusing")
    if payload[:8] != b"GOLFKIT\x01" or len(payload) < 12:
        raise InputError(f"{where}: not a golfkit container version 1")
    (hlen,) = struct.unpack("<I", payload[8:12])
    if 12 + hlen > len(payload):
        raise InputError(f"{where}: header runs past the end; truncated?")
    header, data = json.loads(payload[12 : 12 + hlen]), memoryview(payload)[12 + hlen :]
    state, expected = {}, 0
    for e in header["tensors"]:
        parts = {}
        for role, p in e["parts"].items():
            dtype = np.dtype(ARTIFACT_DTYPES[p["dtype"]]).newbyteorder("<")
            if p["offset"] != expected or p["nbytes"] != math.prod(p["shape"]) * dtype.itemsize \
                    or expected + p["nbytes"] > len(data):
                raise InputError(f"{where}: tensor {e['name']!r} part {role!r} is out of place or truncated")
            arr = np.frombuffer(data[expected : expected + p["nbytes"]], dtype=dtype).reshape(p["shape"])
            t = torch.from_numpy(arr.astype(dtype.newbyteorder("="), copy=True))
            parts[role] = t.view(torch.bfloat16) if p["dtype"] == "bfloat16" else t
            expected += p["nbytes"]
        target = getattr(torch, e["dtype"])
        if e["scheme"] == "int8_row":
            value = parts["q"].float() * parts["scale"].float()[:, None]
        else:
            value = parts["data"]
        state[e["name"]] = value.to(target).reshape(e["shape"])
    if expected != len(data):
        raise InputError(f"{where}: {len(data) - expected} stray bytes after the last tensor")
    return header.get("meta", {}), state


# -----------------------------
# TRAINING
# -----------------------------

def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        try:
            return subprocess.run(["nvidia-smi"], capture_output=True, text=True, check=False).stdout
        except OSError:
            return f"cuda: {torch.cuda.get_device_name(device)}"
    cpu = platform.processor() or platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"cpu: {cpu} cores:{os.cpu_count()} torch_threads:{torch.get_num_threads()}"


def load_artifact_state(path: str, loader: str = "") -> dict[str, Tensor]:
    """The artifact's dequantized state: container v1 by our reader, else by a loader snippet's load_artifact."""
    if not os.path.isfile(path):
        raise InputError(f"EVAL_ARTIFACT={path}: no such file")
    if not loader:
        return read_artifact(Path(path).read_bytes(), path)[1]
    spec = importlib.util.spec_from_file_location("artifact_loader", loader)
    if spec is None or not os.path.isfile(loader):
        raise InputError(f"ARTIFACT_LOADER={loader}: no such Python file (save `golfkit build --emit-loader` there)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_artifact(path)


def main() -> None:
    code = Path(__file__).read_bytes()  # bytes, not text: a minified latin-1 wrapper must work too
    args = Hyperparameters()
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size <= 0 or 8 % world_size:
        raise InputError(f"WORLD_SIZE={world_size} must divide 8 (grad_accum_steps = 8 // world_size)")
    grad_accum_steps = 8 // world_size
    if args.train_batch_tokens % (8 * args.train_seq_len):
        raise InputError(f"TRAIN_BATCH_TOKENS={args.train_batch_tokens} must be a multiple of "
                         f"8 * TRAIN_SEQ_LEN={8 * args.train_seq_len}")
    device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if distributed:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    master = rank == 0

    logfile = None
    if master:
        os.makedirs("logs", exist_ok=True)
        logfile = f"logs/{args.run_id}.txt"
        # The script's own bytes, verbatim, then a newline (as the baseline's print(code) writes it).
        with open(logfile, "wb") as f:
            f.write(code + b"\n")

    def log0(msg: str, console: bool = True) -> None:
        if not master:
            return
        if console:
            print(msg, flush=True)
        with open(logfile, "a", encoding="utf-8") as f:
            print(msg, file=f)

    log0("=" * 100, console=False)
    log0(f"Running Python {sys.version}", console=False)
    log0(f"Running PyTorch {torch.__version__}", console=False)
    log0(device_description(device), console=False)
    log0("=" * 100, console=False)

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    try:
        sp = spm.SentencePieceProcessor(model_file=args.tokenizer_path)
    except (OSError, RuntimeError) as exc:
        raise InputError(f"TOKENIZER_PATH={args.tokenizer_path}: not a readable SentencePiece model "
                         f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if int(sp.vocab_size()) != args.vocab_size:
        raise InputError(f"TOKENIZER_PATH={args.tokenizer_path} has {sp.vocab_size()} pieces but "
                         f"VOCAB_SIZE={args.vocab_size}; they must match")
    val_tokens = load_validation_tokens(args.val_files, args.train_seq_len, args.vocab_size)
    luts = build_sentencepiece_luts(sp, args.vocab_size, device)
    train_loader = DistributedTokenLoader(args.train_files, rank, world_size, device, args.vocab_size)

    model_config = dict(vocab_size=args.vocab_size, num_layers=args.num_layers, model_dim=args.model_dim,
                        num_heads=args.num_heads, num_kv_heads=args.num_kv_heads, mlp_mult=args.mlp_mult,
                        rope_base=args.rope_base, logit_softcap=args.logit_softcap)
    base_model = GPT(**model_config, qk_gain_init=args.qk_gain_init,
                     tied_embed_init_std=args.tied_embed_init_std).to(device)
    compiled = torch.compile(base_model, dynamic=False) if args.compile and device.type == "cuda" else base_model
    model = DDP(compiled, device_ids=[local_rank] if device.type == "cuda" else None) if distributed else compiled

    block_params = list(base_model.blocks.named_parameters())
    matrix_params = [p for n, p in block_params if p.ndim == 2 and not any(c in n for c in CONTROL_PATTERNS)]
    scalar_params = [p for n, p in block_params if p.ndim < 2 or any(c in n for c in CONTROL_PATTERNS)]
    scalar_params.append(base_model.skip_weights)
    adam = dict(betas=(args.beta1, args.beta2), eps=args.adam_eps, fused=device.type == "cuda")
    optimizers = [
        torch.optim.Adam([dict(params=[base_model.tok_emb.weight], lr=args.tied_embed_lr,
                               base_lr=args.tied_embed_lr)], **adam),
        Muon(matrix_params, lr=args.matrix_lr, momentum=args.muon_momentum, backend_steps=args.muon_backend_steps),
        torch.optim.Adam([dict(params=scalar_params, lr=args.scalar_lr, base_lr=args.scalar_lr)], **adam),
    ]
    for group in optimizers[1].param_groups:
        group["base_lr"] = args.matrix_lr

    log0(f"val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path={args.tokenizer_path}")
    log0(f"train_loader:dataset:{os.path.basename(os.path.normpath(args.data_path))} "
         f"train_shards:{len(train_loader.stream.files)}")
    log0(f"val_loader:shards pattern={args.val_files} tokens:{val_tokens.numel() - 1}")
    log0(f"model_params:{sum(p.numel() for p in base_model.parameters())}")
    log0(f"world_size:{world_size} grad_accum_steps:{grad_accum_steps}")
    log0(f"device:{device.type} autocast:{'bfloat16' if device.type == 'cuda' else 'off'} "
         f"compile:{compiled is not base_model}")
    log0(f"attention_mode:{'gqa' if args.num_kv_heads != args.num_heads else 'mha'} "
         f"num_heads:{args.num_heads} num_kv_heads:{args.num_kv_heads}")
    log0(f"model:gpt num_layers:{args.num_layers} model_dim:{args.model_dim} mlp_mult:{args.mlp_mult} "
         f"vocab_size:{args.vocab_size} rope_base:{args.rope_base} logit_softcap:{args.logit_softcap} "
         f"qk_gain_init:{args.qk_gain_init}")
    log0(f"tie_embeddings:True embed_lr:{args.tied_embed_lr} head_lr:0.0 matrix_lr:{args.matrix_lr} "
         f"scalar_lr:{args.scalar_lr}")
    log0(f"muon_momentum:{args.muon_momentum} muon_backend_steps:{args.muon_backend_steps} "
         f"beta1:{args.beta1} beta2:{args.beta2} adam_eps:{args.adam_eps} grad_clip_norm:{args.grad_clip_norm}")
    log0(f"train_batch_tokens:{args.train_batch_tokens} train_seq_len:{args.train_seq_len} "
         f"iterations:{args.iterations} warmup_steps:{args.warmup_steps} "
         f"max_wallclock_seconds:{args.max_wallclock_seconds:.3f}")
    log0(f"warmdown_iters:{args.warmdown_iters} eval_seq_len:{args.eval_seq_len} eval_stride:{args.eval_stride} "
         f"val_batch_size:{args.val_batch_size} quant_min_numel:{args.quant_min_numel} "
         f"compressor:{args.compressor}")
    log0(f"seed:{args.seed}")

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def final_evaluation(artifact_path: str, name: str, loader: str = "") -> None:
        """Rebuild the model from the artifact as read back from disk and log the final metrics."""
        sync()
        t_eval = time.perf_counter()
        base_model.load_state_dict(load_artifact_state(artifact_path, loader), strict=True)
        val_loss, val_bpb = eval_val(args, base_model, rank, world_size, device, val_tokens, *luts)
        sync()
        log0(f"{name} val_loss:{val_loss:.4f} val_bpb:{val_bpb:.4f} eval_time:{1000.0 * (time.perf_counter() - t_eval):.0f}ms")
        log0(f"{name}_exact val_loss:{val_loss:.8f} val_bpb:{val_bpb:.8f}")
        if args.eval_stride > 0:
            t_slide = time.perf_counter()
            val_loss, val_bpb = eval_val_sliding(args, base_model, rank, world_size, device, val_tokens, *luts,
                                                 stride=args.eval_stride, seq_len=args.eval_seq_len)
            sync()
            log0(f"final_sliding_window val_loss:{val_loss:.4f} val_bpb:{val_bpb:.4f} stride:{args.eval_stride} "
                 f"seq_len:{args.eval_seq_len} eval_time:{1000.0 * (time.perf_counter() - t_slide):.0f}ms")
            log0(f"final_sliding_window_exact val_loss:{val_loss:.8f} val_bpb:{val_bpb:.8f}")
        log0(f"total_eval_time:{time.perf_counter() - t_eval:.1f}s")

    if args.eval_artifact:
        size = os.path.getsize(args.eval_artifact) if os.path.isfile(args.eval_artifact) else 0
        loader_bytes = os.path.getsize(args.artifact_loader) if os.path.isfile(args.artifact_loader) else 0
        log0(f"Serialized model artifact: {size} bytes")
        log0(f"Code size: {len(code) + loader_bytes} bytes")
        log0(f"Total submission size artifact: {size + len(code) + loader_bytes} bytes")
        final_evaluation(args.eval_artifact, "final_artifact_roundtrip", args.artifact_loader)
        if distributed:
            dist.destroy_process_group()
        return

    def zero_grad_all() -> None:
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)

    def train_step(step: int, lr_scale: float) -> Tensor:
        zero_grad_all()
        train_loss = torch.zeros((), device=device)
        for micro_step in range(grad_accum_steps):
            if distributed:
                model.require_backward_grad_sync = micro_step == grad_accum_steps - 1
            x, y = train_loader.next_batch(args.train_batch_tokens, args.train_seq_len, grad_accum_steps)
            with _autocast(device):
                loss = model(x, y)
            train_loss += loss.detach()
            (loss / grad_accum_steps).backward()
        frac = min(step / args.muon_momentum_warmup_steps, 1.0) if args.muon_momentum_warmup_steps > 0 else 1.0
        for group in optimizers[1].param_groups:
            group["momentum"] = (1 - frac) * args.muon_momentum_warmup_start + frac * args.muon_momentum
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * lr_scale
        if args.grad_clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(base_model.parameters(), args.grad_clip_norm)
        for opt in optimizers:
            opt.step()
        zero_grad_all()
        if distributed:
            dist.all_reduce(train_loss, op=dist.ReduceOp.SUM)
        return train_loss / 8

    max_wallclock_ms = 1000.0 * args.max_wallclock_seconds if args.max_wallclock_seconds > 0 else None

    def lr_mul(step: int, elapsed_ms: float) -> float:
        """Linear warm-down over the last WARMDOWN_ITERS steps, estimated from step time under a cap."""
        if args.warmdown_iters <= 0:
            return 1.0
        if max_wallclock_ms is None:
            start = max(args.iterations - args.warmdown_iters, 0)
            return max((args.iterations - step) / max(args.warmdown_iters, 1), 0.0) if step >= start else 1.0
        warmdown_ms = args.warmdown_iters * elapsed_ms / max(step, 1)
        remaining_ms = max(max_wallclock_ms - elapsed_ms, 0.0)
        return remaining_ms / max(warmdown_ms, 1e-9) if remaining_ms <= warmdown_ms else 1.0

    # Warmup steps prime compilation and are not timed; the initial state is restored afterwards.
    if args.warmup_steps > 0:
        initial_model = {k: v.detach().clone() for k, v in base_model.state_dict().items()}
        initial_opts = [copy.deepcopy(opt.state_dict()) for opt in optimizers]
        for warmup_step in range(args.warmup_steps):
            train_step(0, 1.0)
            if args.warmup_steps <= 20 or (warmup_step + 1) % 10 == 0 or warmup_step + 1 == args.warmup_steps:
                log0(f"warmup_step:{warmup_step + 1}/{args.warmup_steps}")
        base_model.load_state_dict(initial_model, strict=True)
        for opt, state in zip(optimizers, initial_opts):
            opt.load_state_dict(state)
        train_loader = DistributedTokenLoader(args.train_files, rank, world_size, device, args.vocab_size)

    training_time_ms, stop_after_step, step = 0.0, None, 0
    sync()
    t0 = time.perf_counter()
    while True:
        last_step = step == args.iterations or (stop_after_step is not None and step >= stop_after_step)
        if last_step or (args.val_loss_every > 0 and step % args.val_loss_every == 0):
            sync()
            training_time_ms += 1000.0 * (time.perf_counter() - t0)
            val_loss, val_bpb = eval_val(args, base_model, rank, world_size, device, val_tokens, *luts)
            log0(f"step:{step}/{args.iterations} val_loss:{val_loss:.4f} val_bpb:{val_bpb:.4f} "
                 f"train_time:{training_time_ms:.0f}ms step_avg:{training_time_ms / max(step, 1):.2f}ms")
            sync()
            t0 = time.perf_counter()
        if last_step:
            if stop_after_step is not None and step < args.iterations:
                log0(f"stopping_early: wallclock_cap train_time:{training_time_ms:.0f}ms step:{step}/{args.iterations}")
            break
        elapsed_ms = training_time_ms + 1000.0 * (time.perf_counter() - t0)
        train_loss = train_step(step, lr_mul(step, elapsed_ms))
        step += 1
        approx_ms = training_time_ms + 1000.0 * (time.perf_counter() - t0)
        if args.train_log_every > 0 and (step <= 10 or step % args.train_log_every == 0 or stop_after_step is not None):
            log0(f"step:{step}/{args.iterations} train_loss:{train_loss.item():.4f} "
                 f"train_time:{approx_ms:.0f}ms step_avg:{approx_ms / step:.2f}ms")
        reached_cap = max_wallclock_ms is not None and approx_ms >= max_wallclock_ms
        if distributed and max_wallclock_ms is not None:
            flag = torch.tensor(int(reached_cap), device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            reached_cap = bool(flag.item())
        if stop_after_step is None and reached_cap:
            stop_after_step = step

    if device.type == "cuda":
        log0(f"peak memory allocated: {torch.cuda.max_memory_allocated() // 1024 // 1024} MiB "
             f"reserved: {torch.cuda.max_memory_reserved() // 1024 // 1024} MiB")

    # Serialize: the int8 artifact is what counts; the final metrics come from it as read back from disk.
    artifact_path = "final_model.int8.ptz"
    tag = f"int8+{args.compressor}"
    if master:
        state = {k: v.detach().cpu() for k, v in base_model.state_dict().items()}
        # The float checkpoint, for `golfkit build --checkpoint final_model.pt` (plain tensors, weights_only-safe).
        torch.save(state, "final_model.pt")
        raw_bytes = os.path.getsize("final_model.pt")
        log0(f"Serialized model: {raw_bytes} bytes")
        log0(f"Code size: {len(code)} bytes")
        log0(f"Total submission size: {raw_bytes + len(code)} bytes")
        meta = {"model": {"family": "golfkit-gpt-v1", **model_config, "tie_embeddings": True},
                "train_seq_len": args.train_seq_len, "seed": args.seed}
        payload = encode_artifact(state, meta, args.quant_min_numel)
        blob = compress_artifact(payload, args.compressor)
        Path(artifact_path).write_bytes(blob)
        log0(f"Serialized model {tag}: {len(blob)} bytes (payload:{len(payload)} raw:{raw_bytes} "
             f"payload_ratio:{raw_bytes / len(payload):.2f}x)")
        log0(f"Total submission size {tag}: {len(blob) + len(code)} bytes")
    if distributed:
        dist.barrier()

    final_evaluation(artifact_path, f"final_int8_{args.compressor}_roundtrip")
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    try:
        main()
    except InputError as exc:
        print(f"train_gpt.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
