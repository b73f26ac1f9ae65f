"""Files -> evaluation inputs, with errors a person can act on.

Artifacts are read through golfkit's container (bounded decompression, no pickle); the model is
rebuilt from the header's `meta.model` (or flags) and every tensor name and shape is checked
before loading. Shards are checked against the vocabulary, and the tokenizer against the shards.
"""

from __future__ import annotations

import itertools
import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm
import torch

from golfkit.artifact.compress import DEFAULT_MAX_OUTPUT
from golfkit.artifact.container import Artifact, read_artifact
from golfkit.data.shards import load_tokens, shard_paths
from golfkit.data.tokenizer import load_tokenizer
from golfkit.errors import GolfkitError
from golfkit.eval.model import GPT, ModelConfig

# Documents decoded and re-encoded to check that a tokenizer produced the shards.
TOKENIZER_SAMPLE_DOCS = 64
# A 1024-piece model is ~250 KB; the largest vocabularies make a few MB.
MAX_TOKENIZER_BYTES = 64 << 20


def model_config(artifact: Artifact, overrides: dict[str, Any] | None = None, where: str = "artifact") -> ModelConfig:
    """The architecture from the header's `meta.model`, with `overrides` (flags) taking precedence."""
    header = artifact.meta.get("model")
    if header is not None and not isinstance(header, dict):
        raise GolfkitError(f"{where}: meta.model is not an object")
    merged = {**(header or {}), **{k: v for k, v in (overrides or {}).items() if v is not None}}
    if not merged:
        raise GolfkitError(
            f"{where}: the header has no meta.model; pass the architecture as flags "
            "(--vocab-size, --num-layers, --model-dim, --num-heads, --num-kv-heads, --mlp-mult)"
        )
    return ModelConfig.from_dict(merged, where=f"{where}: model config")


def build_model(artifact: Artifact, config: ModelConfig, device: torch.device, where: str = "artifact") -> GPT:
    """golfkit's model with the artifact's (dequantized) weights, in float32, in eval mode.

    The names and shapes are compared on a skeleton on the meta device, which costs Python objects per
    layer and no memory per value. A header that claims more layers than the artifact has tensors, or a
    size larger than all the values it holds, cannot match and is refused before even that is built (a
    header can claim a billion layers).
    """
    held = sum(math.prod(t.shape) for t in artifact.tensors)
    sizes = (config.vocab_size, config.model_dim, config.mlp_mult * config.model_dim)
    if config.num_layers > len(artifact.tensors) or max(sizes) > held:
        needed = config.parameter_count()
        raise GolfkitError(
            f"{where}: the {config.num_layers}-layer, {config.model_dim}-wide model of vocab {config.vocab_size} in "
            f"its header (or the flags) has {needed:,} parameters, but the artifact holds {held:,} values; "
            "check meta.model or the flags"
        )
    with torch.device("meta"):
        skeleton = GPT(config)
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    got = {t.name: tuple(t.shape) for t in artifact.tensors}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected {_few(unexpected)}")
        if wrong:
            parts.append("shape " + ", ".join(f"{k} {list(got[k])} != {list(expected[k])}" for k in wrong[:3]))
        raise GolfkitError(
            f"{where}: tensors do not fit the {config.num_layers}-layer, {config.model_dim}-wide model in its header "
            f"({'; '.join(parts)}); check meta.model or the flags, or use --trust-code for another architecture"
        )
    model = GPT(config)
    state = {k: v.float() for k, v in artifact.state_dict().items()}
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise GolfkitError(f"{where}: tensor {bad[0]} holds NaN or infinite values; the artifact is corrupt")
    model.load_state_dict(state)
    return model.to(device).eval()


def load_model(path: str | Path, overrides: dict[str, Any] | None = None, device: torch.device | str = "cpu",
               max_output: int = DEFAULT_MAX_OUTPUT) -> tuple[GPT, Artifact]:
    """Read an artifact file and rebuild golfkit's model from it."""
    artifact = read_artifact(path, max_output=max_output)
    config = model_config(artifact, overrides, where=str(path))
    return build_model(artifact, config, torch.device(device), where=str(path)), artifact


def special_file(path: str | Path, follow_symlinks: bool = True) -> str | None:
    """What `path` is when it is not a regular file ("a symlink", "a FIFO", "a device", "a socket",
    "a folder", "missing"), else None. Only stat is called: nothing is opened."""
    try:
        mode = os.stat(path, follow_symlinks=follow_symlinks).st_mode
    except FileNotFoundError:
        return "missing" if follow_symlinks or not os.path.lexists(path) else "a dangling symlink"
    except OSError as exc:
        return f"not readable ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    for test, kind in ((stat.S_ISLNK, "a symlink"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return kind
    return "a special file"


def require_regular(path: str | Path, what: str, follow_symlinks: bool = True) -> None:
    """Raise GolfkitError unless `path` is a regular file (a symlink to one only with `follow_symlinks`):
    a FIFO would block the reader, a device never end."""
    kind = special_file(path, follow_symlinks)
    if kind == "missing":
        raise GolfkitError(f"{path}: no such file; give the path of {what}")
    if kind is not None:
        raise GolfkitError(f"{path}: {kind}, not a regular file; golfkit reads {what} only from a regular file")


def load_stream(data: str | Path, vocab_size: int) -> np.ndarray:
    """All validation tokens under `data` (a folder of fineweb_val_*.bin or a glob), checked against the vocabulary.
    Each shard must be a regular file (a symlink to one is followed)."""
    paths = shard_paths(data, "val")
    for path in paths:
        require_regular(path, "a validation shard")
    stream = load_tokens(data, "val")
    if stream.size and int(stream.max()) >= vocab_size:
        offender = next(p for p in paths if load_tokens(p).max() >= vocab_size)
        raise GolfkitError(
            f"{offender}: token id {int(stream.max())} is outside the model's vocabulary of {vocab_size}; "
            "these shards were made with another tokenizer (use the matching data variant)"
        )
    return stream


def load_matching_tokenizer(path: str | Path, vocab_size: int, stream: np.ndarray) -> spm.SentencePieceProcessor:
    """Load the tokenizer and check that it has the model's vocabulary and produced `stream`.

    The check decodes up to 64 documents ([BOS] + tokens) and re-encodes them: the tokenizer that made
    the shards gives the same ids back; another one with the same vocabulary size almost never does.
    """
    require_regular(path, "a SentencePiece tokenizer")
    size = os.stat(path).st_size
    if size > MAX_TOKENIZER_BYTES:
        raise GolfkitError(f"{path}: {size:,} bytes, more than a SentencePiece tokenizer ever holds "
                           f"({MAX_TOKENIZER_BYTES:,}); check that this is the tokenizer")
    sp = load_tokenizer(path, vocab_size)
    docs = _documents(stream, sp.bos_id(), TOKENIZER_SAMPLE_DOCS)
    if docs:
        same = sum(sp.encode(sp.decode(d)) == d for d in docs)
        if same * 2 < len(docs):
            raise GolfkitError(
                f"{path}: re-encoding the decoded validation text gives the shards' ids back for only {same} of "
                f"{len(docs)} documents; this tokenizer did not make these shards (use the one shipped with the data)"
            )
    return sp


def _documents(stream: np.ndarray, bos: int, limit: int) -> list[list[int]]:
    if bos < 0:
        return []
    starts = np.flatnonzero(stream[: 1 << 20] == bos)
    out = []
    for a, b in itertools.pairwise(starts):
        if b - a > 1:
            out.append(stream[a + 1 : b].astype(np.int64).tolist())
        if len(out) == limit:
            break
    return out


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
