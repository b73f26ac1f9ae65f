"""Calibration for `golfkit build --fit`: training tokens, golfkit's model on a float state dict, its loss,
and each weight's sensitivity (the diagonal of the empirical Fisher).

Calibration data must be training data. Validating on the validation set is the challenge's score;
calibrating on it is against the rules (docs/build.md#fit), so validation shards are refused by name, and a
training shard whose bytes are a validation shard's of the same folder is refused as well.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from golfkit.data.shards import HEADER_BYTES, read_header
from golfkit.errors import GolfkitError
from golfkit.eval.model import GPT, ModelConfig, rms

CALIB_TOKENS = 16_384  # default calibration targets: 16 windows of 1,024
MAX_CALIB_TOKENS = 1 << 22
MAX_SHARDS = 4096
BATCH_TOKENS = 4096  # tokens per forward (and backward) on the CPU


@dataclass(frozen=True)
class Calibration:
    """Windows of training tokens: inputs [n, seq_len] and targets [n, seq_len] (int64)."""

    source: str
    shards: tuple[Path, ...]
    inputs: torch.Tensor
    targets: torch.Tensor

    @property
    def seq_len(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def tokens(self) -> int:
        return int(self.targets.numel())

    def subset(self, tokens: int) -> Calibration:
        """The first windows holding at least `tokens` targets (at least one window)."""
        n = max(1, min(self.inputs.shape[0], math.ceil(tokens / self.seq_len)))
        return Calibration(self.source, self.shards, self.inputs[:n], self.targets[:n])


_VALIDATION = re.compile(r"(^|[^a-z])val(id|idation)?([^a-z]|$)")


def _is_validation(path: Path) -> bool:
    """A shard whose name says validation: fineweb_val_000000.bin, val.bin, fineweb_val.bin, validation_0.bin."""
    return bool(_VALIDATION.search(path.name.lower()))


def calibration_shards(path: str | Path) -> list[Path]:
    """The training shards `path` names: a folder (its fineweb_train_*.bin) or one shard file.

    Validation shards are refused, by name, and by content when the folder holds validation shards too."""
    p = Path(path)
    rules = ("calibrating on the validation set is against the challenge's rules: give training shards "
             "(fineweb_train_*.bin, e.g. from `golfkit data synth` or the challenge's download)")
    if not p.exists():
        raise GolfkitError(f"--calib {p}: no such file or folder; give a folder of training shards and their tokenizer")
    if p.is_dir():
        shards = sorted(p.glob("fineweb_train_*.bin"))[:MAX_SHARDS]
        val = sorted(p.glob("fineweb_val_*.bin"))[:MAX_SHARDS]
        if not shards:
            what = f"only validation shards ({val[0].name})" if val else "no fineweb_train_*.bin shard"
            raise GolfkitError(f"--calib {p}: {what}; {rules}")
    else:
        if _is_validation(p):
            raise GolfkitError(f"--calib {p}: a validation shard; {rules}")
        shards, val = [p], sorted(p.parent.glob("fineweb_val_*.bin"))[:MAX_SHARDS]
    for shard in shards:
        if not shard.is_file():
            raise GolfkitError(f"--calib {shard}: not a regular file; give token shards")
    if val:
        seen = {_digest(v): v for v in val if v.is_file()}
        for shard in shards:
            twin = seen.get(_digest(shard))
            if twin is not None:
                raise GolfkitError(f"--calib {shard}: its tokens are those of the validation shard {twin.name}; {rules}")
    return shards


def _digest(path: Path) -> tuple[int, str]:
    """Size and hash of a shard's first MiB: enough to tell a copy of a validation shard."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
        return path.stat().st_size, hashlib.sha256(head).hexdigest()
    except OSError as exc:
        raise GolfkitError(f"--calib {path}: cannot read it ({exc.strerror})") from None


