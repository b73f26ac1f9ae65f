"""Large real scripts to measure minify on: records' scripts, sources embedded in their logs, stand-ins.

Many records' logs start with the full source of the script that ran, then a line of 100 `=` and
`Running Python ...`. When no record folder is at hand, large modules of the installed torch stand
in: real PyTorch code of the same size range (47-160 KB), not training scripts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

RULE = "=" * 100
STAND_INS = (
    "torch/optim/optimizer.py",
    "torch/distributed/fsdp/_fully_shard/_fsdp_param.py",
    "torch/utils/data/dataloader.py",
    "torch/nn/parallel/distributed.py",
    "torch/_dynamo/variables/builtin.py",
    "torch/_functorch/partitioners.py",
)


def embedded_source(log_text: str) -> str | None:
    """The script source a log starts with, or None when the log does not start with one.

    The source is everything before the log's first line of 100 `=`, when `Running Python` follows
    that line; logs that open with the rule (the `Hyperparameters:` layout) carry no source.
    """
    lines = log_text.split("\n")
    first = next((i for i, line in enumerate(lines) if line == RULE), None)
    if not first or first + 1 >= len(lines) or not lines[first + 1].startswith("Running Python"):
        return None
    return "\n".join(lines[:first])


def embedded_sources(corpus: Path) -> list[tuple[str, str]]:
    """(name, source) of each distinct script embedded in a log under `corpus`, largest first."""
    seen: dict[str, tuple[str, str]] = {}
    for path in sorted(corpus.rglob("*")):
        if not path.is_file() or path.suffix not in (".log", ".txt"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        source = embedded_source(text)
        if source is None or source.startswith("[embedded source removed"):
            continue
        digest = hashlib.sha256(source.encode()).hexdigest()
        seen.setdefault(digest, (str(path.relative_to(corpus)), source))
    return sorted(seen.values(), key=lambda item: -len(item[1]))


def corpus_scripts(corpus: Path) -> list[tuple[str, str]]:
    """(name, source) of each distinct script under `corpus`: every shipped `train_gpt*.py` and every
    source embedded in a log, largest first. Wrappers are returned as shipped, not decoded."""
    seen: dict[str, tuple[str, str]] = {}
    shipped = [(str(path.relative_to(corpus)), path.read_bytes().decode("utf-8"))
               for path in sorted(corpus.rglob("train_gpt*.py"))]
    for name, source in shipped + embedded_sources(corpus):
        seen.setdefault(hashlib.sha256(source.encode()).hexdigest(), (name, source))
    return sorted(seen.values(), key=lambda item: -len(item[1]))


def corpus_programs(corpus: Path) -> list[tuple[str, str]]:
    """(name, source) of every distinct Python program under `corpus`: each `*.py` file (training scripts,
    data-preparation scripts, helper modules) and each source embedded in a log, largest first."""
    seen: dict[str, tuple[str, str]] = {}
    shipped = [(str(path.relative_to(corpus)), path.read_bytes().decode("utf-8"))
               for path in sorted(corpus.rglob("*.py")) if path.is_file() and not path.is_symlink()]
    for name, source in shipped + embedded_sources(corpus):
        seen.setdefault(hashlib.sha256(source.encode()).hexdigest(), (name, source))
    return sorted(seen.values(), key=lambda item: -len(item[1]))


def stand_in_sources(names: tuple[str, ...] = STAND_INS) -> list[tuple[str, str]]:
    """(name, source) of the installed torch modules listed in `names` that exist."""
    try:
        import torch
    except ImportError:
        return []
    root = Path(torch.__file__).parent.parent
    found = []
    for name in names:
        path = root / name
        if path.is_file():
            found.append((name, path.read_text(encoding="utf-8")))
    return found
