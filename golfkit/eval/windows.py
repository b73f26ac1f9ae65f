"""Evaluation windows over the validation stream (docs/reference-model.md,
docs/verify.md#sliding-window-evaluation).

Target j (0-based) is token j + 1, predicted from tokens 0..j; a stream of N tokens has N - 1
targets. A window runs input tokens [start, end) and scores targets [score_from, end): the last
`end - score_from` outputs. Every target must be scored exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golfkit.errors import GolfkitError


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    score_from: int

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def scored(self) -> int:
        return self.end - self.score_from


def trimmed_length(num_tokens: int, train_seq_len: int) -> int:
    """Tokens of the stream that are evaluated: ((N - 1) // L) * L + 1."""
    if train_seq_len < 1:
        raise GolfkitError(f"train_seq_len must be at least 1, got {train_seq_len}")
    if num_tokens - 1 < train_seq_len:
        raise GolfkitError(
            f"the validation stream has {num_tokens} tokens, fewer than train_seq_len + 1 = {train_seq_len + 1}; "
            "point --data at the full validation shards"
        )
    return ((num_tokens - 1) // train_seq_len) * train_seq_len + 1


def standard_windows(num_targets: int, seq_len: int) -> list[Window]:
    """Non-overlapping windows of `seq_len` targets, each scoring all of them."""
    _check(num_targets, seq_len, seq_len)
    return [Window(a, min(a + seq_len, num_targets), a) for a in range(0, num_targets, seq_len)]


def sliding_windows(num_targets: int, seq_len: int, stride: int) -> list[Window]:
    """Windows of up to `seq_len` inputs moving by `stride`; range [a, b) is scored by inputs [b - L, b)."""
    _check(num_targets, seq_len, stride)
    first = min(seq_len, num_targets)
    out = [Window(0, first, 0)]
    for a in range(seq_len, num_targets, stride):
        b = min(a + stride, num_targets)
        out.append(Window(max(0, b - seq_len), b, a))
    return out


def coverage(windows: list[Window], num_targets: int) -> np.ndarray:
    """How many times each target is scored (all ones when the windows are correct)."""
    counts = np.zeros(num_targets + 1, dtype=np.int64)
    for w in windows:
        counts[w.score_from] += 1
        counts[w.end] -= 1
    return np.cumsum(counts)[:num_targets]


def _check(num_targets: int, seq_len: int, stride: int) -> None:
    if num_targets < 1:
        raise GolfkitError("no targets to evaluate: the validation stream needs at least 2 tokens")
    if seq_len < 1 or not 1 <= stride <= seq_len:
        raise GolfkitError(f"need 1 <= stride <= seq_len, got stride {stride} and seq_len {seq_len}")
