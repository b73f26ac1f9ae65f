"""The probe's synthetic inputs: a small tokenizer, a validation stream of documents, and the run plan.

The stream is made of documents `[BOS] + random pieces` (normal pieces, many with a leading "▁", and
byte-fallback pieces), exactly `windows * seq_len + 1` tokens long so that the contract's trimming keeps
all of it. Random pieces make every 8-token window unique, which is how the child finds where a window of
model inputs sits in the stream.

The plan lists the runs the child makes for each evaluator:
- `base`, `base2`: the stream as is, twice (the second checks that the evaluator is deterministic);
- `c1_<t>`: the target of position t (token t + 1) replaced: no score before t may change;
- `doc`: the document before a BOS replaced: the score at that BOS position may not change;
- `sweep_<v>`: a short stream (the first `SWEEP_WINDOWS` windows of the base stream) in which the target of
  position seq_len - 2 is v, for every v in the vocabulary: the evaluator's probabilities at that position
  must sum to 1, and its distribution may not depend on v. The position is in the first window, which
  every evaluator scores (a sliding window scores all of its first window, or at least its last stride);
  its target is not the stream's last token, so a BOS there starts a document of two tokens, not one (the
  2026-04 records' document finder refuses a one-token document); and the stream holds a batch of
  several windows (their whole-sequence evaluator keeps whole batches of 4 sequences only, and a sliding
  window that stops before the tail scores nothing on a one-window stream).
"""

from __future__ import annotations

import functools
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from golfkit.data.synthetic import documents
from golfkit.data.token_bytes import TokenByteTable, byte_table
from golfkit.data.tokenizer import BOS_ID, train_tokenizer

DEFAULT_VOCAB = 384
SWEEP_WINDOWS = 4  # windows in the normalization sweep's stream (module docstring)


@dataclass(frozen=True)
class Plan:
    """What the child runs and what the parent expects back."""

    seq_len: int
    stride: int
    vocab_size: int
    streams: dict[str, list[int]]
    runs: list[dict]
    causality_positions: list[int]
    doc_boundary: int | None  # stream index of the BOS whose position the doc run watches
    sweep_position: int | None
    sweep_tokens: list[int] = field(default_factory=list)
    rows_tokens: tuple[int, ...] = ()


@functools.lru_cache(maxsize=4)
def tokenizer_bytes(vocab_size: int = DEFAULT_VOCAB) -> bytes:
    """A byte-fallback BPE tokenizer trained on golfkit's synthetic text (cached per process)."""
    with tempfile.TemporaryDirectory(prefix="golfkit-probe-tok-") as tmp:
        path = Path(tmp) / "tokenizer.model"
        train_tokenizer(documents(300, seed=5), vocab_size, path)
        return path.read_bytes()


def piece_classes(table: TokenByteTable, sp_is_byte: np.ndarray) -> tuple[list[int], list[int]]:
    """(normal pieces, byte-fallback pieces): the ids a random document may use."""
    normal = [i for i in range(table.vocab_size) if not table.boundary[i] and not sp_is_byte[i]]
    byte = [i for i in range(table.vocab_size) if sp_is_byte[i]]
    return normal, byte


def make_stream(normal: list[int], byte: list[int], length: int, seed: int) -> list[int]:
    """Documents [BOS] + 12..40 random pieces (70% normal, 30% byte), cut to `length` tokens."""
    rng = random.Random(seed)
    out: list[int] = []
    while len(out) < length:
        out.append(BOS_ID)
        for _ in range(rng.randint(12, 40)):
            out.append(rng.choice(normal) if rng.random() < 0.7 or not byte else rng.choice(byte))
    return out[:length]


def make_plan(table: TokenByteTable, sp_is_byte: np.ndarray, seq_len: int = 32, stride: int = 8,
              windows: int = 6, seed: int = 0, sweep: bool = True) -> Plan:
    """Streams and runs for one probe session (see the module docstring)."""
    normal, byte = piece_classes(table, sp_is_byte)
    rng = random.Random(seed + 1)
    base = make_stream(normal, byte, windows * seq_len + 1, seed)
    runs: list[dict] = [{"id": "base", "stream": "base"}, {"id": "base2", "stream": "base"}]

    causality = []
    for frac in (0.3, 0.55, 0.8):
        t = int(frac * (len(base) - 2))
        while base[t + 1] == BOS_ID:
            t += 1
        if t % seq_len == 0:  # keep earlier positions of the same window in play
            t += 1
        new = rng.choice([v for v in normal if v != base[t + 1]])
        causality.append(t)
        runs.append({"id": f"c1_{t}", "stream": "base", "edits": [[t + 1, new]]})

    boundary = _doc_boundary(base, seq_len)
    if boundary is not None:
        prev = max(i for i in range(boundary) if base[i] == BOS_ID)
        edits = [[i, rng.choice([v for v in normal if v != base[i]])] for i in range(prev + 1, boundary)]
        runs.append({"id": "doc", "stream": "base", "edits": edits})

    streams = {"base": base}
    sweep_position, sweep_tokens, rows_tokens = None, [], ()
    if sweep:
        short = base[: min(SWEEP_WINDOWS, windows) * seq_len + 1]
        sweep_position = seq_len - 2
        target = short[sweep_position + 1]
        streams["short"] = short
        sweep_tokens = list(range(table.vocab_size))
        # full distributions are compared for a few targets: the real one, tokens of the context (what a
        # cache keyed on the target would reward) and tokens it lacks
        context = short[: sweep_position + 1]
        seen = [v for v in dict.fromkeys(context[1:]) if v != target and v != BOS_ID]
        unseen = [v for v in normal if v not in context and v != target]
        rows_tokens = (target, *rng.sample(seen, min(3, len(seen))), *rng.sample(unseen, min(2, len(unseen))))
        for v in sweep_tokens:
            run = {"id": f"sweep_{v}", "stream": "short", "edits": [[sweep_position + 1, v]],
                   "keep": [sweep_position]}
            if v in rows_tokens:
                run["rows_at"] = [sweep_position]
            runs.append(run)
    return Plan(seq_len, stride, table.vocab_size, streams, runs, causality, boundary, sweep_position,
                sweep_tokens, rows_tokens)


def _doc_boundary(stream: list[int], seq_len: int) -> int | None:
    """A BOS in the middle of a window, with a whole previous document before it."""
    firsts = [i for i, tok in enumerate(stream) if tok == BOS_ID and i > 0]
    for b in firsts:
        if b >= seq_len and seq_len // 4 <= b % seq_len <= 3 * seq_len // 4 and b + 2 < len(stream):
            return b
    return firsts[0] if firsts and firsts[0] + 2 < len(stream) else None


def load_table(model_bytes: bytes) -> tuple[TokenByteTable, np.ndarray]:
    """golfkit's own byte table for the tokenizer, and which ids are byte-fallback pieces."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    is_byte = np.array([sp.is_byte(i) for i in range(sp.vocab_size())], dtype=bool)
    return byte_table(sp), is_byte
