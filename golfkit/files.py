"""The one way golfkit reads a file it is given: a regular file of at most a bound of bytes, decoded
as its caller needs (UTF-8 text, or Python source by its coding line); and the one way it parses
Python source, `parse_source`: bounded in size, tokens and nesting before `ast.parse`, in depth after.

Anything else is a GolfkitError that says what is wrong, where, and what to do: a missing path,
a folder, a FIFO, socket or device (refused before a byte is read, so a FIFO never blocks), a
file over the bound (`TooLarge`), text that does not decode. Symlinks are followed; the target
must be a regular file.
"""

from __future__ import annotations

import ast
import io
import os
import stat
import tokenize
import warnings
from pathlib import Path

from golfkit.errors import GolfkitError

# Larger than any real training script (the biggest seen is ~160 KB) by far.
MAX_SCRIPT_BYTES = 8 << 20

# Bounds of `parse_source`. A syntax tree costs up to ~1 KB of memory per token (`a\n` repeated:
# 922 bytes per character under CPython 3.11), so the token count bounds memory, not the length:
# 300,000 tokens is at most ~300 MB, 10x the largest real script (30,255 tokens in 140 KB; the
# largest decoded wrapper payload has 14,502). A string literal is one token however long. Depth:
# real scripts' syntax trees are at most 20 deep; python-minifier fails past ~250 and CPython's
# parser and compiler past ~1,000, so 100 leaves room on both sides.
MAX_SOURCE_CHARS = MAX_SCRIPT_BYTES
MAX_SOURCE_TOKENS = 300_000
MAX_SOURCE_DEPTH = 100
# Where this Python's tokenize gives up on a source (the parser may still read it), a source this
# short is parsed anyway: its tree stays under the token bound's memory.
_UNCHECKED_CHARS = 256 << 10
_OPEN, _CLOSE, _UNARY = frozenset("([{"), frozenset(")]}"), frozenset({"-", "+", "~", "not", "await"})


class SourceRefused(GolfkitError):
    """Python source over a bound of `parse_source`. `kind`: "too_large" or "too_deep"; `where`: the
    name it was parsed under; `line`: where the bound was crossed (None when only the parser knows)."""

    def __init__(self, message: str, kind: str, where: str, line: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.where = where
        self.line = line


class SourceSyntaxError(GolfkitError):
    """Python source this Python cannot parse (a syntax error, a null byte); `line` when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


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


def parse_source(text: str, where: str = "source") -> ast.Module:
    """The syntax tree of the Python source `text`; `where` names it in messages ("train_gpt.py").

    Bounds before the tree is built: MAX_SOURCE_CHARS characters, MAX_SOURCE_TOKENS tokens, brackets
    and unary operators nested MAX_SOURCE_DEPTH deep (a tokenize pass that stops at the first bound
    crossed); after: a tree MAX_SOURCE_DEPTH deep (`a.b.c...` and `a+a+...` nest without brackets).
    Raises SourceRefused past a bound (never MemoryError or RecursionError), SourceSyntaxError for
    source this Python does not parse. Every golfkit caller of `ast.parse` goes through here.
    """
    if len(text) > MAX_SOURCE_CHARS:
        raise SourceRefused(f"{where}: {len(text):,} characters of Python source, more than golfkit parses "
                            f"({MAX_SOURCE_CHARS:,}); no training script is that large", "too_large", where)
    if not _prescan(text, where) and len(text) > _UNCHECKED_CHARS:
        raise SourceRefused(f"{where}: this Python cannot tokenize the source, and {len(text):,} characters are "
                            "too many to parse unchecked; check it under the Python it was written for", "too_large",
                            where)
    try:
        with warnings.catch_warnings():  # a record's invalid escapes are not ours to print (its name is not safe)
            warnings.simplefilter("ignore")
            tree = ast.parse(text, filename=where)
    except SyntaxError as exc:
        raise SourceSyntaxError(_syntax_message(exc, where), exc.lineno) from None
    except ValueError as exc:  # null bytes
        raise SourceSyntaxError(f"{where}: cannot parse ({exc}); save it as Python source text") from None
    except (MemoryError, RecursionError):
        # CPython's parser stack guard (MemoryError) or its tree builder's recursion guard fired.
        raise _too_deep(where, None) from None
    _check_depth(tree, where)
    return tree


def _prescan(text: str, where: str) -> bool:
    """Count tokens and bracket/unary nesting; raise SourceRefused at the first bound crossed.

    False when this Python's tokenize gives up before the end (the parser then says why, or the
    caller refuses an unchecked text too long to parse safely).
    """
    count = depth = unary = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.NL, tokenize.COMMENT):
                continue
            count += 1
            string = token.string
            if token.type == tokenize.STRING and "f" in string[: len(string) - len(string.lstrip("rRbBuUfF"))].lower():
                count += 3 * string.count("{")  # before 3.12, an f-string is one token of many tree nodes
            line = token.start[0]
            if count > MAX_SOURCE_TOKENS:
                raise SourceRefused(f"{where}:{line}: more than {MAX_SOURCE_TOKENS:,} tokens of Python source (real "
                                    "scripts: ~30,000); golfkit does not parse that", "too_large", where, line)
            if token.type == tokenize.OP and string in _OPEN:
                depth += 1
            elif token.type == tokenize.OP and string in _CLOSE:
                depth = max(0, depth - 1)
            unary = unary + 1 if token.type in (tokenize.OP, tokenize.NAME) and string in _UNARY else 0
            if depth + unary > MAX_SOURCE_DEPTH:
                raise _too_deep(where, line)
    except (tokenize.TokenError, SyntaxError):
        return False
    return True


def _check_depth(tree: ast.AST, where: str) -> None:
    """Refuse a tree deeper than MAX_SOURCE_DEPTH (walked without recursion)."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SOURCE_DEPTH:
            raise _too_deep(where, getattr(node, "lineno", None))
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _too_deep(where: str, line: int | None) -> SourceRefused:
    at = f"{where}:{line}" if line else where
    return SourceRefused(f"{at}: expressions nest more than {MAX_SOURCE_DEPTH} levels deep (real scripts: ~20); "
                         "golfkit does not parse that", "too_deep", where, line)


def _syntax_message(exc: SyntaxError, where: str) -> str:
    hint = "fix the syntax error"
    if "f-string" in str(exc.msg):
        hint = "it may need Python 3.12 (nested same-quote f-strings); run golfkit under 3.12"
    at = f"{where}:{exc.lineno}" if exc.lineno else where
    return f"{at}: cannot parse ({exc.msg}); {hint}"


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
