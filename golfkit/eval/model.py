"""golfkit's own implementation of the reference family `golfkit-gpt-v1` (docs/reference-model.md).

Written from the contract, not from the trainer. The forward is split in two so that an evaluator
can send only the scored suffix of a window through the final norm, the tied head and the loss:
`hidden(idx)` returns the last block's output [B, T, D], `logits(h)` maps any slice of it to
soft-capped logits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from golfkit.errors import GolfkitError

FAMILY = "golfkit-gpt-v1"
REQUIRED = ("vocab_size", "num_layers", "model_dim", "num_heads", "num_kv_heads", "mlp_mult")


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    num_layers: int
    model_dim: int
    num_heads: int
    num_kv_heads: int
    mlp_mult: int
    rope_base: float = 10000.0
    logit_softcap: float = 30.0
    tie_embeddings: bool = True

    @property
    def head_dim(self) -> int:
        return self.model_dim // self.num_heads

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "model config") -> ModelConfig:
        """Validate a `meta.model` dict (extra keys such as `family` are ignored)."""
        if not isinstance(d, dict):
            raise GolfkitError(f"{where}: expected an object with the model config, got {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        family = d.get("family", FAMILY)
        if family != FAMILY:
            raise GolfkitError(f"{where}: family {family!r} is not {FAMILY!r}; use --trust-code to run the record's own model")
        missing = [n for n in REQUIRED if n not in d]
        if missing:
            raise GolfkitError(f"{where}: missing {', '.join(missing)}; pass them as flags (see golfkit eval --help)")
        try:
            cfg = cls(**{k: _number(k, d[k]) for k in names if k in d})
        except (TypeError, ValueError) as exc:
            raise GolfkitError(f"{where}: {exc}") from None
        cfg.validate(where)
        return cfg

    def parameter_count(self) -> int:
        """The parameters of GPT(self), from the sizes alone (nothing is built); `build_model` names it
        when it refuses a header whose model cannot be the artifact's tensors."""
        d, kv, hidden = self.model_dim, self.num_kv_heads * self.head_dim, self.mlp_mult * self.model_dim
        attn = 2 * d * d + 2 * d * kv + self.num_heads
        block = attn + 2 * d * hidden + 4 * d  # attn_scale, mlp_scale, resid_mix (2 x d)
        skips = min(self.num_layers // 2, self.num_layers - self.num_layers // 2) * d
        return self.vocab_size * d + self.num_layers * block + skips

    def validate(self, where: str = "model config") -> None:
        ints = (self.vocab_size, self.num_layers, self.model_dim, self.num_heads, self.num_kv_heads, self.mlp_mult)
        if min(ints) < 1:
            raise GolfkitError(f"{where}: sizes must be positive, got {asdict(self)}")
        if self.model_dim % self.num_heads or self.num_heads % self.num_kv_heads or self.head_dim % 2:
            raise GolfkitError(
                f"{where}: model_dim {self.model_dim} must split into num_heads {self.num_heads} heads of even size, "
                f"and num_heads into num_kv_heads {self.num_kv_heads} groups"
            )
        if not self.tie_embeddings:
            raise GolfkitError(f"{where}: {FAMILY} always ties the embeddings; use --trust-code for untied models")
        if self.logit_softcap <= 0 or self.rope_base <= 0:
            raise GolfkitError(f"{where}: logit_softcap and rope_base must be positive")


def _number(key: str, value: Any) -> Any:
    if key == "tie_embeddings":
        if not isinstance(value, bool):
            raise TypeError(f"tie_embeddings must be true or false, got {value!r}")
        return value
    if key in ("rope_base", "logit_softcap"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{key} must be a number, got {value!r}")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} must be an integer, got {value!r}")
    return value


def rms(x: torch.Tensor) -> torch.Tensor:
    return F.rms_norm(x, (x.size(-1),))


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, kv = cfg.model_dim, cfg.num_kv_heads * cfg.head_dim
        self.num_heads, self.num_kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.rope_base = cfg.rope_base
        self.c_q = nn.Linear(d, d, bias=False)
        self.c_k = nn.Linear(d, kv, bias=False)
        self.c_v = nn.Linear(d, kv, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.q_gain = nn.Parameter(torch.ones(cfg.num_heads))

    def rotary(self, t: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        hd = self.head_dim
        inv_freq = 1.0 / self.rope_base ** (torch.arange(0, hd, 2, dtype=torch.float32, device=device) / hd)
        f = torch.outer(torch.arange(t, dtype=torch.float32, device=device), inv_freq)
        return torch.cat((f.cos(), f.cos()), dim=-1), torch.cat((f.sin(), -f.sin()), dim=-1)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q = self.c_q(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.c_k(x).view(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.c_v(x).view(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = _rotate(rms(q), cos, sin), _rotate(rms(k), cos, sin)
        q = q * self.q_gain.to(q.dtype)[None, :, None, None]
        grouped = self.num_kv_heads != self.num_heads
        if grouped and x.is_cuda:
            # the fused kernels read grouped keys and values in place (the reference trainer does the same)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        else:
            if grouped:  # query head h reads kv head h // (H / KV)
                rep = self.num_heads // self.num_kv_heads
                k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


def _rotate(z: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """cat(z1 cos + z2 sin, -z1 sin + z2 cos) as z * [cos, cos] + [z2, z1] * [sin, -sin]: fewer passes."""
    half = z.size(-1) // 2
    swapped = torch.cat((z[..., half:], z[..., :half]), dim=-1)
    return torch.addcmul(z * cos.to(z.dtype), swapped, sin.to(z.dtype))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.model_dim, cfg.mlp_mult * cfg.model_dim, bias=False)
        self.proj = nn.Linear(cfg.mlp_mult * cfg.model_dim, cfg.model_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.relu(self.fc(x)).square())


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.model_dim
        self.attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.attn_scale = nn.Parameter(torch.ones(d))
        self.mlp_scale = nn.Parameter(torch.ones(d))
        self.resid_mix = nn.Parameter(torch.stack((torch.ones(d), torch.zeros(d))))

    def forward(self, x: torch.Tensor, x0: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        mix = self.resid_mix.to(x.dtype)
        x = mix[0] * x + mix[1] * x0
        x = x + self.attn_scale.to(x.dtype) * self.attn(rms(x), cos, sin)
        return x + self.mlp_scale.to(x.dtype) * self.mlp(rms(x))


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.num_encoder = cfg.num_layers // 2
        self.num_decoder = cfg.num_layers - self.num_encoder
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.model_dim)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.skip_weights = nn.Parameter(torch.ones(min(self.num_encoder, self.num_decoder), cfg.model_dim))

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """Token ids [B, T] -> output of the last block [B, T, D] (before the final norm)."""
        cos, sin = self.blocks[0].attn.rotary(idx.size(1), idx.device)
        x = rms(self.tok_emb(idx))
        return self.hidden_from(0, x, x, [], cos, sin)

    def hidden_from(self, start: int, x: torch.Tensor, x0: torch.Tensor, skips: list[torch.Tensor],
                    cos: torch.Tensor, sin: torch.Tensor, record: Callable | None = None) -> torch.Tensor:
        """Blocks `start`.. on `x`, the stream as block `start` receives it (a decoder block's skip not yet
        added), `skips` the encoder outputs still to be added. `record(i, x, skips)` sees each block's input:
        what build --fit keeps so that changing one block's weights re-runs only the blocks from there."""
        skips = list(skips)
        for i in range(start, len(self.blocks)):
            if record is not None:
                record(i, x, list(skips))
            if i < self.num_encoder:
                x = self.blocks[i](x, x0, cos, sin)
                skips.append(x)
                continue
            if skips:
                x = x + self.skip_weights[i - self.num_encoder].to(x.dtype) * skips.pop()
            x = self.blocks[i](x, x0, cos, sin)
        return x

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Last-block output (any slice of positions) -> soft-capped logits over the vocabulary."""
        cap = self.cfg.logit_softcap
        return cap * torch.tanh(F.linear(rms(h), self.tok_emb.weight.to(h.dtype)) / cap)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.logits(self.hidden(idx))
