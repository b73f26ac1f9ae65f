"""Token shards in the challenge's format (docs/verify.md#validation-data-and-bits-per-byte).

A shard is a header of 256 little-endian int32 ([0] = 20240520 magic, [1] = 1 version,
[2] = token count), then that many little-endian uint16 tokens; the file is exactly
1024 + 2 * count bytes.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golfkit.errors import GolfkitError

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4


@dataclass(frozen=True)
class ShardInfo:
    path: Path
    num_tokens: int
    max_token: int


def write_shard(path: str | Path, tokens: np.ndarray) -> None:
    """Write `tokens` (values < 65536) as a shard, atomically."""
    tokens = np.asarray(tokens)
    if tokens.size and (tokens.min() < 0 or tokens.max() >= 1 << 16):
        raise GolfkitError(f"{path}: tokens must fit in uint16 (0..65535)")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:3] = (MAGIC, VERSION, tokens.size)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(header.tobytes())
            f.write(tokens.astype("<u2").tobytes())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_header(path: str | Path) -> int:
    """Validate a shard's header and size; return its token count."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(HEADER_BYTES)
    except OSError as exc:
        raise GolfkitError(f"{path}: cannot read shard ({exc.strerror})") from None
    if len(raw) < HEADER_BYTES:
        raise GolfkitError(f"{path}: {size} bytes is shorter than the 1024-byte shard header; truncated file?")
    header = np.frombuffer(raw, dtype="<i4")
    if header[0] != MAGIC:
        raise GolfkitError(f"{path}: wrong magic {int(header[0])} (expected {MAGIC}); not a challenge token shard")
    if header[1] != VERSION:
        raise GolfkitError(f"{path}: shard version {int(header[1])}, expected {VERSION}")
    count = int(header[2])
    expected = HEADER_BYTES + 2 * count
    if count < 0 or size != expected:
        raise GolfkitError(
            f"{path}: header says {count} tokens, so {expected} bytes, but the file has {size}; truncated or corrupt"
        )
    return count


def read_shard(path: str | Path) -> np.ndarray:
    """Read a validated shard's tokens as uint16."""
    count = read_header(path)
    return np.fromfile(path, dtype="<u2", count=count, offset=HEADER_BYTES).astype(np.uint16)


def check_shard(path: str | Path, vocab_size: int | None = None) -> ShardInfo:
    """Validate a shard fully; with `vocab_size`, also that every token is below it."""
    tokens = read_shard(path)
    max_token = int(tokens.max()) if tokens.size else -1
    if vocab_size is not None and max_token >= vocab_size:
        raise GolfkitError(
            f"{path}: token id {max_token} is outside the vocabulary of {vocab_size}; "
            "shard and tokenizer do not match"
        )
    return ShardInfo(Path(path), int(tokens.size), max_token)


def shard_paths(pattern_or_dir: str | Path, split: str = "val") -> list[Path]:
    """Shards of a split: a directory (its fineweb_<split>_*.bin) or a glob pattern, sorted."""
    p = str(pattern_or_dir)
    pattern = os.path.join(p, f"fineweb_{split}_*.bin") if os.path.isdir(p) else p
    paths = sorted(Path(x) for x in glob.glob(pattern))
    if not paths:
        raise GolfkitError(f"no {split} shards match {pattern}; check the data path")
    return paths


def load_tokens(pattern_or_dir: str | Path, split: str = "val") -> np.ndarray:
    """All tokens of a split's shards, concatenated in file-name order."""
    return np.concatenate([read_shard(p) for p in shard_paths(pattern_or_dir, split)])
