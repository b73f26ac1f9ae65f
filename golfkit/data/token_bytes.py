"""Bytes of each target token, from golfkit's own tables built from the tokenizer
(docs/reference-model.md#bytes-of-a-target-token).

bytes(target j) = UTF-8 length of its piece without the leading "▁"
                  + 1 if the piece had "▁" and input token j (the token before it) is not a boundary;
byte-fallback pieces (<0xNN>) count 1; control, unknown and unused pieces count 0 and are boundaries.
Summed over a document, this is the UTF-8 length of the document's text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sentencepiece as spm

SPACE = "\u2581"


@dataclass(frozen=True)
class TokenByteTable:
    """Per-piece byte facts, indexed by token id."""

    base_bytes: np.ndarray  # int64 [V]: bytes of the piece without its leading "▁"
    leading_space: np.ndarray  # bool [V]: the piece starts with "▁"
    boundary: np.ndarray  # bool [V]: control, unknown or unused piece

    @property
    def vocab_size(self) -> int:
        return int(self.base_bytes.shape[0])

    def target_bytes(self, stream: np.ndarray) -> np.ndarray:
        """Bytes of every target of `stream` (targets are tokens 1..N-1): int64 [N - 1]."""
        stream = np.asarray(stream, dtype=np.int64)
        if stream.size < 2:
            return np.zeros(0, dtype=np.int64)
        prev, tgt = stream[:-1], stream[1:]
        return self.base_bytes[tgt] + (self.leading_space[tgt] & ~self.boundary[prev])


def byte_table(sp: spm.SentencePieceProcessor) -> TokenByteTable:
    """Build the table for a SentencePiece model."""
    n = sp.vocab_size()
    base = np.zeros(n, dtype=np.int64)
    space = np.zeros(n, dtype=bool)
    boundary = np.zeros(n, dtype=bool)
    for i in range(n):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            boundary[i] = True
            continue
        if sp.is_byte(i):
            base[i] = 1
            continue
        piece = sp.id_to_piece(i)
        if piece.startswith(SPACE):
            space[i] = True
            piece = piece[1:]
        base[i] = len(piece.encode("utf-8"))
    return TokenByteTable(base, space, boundary)
