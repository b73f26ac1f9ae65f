"""SentencePiece BPE tokenizers trained on our own text, and datasets in the challenge's layout."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm

from golfkit.data.shards import write_shard
from golfkit.data.synthetic import documents
from golfkit.data.token_bytes import byte_table
from golfkit.errors import GolfkitError
from golfkit.writes import write_file

BOS_ID = 1
# Documents per train shard: small shards keep several files in play, as in the challenge.
DOCS_PER_TRAIN_SHARD = 20_000


def train_tokenizer(texts: list[str], vocab_size: int, model_path: str | Path) -> spm.SentencePieceProcessor:
    """Train a byte-fallback BPE model (ids: pad 0, BOS 1, EOS 2, unk 3) and write it to `model_path`.

    Identity normalization and no whitespace folding, so that decode(encode(text)) == text and
    byte counts of the tokens equal the UTF-8 length of the text.
    """
    buf = io.BytesIO()
    try:
        _train_bpe(texts, vocab_size, buf)
    except RuntimeError as exc:
        raise GolfkitError(
            f"cannot train a {vocab_size}-piece tokenizer ({str(exc).splitlines()[0]}); byte fallback needs "
            "260 pieces plus one per distinct character: raise --vocab-size (512 works)"
        ) from None
    Path(model_path).write_bytes(buf.getvalue())
    return spm.SentencePieceProcessor(model_proto=buf.getvalue())


def _train_bpe(texts: list[str], vocab_size: int, buf: io.BytesIO) -> None:
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=buf,
        model_type="bpe",
        vocab_size=vocab_size,
        byte_fallback=True,
        character_coverage=0.995,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        pad_id=0,
        bos_id=BOS_ID,
        eos_id=2,
        unk_id=3,
        hard_vocab_limit=True,
        num_threads=1,
        minloglevel=2,
    )


def load_tokenizer(path: str | Path, vocab_size: int | None = None) -> spm.SentencePieceProcessor:
    """Load a SentencePiece model, checking its vocabulary size when one is expected."""
    try:
        sp = spm.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError) as exc:
        raise GolfkitError(f"{path}: not a readable SentencePiece model ({str(exc).splitlines()[0]})") from None
    if vocab_size is not None and sp.vocab_size() != vocab_size:
        raise GolfkitError(f"{path}: tokenizer has {sp.vocab_size()} pieces but VOCAB_SIZE is {vocab_size}; they must match")
    return sp


def piece_tables(sp: spm.SentencePieceProcessor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per token id: (bytes of the piece without its leading "▁", has a leading "▁", is a boundary token).

    golfkit's one byte table (`golfkit.data.token_bytes`, docs/reference-model.md), as arrays.
    """
    table = byte_table(sp)
    return table.base_bytes, table.leading_space, table.boundary


def target_bytes(sp: spm.SentencePieceProcessor, tokens: np.ndarray) -> np.ndarray:
    """Bytes of each target of a token stream: entry j counts token j + 1 given its predecessor token j."""
    table = byte_table(sp)
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.size and tokens.max() >= table.vocab_size:
        raise GolfkitError(f"token id {int(tokens.max())} is outside the tokenizer's {table.vocab_size} pieces")
    return table.target_bytes(tokens)


def encode_documents(sp: spm.SentencePieceProcessor, docs: list[str]) -> np.ndarray:
    """[BOS] + tokens for each document, concatenated, as in the challenge's shards."""
    out: list[int] = []
    for ids in sp.encode(docs):
        out.append(BOS_ID)
        out.extend(ids)
    return np.asarray(out, dtype=np.uint16)


@dataclass(frozen=True)
class Dataset:
    root: Path
    tokenizer: Path
    train_shards: list[Path]
    val_shard: Path
    val_tokens: int
    val_bytes: int


DATASET_FILES = ("tokenizer.model", "fineweb_train_*.bin", "fineweb_val_*.bin")


def existing_dataset(out: Path) -> list[Path]:
    """The files of a dataset already in `out` (a tokenizer and shards), which a new one would replace or mix with."""
    if not out.is_dir():
        return []
    return sorted({p for pattern in DATASET_FILES for p in out.glob(pattern)})


def make_dataset(out: str | Path, vocab_size: int = 512, train_docs: int = 40_000, val_docs: int = 1_000,
                 seed: int = 0, force: bool = False) -> Dataset:
    """Synthetic corpus -> tokenizer -> train and val shards under `out` (created if needed).

    Layout as the challenge: `<out>/tokenizer.model`, `<out>/fineweb_train_000000.bin`, ...,
    `<out>/fineweb_val_000000.bin`. Validation documents come from their own seed stream.
    A folder that already holds a dataset is refused without `force`; with it, the old tokenizer and every
    old shard are removed first, so that no shard made with another tokenizer stays beside the new ones
    (a trainer reads every fineweb_train_*.bin of the folder).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GolfkitError(f"{out}: not a folder; give a folder for the dataset")
    old = existing_dataset(out)
    if old and not force:
        shards = sum(p.suffix == ".bin" for p in old)
        raise GolfkitError(f"{out} already holds a dataset ({len(old) - shards} tokenizer, {shards} shard(s)): pass "
                           "--force to replace it (its shards are removed first, none is mixed with the new ones), "
                           "or give an empty folder")
    train = documents(train_docs, seed=seed)  # before anything is removed: a bad --vocab-size fails below
    val = documents(val_docs, seed=seed + 1_000_003)
    sp_blob = io.BytesIO()
    try:
        _train_bpe(train[: min(len(train), 20_000)], vocab_size, sp_blob)
    except RuntimeError as exc:
        raise GolfkitError(
            f"cannot train a {vocab_size}-piece tokenizer ({str(exc).splitlines()[0]}); byte fallback needs "
            "260 pieces plus one per distinct character: raise --vocab-size (512 works)"
        ) from None
    out.mkdir(parents=True, exist_ok=True)
    for path in old:
        if path.is_symlink() or path.is_file():
            path.unlink()
    tok_path = out / "tokenizer.model"
    write_file(tok_path, sp_blob.getvalue(), force=True)
    sp = spm.SentencePieceProcessor(model_proto=sp_blob.getvalue())
    shards = []
    for i in range(0, len(train), DOCS_PER_TRAIN_SHARD):
        path = out / f"fineweb_train_{i // DOCS_PER_TRAIN_SHARD:06d}.bin"
        write_shard(path, encode_documents(sp, train[i : i + DOCS_PER_TRAIN_SHARD]))
        shards.append(path)
    val_tokens = encode_documents(sp, val)
    val_path = out / "fineweb_val_000000.bin"
    write_shard(val_path, val_tokens)
    return Dataset(out, tok_path, shards, val_path, int(val_tokens.size), sum(len(d.encode()) for d in val))
