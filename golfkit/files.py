"""The one way golfkit reads a file it is given: a regular file of at most a bound of bytes, decoded
as its caller needs (UTF-8 text, or Python source by its coding line).

Anything else is a GolfkitError that says what is wrong, where, and what to do: a missing path,
a folder, a FIFO, socket or device (refused before a byte is read, so a FIFO never blocks), a
file over the bound (`TooLarge`), text that does not decode. Symlinks are followed; the target
must be a regular file.
"""

from __future__ import annotations

import io
import os
import stat
import tokenize
from pathlib import Path

from golfkit.errors import GolfkitError

# Larger than any real training script (the biggest seen is ~160 KB) by far.
MAX_SCRIPT_BYTES = 8 << 20


class TooLarge(GolfkitError):
    """The file holds more bytes than the bound it was read with."""

    def __init__(self, message: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


def read_bytes(path: str | Path, limit: int, what: str = "a file", where: str | None = None) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them.

    `what` names the expected file in messages ("a submission JSON"); `where` is the name to
    report (default: the path). Raises GolfkitError (TooLarge past `limit`) for anything else.
    """
    where = str(path) if where is None else where
    try:
        _refuse_special(os.stat(path).st_mode, where, what)  # before opening: a device is never opened
        # Non-blocking: should a FIFO replace the file now, opening it does not wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise GolfkitError(f"{where}: no such file; give the path of {what}") from None
    except OSError as exc:
        raise GolfkitError(f"{where}: cannot open ({exc.strerror}); check that it is {what} you may read") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        _refuse_special(info.st_mode, where, what)
        if info.st_size > limit:
            raise TooLarge(_too_large(where, info.st_size, limit, what), info.st_size, limit)
        try:
            data = handle.read(limit + 1)  # the file may have grown since fstat
        except OSError as exc:
            raise GolfkitError(f"{where}: cannot read ({exc.strerror}); check the file and the disk") from None
    if len(data) > limit:
        raise TooLarge(_too_large(where, len(data), limit, what), len(data), limit)
    return data


def read_text(path: str | Path, limit: int, what: str = "a text file", where: str | None = None) -> str:
    """The UTF-8 text of `path` (a leading BOM dropped); raises GolfkitError as `read_bytes` does, or
    when the bytes are not UTF-8."""
    where = str(path) if where is None else where
    data = read_bytes(path, limit, what, where)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GolfkitError(f"{where}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def read_source(path: str | Path, limit: int = MAX_SCRIPT_BYTES, where: str | None = None) -> str:
    """The text of the Python file `path`, decoded as `decode_source` does (a latin-1 wrapper works)."""
    where = str(path) if where is None else where
    return decode_source(read_bytes(path, limit, "a Python script", where), where)


def decode_source(data: bytes, where: str = "source") -> str:
    """Decode Python source bytes by their coding line (UTF-8 by default), as the interpreter does."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        raise GolfkitError(
            f"{where}: not valid Python source text ({exc}); save it as UTF-8 or declare its coding"
        ) from None
    return text.removeprefix("\ufeff")


def _refuse_special(mode: int, where: str, what: str) -> None:
    if stat.S_ISDIR(mode):
        raise GolfkitError(f"{where}: a folder, not a file; give the path of {what}")
    if not stat.S_ISREG(mode):
        raise GolfkitError(f"{where}: not a regular file (a {_kind(mode)}); give the path of {what}")


def _too_large(where: str, size: int, limit: int, what: str) -> str:
    return f"{where}: {size:,} bytes, more than {what} ever holds ({limit:,}); check that this is the right file"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"
