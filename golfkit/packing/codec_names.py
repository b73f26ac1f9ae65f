"""The `--codec` names `golfkit build` accepts, checked without importing torch or numpy (so that a typo is
refused at once, before seconds of imports and checkpoint loading)."""

from __future__ import annotations

import importlib.util
import re

from golfkit.errors import GolfkitError

SPEC = re.compile(r"(none|zlib|zstd|lzma|xz|brotli)(?:-(\d+)e?)?(-long)?(?::(row|col|shuffle))?")
CODEC_HELP = "best, ans, zstd, zlib, or NAME[-LEVEL][-long][:row|col|shuffle] with NAME in none zlib zstd lzma xz brotli"
BROTLI_HINT = "pip install 'golfkit[brotli]'"


def check_codec(text: str) -> str:
    """`text` stripped, or GolfkitError naming the valid forms (and the missing module for brotli)."""
    t = text.strip()
    if t in ("zstd", "zlib", "ans", "best"):
        return t
    m = SPEC.fullmatch(t)
    if not m:
        raise GolfkitError(f"unknown codec {text!r}: use {CODEC_HELP}")
    if m.group(1) == "brotli" and not have_brotli():
        raise GolfkitError(f"--codec {t} needs the brotli module, which is not installed: {BROTLI_HINT}, "
                           "or pick another codec (best, lzma-9, zstd-22)")
    return t


def have_brotli() -> bool:
    """Whether the optional brotli module can be imported."""
    try:
        return importlib.util.find_spec("brotli") is not None
    except (ImportError, ValueError):  # sys.modules["brotli"] = None (a test hiding it) raises ValueError
        return False
