"""The challenge's facts, each written once: the byte cap, the time budgets, the tracks and how they
are spelled, the record folder layout, which script of a folder is its training script, and the
validation variants. docs/verify.md#rules-golfkit-applies says where each one comes from.

Only the standard library and golfkit.errors below this module: every layer may read a fact.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# Code bytes + compressed model bytes, decimal (16 MB, not 16 MiB).
SIZE_CAP_BYTES = 16_000_000
# Wall-clock budgets on 8xH100 of the 10-minute track, in seconds; evaluation is a separate budget.
TRAIN_BUDGET_S = 600.0
EVAL_BUDGET_S = 600.0
# The 10-minute track's machine: 8 GPUs of this model (nvidia-smi names it `NVIDIA H100 80GB HBM3`, ...).
TIMED_TRACK_GPU = "H100"
TIMED_TRACK_GPUS = 8

# ---------------------------------------------------------------- tracks and folders

TIMED_TRACK = "10min_16mb"
UNTIMED_TRACK = "non_record_16mb"  # the time budgets do not apply
TRACKS = (TIMED_TRACK, UNTIMED_TRACK)
RECORDS_DIR = "records"
TRACK_PREFIX = "track_"
FOLDER_NAME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})_(.+)$")


def normalise_track(name: str) -> str | None:
    """The track that `name` spells, or None when it names none.

    Case and `-`/`_` do not matter; a `track_` folder name works too. "non_record" or "unlimited"
    anywhere means the non-record track ("non-record-unlimited-compute-16mb"); "10min" or "10_min"
    means the 10-minute track.
    """
    spelled = name.lower().replace("-", "_")
    if "non_record" in spelled or "unlimited" in spelled:
        return UNTIMED_TRACK
    if "10min" in spelled or "10_min" in spelled:
        return TIMED_TRACK
    return None


def is_track_folder(name: str) -> bool:
    """True for the name of a folder that holds the record folders of one track (`track_*`)."""
    return name.startswith(TRACK_PREFIX)


def folder_name_problem(name: str) -> str | None:
    """Why `name` is not a valid record folder name (`YYYY-MM-DD_slug`), or None when it is."""
    match = FOLDER_NAME.match(name)
    if match is None:
        return "it does not start with a date and an underscore (YYYY-MM-DD_slug)"
    year, month, day, slug = match.groups()
    try:
        datetime.date(int(year), int(month), int(day))
    except ValueError:
        return f"{year}-{month}-{day} is not a calendar date"
    if any(ch.isspace() for ch in slug):
        return "it contains whitespace"
    if any(not ch.isprintable() for ch in slug):
        return "it contains control characters"
    return None


# ---------------------------------------------------------------- the training script

MAIN_SCRIPT = "train_gpt.py"


@dataclass(frozen=True)
class ScriptChoice:
    """The training script of a record folder; `guessed_among` lists the train_gpt*.py files when
    the rule could only take the first of several (empty when the choice is certain)."""

    name: str
    guessed_among: tuple[str, ...] = ()


def main_script(sizes: Mapping[str, int], claimed_code_bytes: int | None = None) -> ScriptChoice | None:
    """Which of a folder's top-level .py files (`sizes`: name -> bytes) is its training script.

    train_gpt.py; else the train_gpt*.py whose size is the claimed bytes_code; else the only
    train_gpt*.py; else the first train_gpt*.py by name (a guess); else the only .py file; else None.
    """
    named = sorted(name for name in sizes if name.startswith("train_gpt") and name.endswith(".py"))
    if MAIN_SCRIPT in named:
        return ScriptChoice(MAIN_SCRIPT)
    for name in named:
        if claimed_code_bytes is not None and sizes[name] == claimed_code_bytes:
            return ScriptChoice(name)
    if len(named) == 1:
        return ScriptChoice(named[0])
    if named:
        return ScriptChoice(named[0], tuple(named))
    scripts = [name for name in sizes if name.endswith(".py")]
    return ScriptChoice(scripts[0]) if len(scripts) == 1 else None


# ---------------------------------------------------------------- validation variants


@dataclass(frozen=True)
class Variant:
    """A validation set: the target count that logs print and the UTF-8 byte count of those targets."""

    name: str
    val_tokens: int
    val_bytes: int | None
    source: str = "manifest"


@lru_cache(maxsize=1)
def known_variants() -> tuple[Variant, ...]:
    """The variants listed in golfkit/data/variants.json (the data; this is its one reader)."""
    text = resources.files("golfkit").joinpath("data").joinpath("variants.json").read_text(encoding="utf-8")
    return tuple(Variant(v["name"], v["val_tokens"], v["val_bytes"]) for v in json.loads(text)["variants"])


def variant_for_tokens(tokens: int) -> Variant | None:
    """The known variant whose logs print `tokens` validation targets, or None."""
    return next((v for v in known_variants() if v.val_tokens == tokens), None)
