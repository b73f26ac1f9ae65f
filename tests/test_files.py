"""golfkit.files: the one reader of the files golfkit is given. Regular files within a bound only;
a folder, FIFO, device or oversized file is a GolfkitError saying what and where, never a hang."""

from __future__ import annotations

import os

import pytest

from golfkit.errors import GolfkitError
from golfkit.files import TooLarge, decode_source, read_bytes, read_source, read_text
from golfkit.minify.wrap import candidates
from golfkit.wrappers import unwrap_source

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def test_a_regular_file_is_read_whole(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"\x00\x01golf")
    assert read_bytes(path, 6) == b"\x00\x01golf"


def test_a_file_at_the_bound_is_read_and_one_byte_over_is_refused(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * 10)
    assert read_bytes(path, 10) == b"x" * 10
    with pytest.raises(TooLarge, match=r"big\.json: 10 bytes, more than a submission JSON ever holds \(9\)") as info:
        read_bytes(path, 9, "a submission JSON")
    assert (info.value.size, info.value.limit) == (10, 9)
    assert isinstance(info.value, GolfkitError)


def test_a_missing_file_says_what_to_give(tmp_path):
    with pytest.raises(GolfkitError, match=r"nope\.py: no such file; give the path of a Python script"):
        read_source(tmp_path / "nope.py")


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(GolfkitError, match="a folder, not a file"):
        read_bytes(tmp_path, 100)


@needs_fifo
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "train.log"
    os.mkfifo(fifo)
    with pytest.raises(GolfkitError, match=r"train\.log: not a regular file \(a FIFO\)"):
        read_bytes(fifo, 100)


@needs_fifo
def test_a_symlink_to_a_fifo_is_refused_and_one_to_a_file_is_followed(tmp_path):
    fifo, target = tmp_path / "pipe", tmp_path / "real.txt"
    os.mkfifo(fifo)
    target.write_text("hello", encoding="utf-8")
    (tmp_path / "to_pipe").symlink_to(fifo)
    (tmp_path / "to_real").symlink_to(target)
    with pytest.raises(GolfkitError, match="not a regular file"):
        read_text(tmp_path / "to_pipe", 100)
    assert read_text(tmp_path / "to_real", 100) == "hello"


def test_a_dangling_symlink_is_a_missing_file(tmp_path):
    (tmp_path / "gone").symlink_to(tmp_path / "never-there")
    with pytest.raises(GolfkitError, match="no such file"):
        read_bytes(tmp_path / "gone", 100)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_refused_before_it_is_read():
    with pytest.raises(GolfkitError, match=r"not a regular file \(a device\)"):
        read_bytes("/dev/zero", 100)  # would never end if it were read


def test_text_is_utf8_with_its_bom_dropped_and_other_bytes_refused(tmp_path):
    good, bad = tmp_path / "meta.json", tmp_path / "bad.json"
    good.write_bytes(b"\xef\xbb\xbf{\"a\": \"\xc3\xa9\"}")
    bad.write_bytes(b"{\"a\": \"\xe9\"}")
    assert read_text(good, 100) == '{"a": "\u00e9"}'
    with pytest.raises(GolfkitError, match=r"bad\.json: not UTF-8 text \(byte 7\); save it as UTF-8"):
        read_text(bad, 100)


def test_a_latin1_wrapper_is_read_by_its_coding_line(tmp_path):
    program = "def f(x):\n    return 'caf\u00e9' * x\n\n\nprint(f(3))\n" * 20
    (wrapper,) = candidates(program, ("lzma",), ("latin1",))
    path = tmp_path / "train_gpt.py"
    path.write_bytes(wrapper.data)
    with pytest.raises(UnicodeDecodeError):
        wrapper.data.decode("utf-8")
    text = read_source(path)
    assert text.startswith("#coding:l1\n")
    assert unwrap_source(text).source == program


def test_source_without_a_coding_line_must_be_utf8():
    assert decode_source(b"\xef\xbb\xbfx = '\xc3\xa9'\n") == "x = '\u00e9'\n"
    with pytest.raises(GolfkitError, match="s.py: not valid Python source text"):
        decode_source(b"x = '\xe9'\n", "s.py")