def load_calibration(path: str | Path, vocab_size: int, seq_len: int, tokens: int = CALIB_TOKENS) -> Calibration:
    """Read the first `tokens` targets (whole windows of `seq_len`) of the training shards `path` names; only
    what is needed is read. Tokens the model cannot embed are refused (shards of another tokenizer)."""
    if not 1 <= tokens <= MAX_CALIB_TOKENS:
        raise GolfkitError(f"--calib-tokens {tokens:,}: give 1 to {MAX_CALIB_TOKENS:,}")
    shards = calibration_shards(path)
    _check_tokenizer(Path(path), vocab_size)
    windows = max(1, math.ceil(tokens / seq_len))
    need = windows * seq_len + 1
    parts, have = [], 0
    for shard in shards:
        count = read_header(shard)
        take = min(count, need - have)
        arr = np.fromfile(shard, dtype="<u2", count=take, offset=HEADER_BYTES).astype(np.int64)
        if arr.size and int(arr.max()) >= vocab_size:
            raise GolfkitError(f"--calib {shard}: token {int(arr.max())} is outside the model's vocabulary of "
                               f"{vocab_size}; the shards must come from the model's tokenizer")
        parts.append(arr)
        have += arr.size
        if have >= need:
            break
    stream = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    n = min(windows, (stream.size - 1) // seq_len) if stream.size else 0
    if n < 1:
        raise GolfkitError(f"--calib {path}: {stream.size:,} tokens is less than one window of {seq_len + 1:,}; "
                           "give more training shards")
    t = torch.from_numpy(stream[: n * seq_len + 1])
    return Calibration(str(path), tuple(shards), t[:-1].view(n, seq_len), t[1:].view(n, seq_len))


def _check_tokenizer(path: Path, vocab_size: int) -> None:
    """A tokenizer beside the shards must have the model's vocabulary (else the shards are of another one)."""
    model = (path if path.is_dir() else path.parent) / "tokenizer.model"
    if model.is_file():
        from golfkit.data.tokenizer import load_tokenizer

        try:
            load_tokenizer(model, vocab_size)
        except GolfkitError as exc:
            raise GolfkitError(f"--calib: {exc}") from None


def reference_model(state: dict[str, torch.Tensor], config: ModelConfig) -> GPT:
    """golfkit's model of `config` holding `state` (as float32), in eval mode, on the CPU."""
    model = GPT(config)
    model.load_state_dict({k: v.detach().float() for k, v in state.items()})
    return model.eval()


def calib_batches(calib: Calibration):
    """(inputs, targets) in batches of about BATCH_TOKENS."""
    per = max(1, BATCH_TOKENS // calib.seq_len)
    for i in range(0, calib.inputs.shape[0], per):
        yield calib.inputs[i : i + per], calib.targets[i : i + per]


def calibration_loss(model: GPT, calib: Calibration) -> float:
    """Mean cross-entropy (nats per target) of `model` over the calibration windows."""
    total = 0.0
    with torch.no_grad():
        for x, y in calib_batches(calib):
            total += float(F.cross_entropy(model(x).float().flatten(0, 1), y.flatten(), reduction="sum"))
    return total / calib.tokens


def _head_hook(out: torch.Tensor, h: torch.Tensor):
    """The tied head's per-token contributions: logit gradients squared times final-norm outputs squared."""
    h2 = h.reshape(-1, h.shape[-1]).float().square()

    def hook(grad: torch.Tensor) -> None:
        out.add_(grad.detach().reshape(-1, grad.shape[-1]).float().square().T @ h2)

    return hook


def fisher_diagonal(model: GPT, calib: Calibration, names: list[str],
                    inputs: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """For each weight of the named matrices: the mean over calibration targets of its squared per-token
    gradient contribution, so that quantizing by an error d raises the mean loss by about 0.5 * sum(F * d^2).

    Per token t of a linear layer y = W x, the contribution is (g_t x_t^T)^2 with g_t the gradient at y_t;
    the tied embedding sums the head's (a linear layer on the final norm) and the lookup's (the gradient at
    the embedded row). Cross-token and cross-weight terms are left out (the diagonal approximation); the
    fit reports what each tensor's quantization measured against this prediction.

    With `inputs` (a dict), each named linear layer's input second moments sum(x x^T) over the calibration
    tokens are put there as well: the H of GPTQ (golfkit.packing.gptq).
    """
    want = set(names)
    fisher = {name: torch.zeros(model.state_dict()[name].shape, dtype=torch.float32) for name in names}
    linears = {f"{n}.weight": m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    handles = []

    def watch(name: str):
        def forward_hook(module, args, output):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).float()
            x2 = x.square()
            if inputs is not None:
                inputs[name] = inputs[name] + x.T @ x if name in inputs else x.T @ x

            def backward_hook(grad):
                g2 = grad.detach().reshape(-1, grad.shape[-1]).float().square()
                fisher[name].add_(g2.T @ x2)

            output.register_hook(backward_hook)
        return forward_hook

    def watch_embedding(module, args, output):
        idx = args[0].detach().reshape(-1)

        def backward_hook(grad):
            fisher["tok_emb.weight"].index_add_(0, idx, grad.detach().reshape(-1, grad.shape[-1]).float().square())

        output.register_hook(backward_hook)

    for name, module in linears.items():
        if name in want:
            handles.append(module.register_forward_hook(watch(name)))
    if "tok_emb.weight" in want:
        handles.append(model.tok_emb.register_forward_hook(watch_embedding))
    cap = model.cfg.logit_softcap
    try:
        for x, y in calib_batches(calib):
            h = rms(model.hidden(x))
            z = F.linear(h, model.tok_emb.weight)
            if "tok_emb.weight" in want:
                z.register_hook(_head_hook(fisher["tok_emb.weight"], h.detach()))
            loss = F.cross_entropy((cap * torch.tanh(z / cap)).float().flatten(0, 1), y.flatten(), reduction="sum")
            loss.backward()
            model.zero_grad(set_to_none=True)
    finally:
        for handle in handles:
            handle.remove()
    for t in fisher.values():
        t.div_(calib.tokens)
    return fisher
