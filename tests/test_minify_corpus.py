"""minify on large real code: every script of the corpus (shipped and embedded in logs) and torch stand-ins.

Behaviour only: each packs with its proof passing, and the packed script's own decoder yields the minified
source. How small the output is against the records' recipe is a figure: bench/bench_minify.py.
"""

from __future__ import annotations

import sys

import pytest
from _corpus import CORPUS, corpus_params, corpus_present

from golfkit.errors import GolfkitError
from golfkit.minify.packer import Packed, pack
from golfkit.minify.samples import RULE, corpus_scripts, embedded_source, stand_in_sources

SCRIPTS = corpus_scripts(CORPUS) if corpus_present() else []


def decoded_by_running(packed: Packed) -> str:
    """What the packed script hands to exec, found by running its own decoder with `exec` captured."""
    if packed.chosen is None:
        return packed.output.decode("utf-8")
    handed: list = []
    decoder = compile(packed.output, packed.where, "exec")
    exec(decoder, {"__name__": "packed", "exec": handed.append})  # noqa: S102 - our own wrapper; its exec is captured
    (code,) = handed
    return code.decode("utf-8") if isinstance(code, bytes) else code


def test_embedded_source_is_the_block_before_the_rule():
    source = "import os\nprint(os.getcwd())\n"
    log = source + "\n" + RULE + "\nRunning Python 3.12.3\nRunning PyTorch 2.9\n" + RULE + "\nstep:1/2\n"
    assert embedded_source(log) == source
    assert embedded_source(RULE + "\nHyperparameters:\n  seed: 1\n" + RULE + "\nRunning Python 3\n") is None
    assert embedded_source("step:1/20 train_loss:6.9\n") is None


@pytest.mark.parametrize(("name", "source"), corpus_params([pytest.param(n, t, id=n) for n, t in SCRIPTS], width=2))
def test_each_corpus_script_packs_with_its_proof_and_decodes_to_the_minified_source(name, source):
    try:
        packed = pack(source, name)
    except GolfkitError as exc:
        # Python 3.12 syntax (nested same-quote f-strings) cannot be read by older interpreters.
        assert sys.version_info < (3, 12) and "cannot parse" in str(exc)
        return
    assert packed.ok and "minify.proof.ok" in [f.id for f in packed.findings]
    assert decoded_by_running(packed) == packed.minified.source


@pytest.mark.parametrize("name", ["torch/optim/optimizer.py", "torch/utils/data/dataloader.py"])
def test_large_torch_modules_pack_with_the_proof_passing(name):
    found = stand_in_sources((name,))
    if not found:
        pytest.skip(f"{name} is not in the installed torch")
    (_, source), = found
    packed = pack(source, name)
    assert packed.ok and "minify.proof.ok" in [f.id for f in packed.findings]
    assert decoded_by_running(packed) == packed.minified.source
