"""Data in the challenge's formats: synthetic corpus, tokenizer, shards, and `golfkit data`."""

from __future__ import annotations

import numpy as np
import pytest
from cli_helpers import assert_usage_error
from click.testing import CliRunner

from golfkit.cli import main as cli
from golfkit.data.shards import (
    HEADER_BYTES,
    MAGIC,
    check_shard,
    load_tokens,
    read_header,
    read_shard,
    shard_paths,
    write_shard,
)
from golfkit.data.synthetic import documents
from golfkit.data.tokenizer import (
    BOS_ID,
    encode_documents,
    load_tokenizer,
    make_dataset,
    piece_tables,
    target_bytes,
    train_tokenizer,
)
from golfkit.errors import GolfkitError

# Multi-byte text the corpus has (é, 東京) and characters it never has, which need byte fallback.
HARD_TEXT = "Zoë met José in 東京 ☕ at 7°C.\n  Two spaces, a tab\tand 𝄞 (U+1D11E), ∮ and 🦜."


@pytest.fixture(scope="module")
def sp(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "tokenizer.model"
    return train_tokenizer(documents(1500, seed=5), 512, path)


def test_synthetic_corpus_is_deterministic():
    a, b = documents(50, seed=3), documents(50, seed=3)
    assert a == b
    assert a != documents(50, seed=4)
    assert all(doc.strip() for doc in a)
    assert any(any(ord(c) > 127 for c in doc) for doc in documents(300, seed=3))


def test_tokenizer_round_trip_multibyte_and_byte_fallback(sp):
    ids = sp.encode(HARD_TEXT)
    assert sp.decode(ids) == HARD_TEXT
    assert any(sp.is_byte(i) for i in ids), "the rare characters should go through byte fallback"
    for doc in documents(100, seed=9):
        assert sp.decode(sp.encode(doc)) == doc


def test_target_bytes_equal_utf8_length_of_the_text(sp):
    docs = documents(40, seed=11) + [HARD_TEXT]
    stream = encode_documents(sp, docs)
    assert stream[0] == BOS_ID and int((stream == BOS_ID).sum()) == len(docs)
    assert int(target_bytes(sp, stream).sum()) == sum(len(d.encode("utf-8")) for d in docs)


def test_piece_tables_follow_the_byte_rules(sp):
    base, space, boundary = piece_tables(sp)
    assert boundary[BOS_ID] and base[BOS_ID] == 0
    byte_id = sp.piece_to_id("<0xE2>")
    assert sp.is_byte(byte_id) and base[byte_id] == 1 and not boundary[byte_id]
    word = next(i for i in range(sp.vocab_size()) if sp.id_to_piece(i).startswith("\u2581") and len(sp.id_to_piece(i)) > 2)
    assert space[word] and base[word] == len(sp.id_to_piece(word)[1:].encode())
    # A leading space after a boundary token (start of document) is not counted.
    assert target_bytes(sp, np.array([BOS_ID, word])).tolist() == [base[word]]
    assert target_bytes(sp, np.array([word, word])).tolist() == [base[word] + 1]


def test_tokenizer_errors(tmp_path, sp):
    with pytest.raises(GolfkitError, match="raise --vocab-size"):
        train_tokenizer(documents(200), 300, tmp_path / "small.model")
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"not a model")
    with pytest.raises(GolfkitError, match="not a readable SentencePiece model"):
        load_tokenizer(junk)
    good = tmp_path / "good.model"
    good.write_bytes(sp.serialized_model_proto())
    assert load_tokenizer(good, 512).vocab_size() == 512
    with pytest.raises(GolfkitError, match="VOCAB_SIZE is 1024"):
        load_tokenizer(good, 1024)
    with pytest.raises(GolfkitError, match="outside the tokenizer"):
        target_bytes(sp, np.array([1, 600]))


def test_shard_write_read_round_trip(tmp_path):
    tokens = np.array([1, 5, 65535, 0, 300], dtype=np.uint16)
    path = tmp_path / "fineweb_val_000000.bin"
    write_shard(path, tokens)
    assert path.stat().st_size == HEADER_BYTES + 2 * tokens.size
    header = np.fromfile(path, dtype="<i4", count=3)
    assert header.tolist() == [MAGIC, 1, tokens.size]
    assert read_header(path) == tokens.size
    assert np.array_equal(read_shard(path), tokens)
    info = check_shard(path)
    assert (info.num_tokens, info.max_token) == (5, 65535)
    write_shard(tmp_path / "fineweb_val_000001.bin", np.array([7, 8], dtype=np.uint16))
    assert shard_paths(tmp_path) == [path, tmp_path / "fineweb_val_000001.bin"]
    assert load_tokens(tmp_path).tolist() == tokens.tolist() + [7, 8]


def _shard_bytes(tokens, magic=MAGIC, version=1, count=None) -> bytes:
    header = np.zeros(256, dtype="<i4")
    header[:3] = (magic, version, len(tokens) if count is None else count)
    return header.tobytes() + np.asarray(tokens, dtype="<u2").tobytes()


