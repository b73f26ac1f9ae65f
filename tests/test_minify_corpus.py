"""minify on large real code: every program of the corpus (shipped and embedded in logs) and torch stand-ins.

Behaviour only: each packs with its proof passing, the packed script's own decoder yields the minified source,
and the behaviour proof (both imported in golfkit's sandbox, compared name by name, a seeded small GPT's loss
bit for bit) finds no difference. How small the output is against the records' recipe is a figure:
bench/bench_minify.py.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
from _corpus import CORPUS, corpus_params, corpus_present

from golfkit.errors import GolfkitError
from golfkit.minify.behaviour import prove_behaviour
from golfkit.minify.packer import Packed, pack
from golfkit.minify.samples import RULE, corpus_programs, corpus_scripts, embedded_source, stand_in_sources
from golfkit.sandbox import unavailable_reason

SCRIPTS = corpus_scripts(CORPUS) if corpus_present() else []
PROGRAMS = corpus_programs(CORPUS) if corpus_present() else []


def decoded_by_running(packed: Packed) -> str:
    """What the packed script compiles and runs, found by running its own decoder with compile and exec captured."""
    if packed.chosen is None:
        return packed.output.decode("utf-8")
    handed: list = []
    decoder = compile(packed.output, packed.where, "exec")
    fake = f"<golfkit test {id(handed)}>"
    scope = {"__name__": "packed", "__file__": fake, "compile": lambda text, name, mode: text,
             "exec": lambda code, scope=None: handed.append(code)}
    try:
        exec(decoder, scope)  # noqa: S102 - our own wrapper; its compile and exec are captured
    finally:
        __import__("linecache").cache.pop(fake, None)
    (code,) = handed
    return code


@functools.cache
def packed_program(name: str) -> Packed | None:
    """The program packed once for every test here (None: this Python cannot parse it)."""
    source = dict(PROGRAMS)[name]
    try:
        return pack(source, name)
    except GolfkitError as exc:
        # Python 3.12 syntax (nested same-quote f-strings) cannot be read by older interpreters.
        assert sys.version_info < (3, 12) and "cannot parse" in str(exc)
        return None


def test_embedded_source_is_the_block_before_the_rule():
    source = "import os\nprint(os.getcwd())\n"
    log = source + "\n" + RULE + "\nRunning Python 3.12.3\nRunning PyTorch 2.9\n" + RULE + "\nstep:1/2\n"
    assert embedded_source(log) == source
    assert embedded_source(RULE + "\nHyperparameters:\n  seed: 1\n" + RULE + "\nRunning Python 3\n") is None
    assert embedded_source("step:1/20 train_loss:6.9\n") is None


def test_every_corpus_script_is_a_program_of_the_corpus():
    assert {name for name, _ in SCRIPTS} <= {name for name, _ in PROGRAMS} or not corpus_present()


@pytest.mark.parametrize("name", corpus_params([pytest.param(n, id=n) for n, _ in PROGRAMS]))
def test_each_corpus_program_packs_with_its_proof_and_decodes_to_the_minified_source(name):
    packed = packed_program(name)
    if packed is None:
        return
    assert packed.ok and "minify.proof.ok" in [f.id for f in packed.findings]
    assert decoded_by_running(packed) == packed.minified.source


@pytest.mark.slow
@pytest.mark.fires("minify.behaviour.ok")
@pytest.mark.quiet("minify.behaviour.differs")
@pytest.mark.parametrize("name", corpus_params([pytest.param(n, id=n) for n, _ in PROGRAMS]))
def test_each_corpus_program_behaves_like_its_original_when_packed(name):
    """The behaviour proof over the whole corpus, in the sandbox (the Triton scripts under golfkit's stand-ins):
    zero differences, and every program that imports here is compared."""
    if unavailable_reason() is not None:
        pytest.skip(f"no sandbox here: {unavailable_reason()}")
    packed = packed_program(name)
    if packed is None:
        pytest.skip(f"{name} needs Python 3.12 to parse")
    folder = (CORPUS / name).parent
    script_name = Path(name).name if name.endswith(".py") else "train_gpt.py"
    found = prove_behaviour(packed.source, packed.output, name, script_name=script_name, folder=folder)
    assert [f.id for f in found] == ["minify.behaviour.ok"], [f.message for f in found]


@pytest.mark.parametrize("name", ["torch/optim/optimizer.py", "torch/utils/data/dataloader.py"])
def test_large_torch_modules_pack_with_the_proof_passing(name):
    found = stand_in_sources((name,))
    if not found:
        pytest.skip(f"{name} is not in the installed torch")
    (_, source), = found
    packed = pack(source, name)
    assert packed.ok and "minify.proof.ok" in [f.id for f in packed.findings]
    assert decoded_by_running(packed) == packed.minified.source
