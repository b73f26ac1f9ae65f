"""What a built artifact's header records about its model, so that `golfkit eval ARTIFACT` needs no flag.

    checkpoint shapes -> architecture (reference family only)
    trainer log       -> rope_base, logit_softcap, train_seq_len, seed (and the sizes, checked against the shapes)
    --meta FILE       -> anything, taking precedence

The trainer's log is the one given (`--log`), else found beside the checkpoint: `logs/*.txt` of the
checkpoint's folder whose `Serialized model: N bytes` line is the checkpoint's size (the reference trainer
writes `final_model.pt` and `logs/<RUN_ID>.txt` in the folder it runs in). Every item says where it came
from, so a build can say what it recorded and what it could not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from golfkit.errors import GolfkitError
from golfkit.files import read_bytes

FAMILY = "golfkit-gpt-v1"
# The trainer's defaults for what shapes cannot tell (templates/train_gpt.py, docs/trainer.md).
SHAPELESS_DEFAULTS = {"rope_base": 10000.0, "logit_softcap": 30.0}
MAX_LOG_BYTES = 64 << 20
LOG_FIELDS = {
    "model:gpt": ("num_layers", "model_dim", "mlp_mult", "vocab_size", "rope_base", "logit_softcap"),
    "attention_mode:": ("num_heads", "num_kv_heads"),
    "train_batch_tokens:": ("train_seq_len",),
    "seed:": ("seed",),
}
_PAIR = re.compile(r"(\w+):(\S+)")
_RAW_SIZE = re.compile(r"^Serialized model: (\d+) bytes\s*$", re.MULTILINE)
FLOAT_KEYS = ("rope_base", "logit_softcap")


@dataclass
class MetaSource:
    """The header meta a build records, and where each part came from (for the build's report)."""

    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    log: Path | None = None

    def summary(self) -> str:
        """One line for the build's report: what eval will find in the header."""
        model = self.meta.get("model")
        parts = []
        if isinstance(model, dict) and "num_layers" in model:
            parts.append(f"model {model.get('family', FAMILY)} {model['num_layers']} layers x {model['model_dim']}, "
                         f"vocab {model['vocab_size']}")
        else:
            parts.append("no model architecture")
        seq = self.meta.get("train_seq_len")
        parts.append(f"train_seq_len {seq}" if seq is not None else "no train_seq_len")
        if self.meta.get("seed") is not None:
            parts.append(f"seed {self.meta['seed']}")
        return ", ".join(parts)


def shapes_architecture(state: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """The reference family's sizes read from a state dict's tensor names and shapes, or None when the
    checkpoint is not that family (another architecture: eval needs --trust-code and the record's code)."""
    emb, q_gain = state.get("tok_emb.weight"), state.get("blocks.0.attn.q_gain")
    c_k, fc = state.get("blocks.0.attn.c_k.weight"), state.get("blocks.0.mlp.fc.weight")
    if any(t is None for t in (emb, q_gain, c_k, fc)) or emb.dim() != 2 or q_gain.dim() != 1:
        return None
    vocab, dim = (int(s) for s in emb.shape)
    heads = int(q_gain.numel())
    layers = 1 + max(int(m.group(1)) for name in state if (m := re.match(r"blocks\.(\d+)\.", name)))
    if heads < 1 or dim % heads or c_k.dim() != 2 or fc.dim() != 2 or fc.shape[0] % dim:
        return None
    head_dim = dim // heads
    if c_k.shape[0] % head_dim:
        return None
    arch = {"family": FAMILY, "vocab_size": vocab, "num_layers": layers, "model_dim": dim, "num_heads": heads,
            "num_kv_heads": int(c_k.shape[0]) // head_dim, "mlp_mult": int(fc.shape[0]) // dim,
            **SHAPELESS_DEFAULTS, "tie_embeddings": True}
    return arch if _fits(arch, state) else None


def _fits(arch: dict[str, Any], state: dict[str, torch.Tensor]) -> bool:
    """Whether the reference model of `arch` has exactly the checkpoint's names and shapes."""
    from golfkit.eval.model import GPT, ModelConfig

    try:
        config = ModelConfig.from_dict(arch)
    except GolfkitError:
        return False
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in GPT(config).state_dict().items()}
    return expected == {k: tuple(v.shape) for k, v in state.items()}


def read_trainer_log(path: str | Path) -> dict[str, Any]:
    """The architecture, train_seq_len and seed a reference-trainer log printed (last values win)."""
    text = read_bytes(path, MAX_LOG_BYTES, "a training log").decode("utf-8", errors="replace")
    found: dict[str, Any] = {}
    for line in text.splitlines():
        for head, keys in LOG_FIELDS.items():
            if line.startswith(head):
                pairs = dict(_PAIR.findall(line))
                for key in keys:
                    if key in pairs:
                        found[key] = _number(pairs[key], key in FLOAT_KEYS)
    return {k: v for k, v in found.items() if v is not None}


def _number(text: str, is_float: bool) -> int | float | None:
    try:
        return float(text) if is_float else int(text)
    except ValueError:
        return None


def find_trainer_logs(checkpoint: Path) -> list[Path]:
    """Logs beside `checkpoint` (its folder's logs/*.txt) that printed its size as `Serialized model`."""
    folder = checkpoint.parent / "logs"
    if not folder.is_dir():
        return []
    size = checkpoint.stat().st_size
    found = []
    for log in sorted(folder.glob("*.txt"))[:200]:
        if log.is_symlink() or not log.is_file() or log.stat().st_size > MAX_LOG_BYTES:
            continue
        text = read_bytes(log, MAX_LOG_BYTES, "a training log").decode("utf-8", errors="replace")
        if any(int(m.group(1)) == size for m in _RAW_SIZE.finditer(text)):
            found.append(log)
    return found


def header_meta(state: dict[str, torch.Tensor], checkpoint: str | Path, log: str | Path | None,
                given: dict[str, Any]) -> MetaSource:
    """The meta a build records: the checkpoint's shapes, then the trainer's log, then `given` (--meta) on top."""
    out = MetaSource()
    arch = shapes_architecture(state)
    logged, log_path = _logged(Path(checkpoint), log, out)
    if arch is None:
        out.notes.append("the checkpoint is not the reference model family (golfkit-gpt-v1) by its tensor names and "
                         "shapes: no architecture recorded; golfkit eval of this artifact needs --trust-code and the "
                         "record's script, or meta.model in --meta")
    else:
        model = dict(arch)
        wrong = {k: (logged[k], arch[k]) for k in arch if k in logged and k not in FLOAT_KEYS and logged[k] != arch[k]}
        if wrong:
            what = ", ".join(f"{k} {a} in the log, {b} in the checkpoint" for k, (a, b) in wrong.items())
            raise GolfkitError(f"{log_path}: this log is not the run that saved {checkpoint} ({what}); "
                               "pass the right one with --log")
        for key in FLOAT_KEYS:
            if key in logged:
                model[key] = logged[key]
        if log_path is None:
            out.notes.append(f"rope_base {model['rope_base']:g} and logit_softcap {model['logit_softcap']:g} are the "
                             "reference trainer's defaults (shapes do not tell them): pass --log with the run's log "
                             "if it set ROPE_BASE or LOGIT_SOFTCAP")
        out.meta["model"] = model
    if "train_seq_len" in logged:
        out.meta["train_seq_len"] = logged["train_seq_len"]
    if "seed" in logged:
        out.meta["seed"] = logged["seed"]
    out.meta.update(given)
    if "train_seq_len" not in out.meta:
        out.notes.append("no train_seq_len recorded (no trainer log): golfkit eval will ask for --train-seq-len; "
                         "pass --log LOG (the run's log) or --meta with {\"train_seq_len\": N}")
    out.log = log_path
    return out


def _logged(checkpoint: Path, log: str | Path | None, out: MetaSource) -> tuple[dict[str, Any], Path | None]:
    """What the run's log says, and which log: the one given, else the one found beside the checkpoint."""
    if log is not None:
        return read_trainer_log(log), Path(log)
    candidates = find_trainer_logs(checkpoint)
    if not candidates:
        return {}, None
    readings = [(path, read_trainer_log(path)) for path in candidates]
    # Same config, other seeds: the size matches them all; what they agree on is kept, a differing seed is not.
    agreed = {k: v for k, v in readings[-1][1].items() if all(r.get(k) == v for _, r in readings)}
    if len(readings) > 1:
        differ = sorted({k for _, r in readings for k in r} - set(agreed))
        names = ", ".join(str(p) for p, _ in readings)
        if set(differ) - {"seed"}:
            out.notes.append(f"several logs beside the checkpoint printed its size and disagree on {', '.join(differ)} "
                             f"({names}): none was used; pass the run's log with --log")
            return {}, None
        if differ:
            out.notes.append(f"several logs beside the checkpoint printed its size ({names}): the seed is not "
                             "recorded; pass the run's log with --log to record it")
    return agreed, readings[-1][0]
