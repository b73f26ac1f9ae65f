"""Where the real-record corpus is, for every conformance test: one place, one skip reason.

$GOLFKIT_CORPUS when set, else ../shared/corpus next to the project root (not the current directory).
When it is absent, every test that needs it is skipped with `MISSING` as its reason, and conftest.py
says so in the run's summary. The benchmarks in bench/ read the same place (this module needs no pytest
until `corpus_params` is called).
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "GOLFKIT_CORPUS"
ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ[VARIABLE]).expanduser() if os.environ.get(VARIABLE) else ROOT.parent / "shared" / "corpus"
MISSING = f"real-record corpus not found at {CORPUS} (set {VARIABLE} to its folder)"


def corpus_present() -> bool:
    return CORPUS.is_dir()


def corpus_params(values: list, width: int = 1) -> list:
    """`values` for pytest.mark.parametrize over `width` names, or, when the corpus is absent, one case
    skipped with `MISSING` (an empty list would be skipped with pytest's own, silent reason)."""
    if corpus_present():
        return values
    import pytest

    return [pytest.param(*[None] * width, marks=pytest.mark.skip(reason=MISSING), id="no-corpus")]