@pytest.mark.parametrize("blob, match", [
    (_shard_bytes([1, 2, 3], magic=12345), "wrong magic 12345"),
    (_shard_bytes([1, 2, 3], version=2), "shard version 2"),
    (_shard_bytes([1, 2, 3])[:-2], "header says 3 tokens"),
    (_shard_bytes([1, 2, 3]) + b"\x00\x00", "header says 3 tokens"),
    (_shard_bytes([1, 2, 3], count=-1), "header says -1 tokens"),
    (_shard_bytes([])[:100], "shorter than the 1024-byte shard header"),
], ids=["wrong-magic", "wrong-version", "truncated", "extra-bytes", "negative-count", "short-header"])
def test_bad_shards_are_refused(tmp_path, blob, match):
    path = tmp_path / "fineweb_val_000000.bin"
    path.write_bytes(blob)
    with pytest.raises(GolfkitError, match=match) as exc:
        read_shard(path)
    assert str(path) in str(exc.value)


def test_shard_token_range_and_missing_files(tmp_path):
    path = tmp_path / "fineweb_train_000000.bin"
    write_shard(path, np.array([1, 2, 700], dtype=np.uint16))
    assert check_shard(path, vocab_size=701).max_token == 700
    with pytest.raises(GolfkitError, match="token id 700 is outside the vocabulary of 512"):
        check_shard(path, vocab_size=512)
    with pytest.raises(GolfkitError, match="tokens must fit in uint16"):
        write_shard(tmp_path / "x.bin", np.array([70000]))
    with pytest.raises(GolfkitError, match="no val shards match"):
        shard_paths(tmp_path, "val")
    with pytest.raises(GolfkitError, match="cannot read shard"):
        read_shard(tmp_path / "missing.bin")


def test_make_dataset_layout_and_byte_count(tmp_path):
    ds = make_dataset(tmp_path / "d", vocab_size=512, train_docs=1500, val_docs=20, seed=1)
    assert ds.tokenizer.exists() and ds.val_shard.name == "fineweb_val_000000.bin"
    assert [p.name for p in ds.train_shards] == ["fineweb_train_000000.bin"]
    val = read_shard(ds.val_shard)
    assert val.size == ds.val_tokens and int((val == BOS_ID).sum()) == 20
    sp = load_tokenizer(ds.tokenizer, 512)
    assert int(target_bytes(sp, val).sum()) == ds.val_bytes
    again = make_dataset(tmp_path / "e", vocab_size=512, train_docs=1500, val_docs=20, seed=1)
    assert again.val_shard.read_bytes() == ds.val_shard.read_bytes()


def test_cli_synth_and_check(tmp_path):
    runner = CliRunner()
    out = tmp_path / "synth"
    res = runner.invoke(cli, ["data", "synth", str(out), "--train-docs", "1500", "--val-docs", "10"])
    assert res.exit_code == 0, res.output
    assert "val:" in res.output and (out / "fineweb_val_000000.bin").exists()
    res = runner.invoke(cli, ["data", "check", str(out / "fineweb_val_000000.bin"), "--vocab-size", "512"])
    assert res.exit_code == 0 and ": ok, " in res.output

    bad = tmp_path / "bad.bin"
    bad.write_bytes(_shard_bytes([1, 2], magic=7))
    assert_usage_error(runner.invoke(cli, ["data", "check", str(bad)]), "wrong magic 7")
    res = runner.invoke(cli, ["data", "check", str(out / "fineweb_val_000000.bin"), "--vocab-size", "100"])
    assert res.exit_code == 2 and "outside the vocabulary of 100" in res.stderr
    res = runner.invoke(cli, ["data", "synth", str(tmp_path / "tiny"), "--vocab-size", "300", "--train-docs", "100"])
    assert res.exit_code == 2 and "raise --vocab-size" in res.stderr


def test_synth_never_replaces_or_mixes_a_dataset_without_force(tmp_path):
    runner = CliRunner()
    out = tmp_path / "synth"
    args = ["data", "synth", str(out), "--train-docs", "600", "--val-docs", "5"]
    assert runner.invoke(cli, args).exit_code == 0
    tokenizer = (out / "tokenizer.model").read_bytes()
    stale = out / "fineweb_train_000007.bin"  # a shard of an earlier, larger corpus with the old tokenizer
    write_shard(stale, np.arange(10, dtype=np.uint16))
    line = assert_usage_error(runner.invoke(cli, [*args, "--seed", "3"]), str(out), "already holds a dataset", "--force")
    assert "1 tokenizer, 3 shard(s)" in line  # it says what is there
    assert (out / "tokenizer.model").read_bytes() == tokenizer and stale.exists()
    # a bad vocabulary with --force fails before anything is removed
    bad = runner.invoke(cli, [*args, "--force", "--vocab-size", "300"])
    assert bad.exit_code == 2 and stale.exists() and (out / "tokenizer.model").read_bytes() == tokenizer
    res = runner.invoke(cli, [*args, "--seed", "3", "--force"])
    assert res.exit_code == 0, res.output
    assert not stale.exists()
    assert sorted(p.name for p in out.iterdir()) == ["fineweb_train_000000.bin", "fineweb_val_000000.bin",
                                                     "tokenizer.model"]
    assert (out / "tokenizer.model").read_bytes() != tokenizer
    assert_usage_error(runner.invoke(cli, ["data", "synth", str(stale.parent / "tokenizer.model")]), "not a folder")
