"""minify on large real code: scripts embedded in corpus logs (when they carry them) and torch stand-ins."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from golfkit.errors import GolfkitError
from golfkit.minify.packer import pack
from golfkit.minify.samples import RULE, embedded_source, embedded_sources, stand_in_sources

CORPUS = Path(os.environ.get("GOLFKIT_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
GOAL = 0.72


def test_embedded_source_is_the_block_before_the_rule():
    source = "import os\nprint(os.getcwd())\n"
    log = source + "\n" + RULE + "\nRunning Python 3.12.3\nRunning PyTorch 2.9\n" + RULE + "\nstep:1/2\n"
    assert embedded_source(log) == source
    assert embedded_source(RULE + "\nHyperparameters:\n  seed: 1\n" + RULE + "\nRunning Python 3\n") is None
    assert embedded_source("step:1/20 train_loss:6.9\n") is None


def corpus_sources() -> list[tuple[str, str]]:
    return embedded_sources(CORPUS) if CORPUS.is_dir() else []


@pytest.mark.skipif(not corpus_sources(), reason="no corpus, or its logs carry no embedded sources")
@pytest.mark.parametrize(("name", "source"), corpus_sources() or [("none", "")])
def test_embedded_record_scripts_meet_the_goal_or_are_cleanly_unparseable(name, source):
    try:
        packed = pack(source, name)
    except GolfkitError as exc:
        # Python 3.12 syntax (nested same-quote f-strings) cannot be read by older interpreters.
        assert sys.version_info < (3, 12) and "cannot parse" in str(exc)
        return
    assert packed.ok
    if len(source.encode()) > 40_000 and packed.records_recipe_bytes:
        assert len(packed.output) <= GOAL * packed.records_recipe_bytes


@pytest.mark.parametrize("name", ["torch/optim/optimizer.py", "torch/utils/data/dataloader.py"])
def test_large_torch_modules_meet_the_goal_with_the_proof_passing(name):
    found = stand_in_sources((name,))
    if not found:
        pytest.skip(f"{name} is not in the installed torch")
    (_, source), = found
    packed = pack(source, name)
    assert packed.ok and "minify.proof.ok" in [f.id for f in packed.findings]
    assert len(packed.output) <= GOAL * packed.records_recipe_bytes
