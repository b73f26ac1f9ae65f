"""minify's behaviour proof and the habits of real scripts a packer must survive (FIELD.md §11).

The proof imports the original and the packed script in golfkit's sandbox and compares what they define; each
case below packs a small script with the habit, checks the proof passes, and checks it fails, naming what
differs, when the habit is broken (annotations stripped from a Triton kernel or a custom op, a wrapper that
hides the source, a changed value, a changed model). `dir()`, `__doc__` and self-reading scripts are checked by
running the packed file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from cli_helpers import assert_usage_error
from click.testing import CliRunner

from golfkit.cli import main
from golfkit.minify.behaviour import prove_behaviour
from golfkit.minify.minify import minify_source
from golfkit.minify.packer import pack, records_recipe
from golfkit.minify.wrap import candidates
from golfkit.sandbox import unavailable_reason

needs_sandbox = pytest.mark.skipif(unavailable_reason() is not None, reason=f"no sandbox: {unavailable_reason()}")

MODEL = textwrap.dedent('''
    import os
    import torch
    from torch import nn
    import torch.nn.functional as F


    class Hyperparameters:
        vocab_size = int(os.environ.get("VOCAB_SIZE", 1024))
        num_layers = int(os.environ.get("NUM_LAYERS", 9))
        model_dim = int(os.environ.get("MODEL_DIM", 512))
        logit_softcap = 30.0


    class Block(nn.Module):
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.fc = nn.Linear(dim, 2 * dim)
            self.proj = nn.Linear(2 * dim, dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            hidden_activation = F.relu(self.fc(x)).square()
            return x + 0.5 * self.proj(hidden_activation)


    class GPT(nn.Module):
        def __init__(self, vocab_size: int, num_layers: int, model_dim: int, logit_softcap: float) -> None:
            super().__init__()
            self.emb = nn.Embedding(vocab_size, model_dim)
            self.blocks = nn.ModuleList([Block(model_dim) for _ in range(num_layers)])
            self.logit_softcap = logit_softcap

        def forward(self, input_ids, target_ids):
            x = self.emb(input_ids)
            for block in self.blocks:
                x = block(x)
            logits = F.linear(x, self.emb.weight)
            logits = self.logit_softcap * torch.tanh(logits / self.logit_softcap)
            return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), target_ids.reshape(-1))


    def main():
        print(GPT(**{k: getattr(Hyperparameters, k) for k in ("vocab_size", "num_layers", "model_dim", "logit_softcap")}))


    if __name__ == "__main__":
        main()
''')

TRITON = textwrap.dedent('''
    import torch
    import triton
    import triton.language as tl


    @triton.jit
    def scale_kernel(x_ptr, out_ptr, n_elements, scale, BLOCK_SIZE: tl.constexpr):
        pid = tl.program_id(axis=0)
        offsets = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offsets < n_elements
        values = tl.load(x_ptr + offsets, mask=mask)
        tl.store(out_ptr + offsets, values * scale, mask=mask)


    def scale(x: torch.Tensor, factor: float) -> torch.Tensor:
        out = torch.empty_like(x)
        n_elements = x.numel()
        scale_kernel[(triton.cdiv(n_elements, 1024),)](x, out, n_elements, factor, BLOCK_SIZE=1024)
        return out
''')

CUSTOM_OP = textwrap.dedent('''
    import torch


    @torch.library.custom_op("golfkit_test::scaled", mutates_args=())
    def scaled(x: torch.Tensor, factor: float) -> torch.Tensor:
        return x * factor


    def plain(values: torch.Tensor, amount: float) -> torch.Tensor:
        return values + amount
''')


def wrapped(source: str, codec: str = "lzma", encoding: str = "ascii7") -> bytes:
    """`source` in golfkit's wrapper, as it is (not minified again)."""
    (candidate,) = candidates(source, (codec,), (encoding,))
    return candidate.data


def stripped(source: str) -> str:
    """`source` minified with every annotation removed: what golfkit did before it kept Triton's and custom_op's."""
    import python_minifier

    return python_minifier.minify(source, remove_annotations=True, rename_locals=True)


def ids(findings) -> list[str]:
    return [f.id for f in findings]


def run(path, cwd, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(path), *args], check=False, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


# --- the proof, on a model ---------------------------------------------------------------------


@needs_sandbox
@pytest.mark.fires("minify.behaviour.ok", "minify.behaviour.differs")
@pytest.mark.quiet("minify.behaviour.not_run")
def test_a_packed_model_script_matches_and_a_changed_value_or_model_is_named():
    packed = pack(MODEL, "train_gpt.py")
    (ok,) = prove_behaviour(MODEL, packed.output, "train_gpt.py")
    assert ok.id == "minify.behaviour.ok", ok.message
    assert ok.evidence["model"]["loss"] and "bit for bit" in ok.message
    assert ok.evidence["kinds"]["class"] == 3
    # a hyperparameter's value
    source = packed.minified.source
    assert source.count("logit_softcap=3e1") == 1  # 30.0, as python-minifier writes it
    (found,) = prove_behaviour(MODEL, wrapped(source.replace("logit_softcap=3e1", "logit_softcap=2e1")), "train_gpt.py")
    assert found.id == "minify.behaviour.differs"
    assert "Hyperparameters.logit_softcap" in found.message
    # the model's arithmetic: only the seeded forward pass sees it
    assert source.count("+.5*") == 1
    (found,) = prove_behaviour(MODEL, wrapped(source.replace("+.5*", "+.25*")), "train_gpt.py")
    assert found.id == "minify.behaviour.differs" and "model (loss)" in found.message
    assert found.evidence["differences"][0]["name"] == "model (loss)"


# --- Triton: annotations and a readable source -------------------------------------------------


@needs_sandbox
@pytest.mark.fires("minify.behaviour.ok", "minify.behaviour.differs", "minify.annotations.kept")
def test_triton_kernels_keep_their_constexpr_and_their_source():
    minified = minify_source(TRITON)
    assert "BLOCK_SIZE:tl.constexpr" in minified.source.replace(" ", "")
    assert "factor:float" not in minified.source.replace(" ", "")  # other functions lose theirs
    assert minified.options.annotated == ("scale_kernel",)
    packed = pack(TRITON, "kernels.py")
    (ok,) = prove_behaviour(TRITON, packed.output, "kernels.py", script_name="kernels.py")
    assert ok.id == "minify.behaviour.ok", ok.message
    assert "1 Triton kernels" in ok.message and "triton" in ok.evidence["stand_ins"]
    # annotations stripped: Triton no longer sees BLOCK_SIZE as a constexpr
    (found,) = prove_behaviour(TRITON, wrapped(stripped(TRITON)), "kernels.py", script_name="kernels.py")
    assert found.id == "minify.behaviour.differs"
    assert found.evidence["differences"][0]["name"] == "scale_kernel (parameters)"
    # the records' recipe: annotations stripped, and a wrapper that execs a string, so inspect (and with it
    # Triton's @jit) cannot read the kernel's source
    (found,) = prove_behaviour(TRITON, records_recipe(TRITON), "kernels.py", script_name="kernels.py")
    assert found.id == "minify.behaviour.differs"
    named = {d["name"]: d for d in found.evidence["differences"]}
    assert {"scale_kernel (parameters)", "scale_kernel (source)"} <= set(named)
    assert "unreadable" in json.dumps(named["scale_kernel (source)"]["packed"])
    assert "readable" == named["scale_kernel (source)"]["original"]


# --- torch custom ops -------------------------------------------------------------------------


@needs_sandbox
@pytest.mark.fires("minify.behaviour.ok", "minify.behaviour.differs", "minify.annotations.kept")
def test_a_custom_op_keeps_its_annotations_and_its_schema():
    minified = minify_source(CUSTOM_OP).source.replace(" ", "")
    assert "x:torch.Tensor,factor:float)->torch.Tensor" in minified and "amount:float" not in minified
    packed = pack(CUSTOM_OP, "ops.py")
    (ok,) = prove_behaviour(CUSTOM_OP, packed.output, "ops.py", script_name="ops.py")
    assert ok.id == "minify.behaviour.ok" and "1 custom ops" in ok.message, ok.message
    # without annotations torch cannot infer the op's schema: the packed script no longer imports
    (found,) = prove_behaviour(CUSTOM_OP, wrapped(stripped(CUSTOM_OP)), "ops.py", script_name="ops.py")
    assert found.id == "minify.behaviour.differs" and found.evidence["differences"][0]["name"] == "import"


# --- scripts the proof cannot import, and where it runs ----------------------------------------


@needs_sandbox
@pytest.mark.fires("minify.behaviour.not_run")
@pytest.mark.quiet("minify.behaviour.differs")
def test_an_original_that_does_not_import_is_reported_not_compared():
    source = "import os\nraise SystemExit(os.environ.get('NOT_SET_ANYWHERE', 'needs a GPU'))\n"
    (found,) = prove_behaviour(source, wrapped(source), "s.py")
    assert found.id == "minify.behaviour.not_run" and "needs a GPU" in found.message


@pytest.mark.fires("minify.behaviour.ok")
def test_unconfined_runs_the_proof_without_the_sandbox_and_says_so(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import math\nRADIUS = 2.0\ndef area(r=RADIUS):\n    return math.pi * r * r\n" * 3)
    result = CliRunner().invoke(main, ["minify", str(script), "--unconfined", "--codecs", "stdlib"])
    assert result.exit_code == 0, result.output
    assert "UNCONFINED" in result.output and "minify.behaviour.ok" in result.output


def test_without_bubblewrap_minify_refuses_before_any_work(tmp_path, monkeypatch):
    import golfkit.sandbox

    monkeypatch.setattr(golfkit.sandbox, "unavailable_reason", lambda: "bubblewrap (bwrap) is not installed")
    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    result = CliRunner().invoke(main, ["minify", str(script)])
    assert_usage_error(result, "bubblewrap", "--unconfined", "--proof static")
    assert not (tmp_path / "s.min.py").exists()
    static = CliRunner().invoke(main, ["minify", str(script), "--proof", "static"])
    assert static.exit_code == 0 and "BEHAVIOUR NOT PROVEN" in static.output


# --- dir(), __doc__ and self-reading scripts: run the packed file ------------------------------


DIR_SCRIPT = textwrap.dedent('''
    LOADS = []


    def deserialize():
        LOADS.append(1)
        return "model"


    def evaluate(reuse):
        if reuse:
            eval_model = deserialize()
        if 'eval_model' not in dir():
            eval_model = deserialize()
        scratch_value = len(LOADS)
        return eval_model, scratch_value


    def other(long_argument_name):
        renamed_local_value = long_argument_name * 2
        return renamed_local_value


    if __name__ == "__main__":
        print(evaluate(True), len(LOADS), other(3))
''') * 1


@pytest.mark.fires("minify.rename.off")
def test_dir_keeps_the_locals_of_the_function_that_calls_it(tmp_path):
    minified = minify_source(DIR_SCRIPT)
    assert "eval_model" in minified.source and "scratch_value" in minified.source
    assert "renamed_local_value" not in minified.source  # only that function's locals keep their names
    assert minified.options.rename_locals and "eval_model" in minified.options.kept_locals
    (note,) = [f for f in minified.findings if f.id == "minify.rename.off"]
    assert note.evidence["functions"] == ["evaluate"]
    (tmp_path / "orig.py").write_text(DIR_SCRIPT)
    (tmp_path / "packed.py").write_bytes(wrapped(minified.source))
    before, after = run(tmp_path / "orig.py", tmp_path), run(tmp_path / "packed.py", tmp_path)
    assert before.returncode == after.returncode == 0, after.stderr
    assert after.stdout == before.stdout == "('model', 1) 1 6\n"  # deserialize() ran once, not twice


DOC_SCRIPT = textwrap.dedent('''
    """Prepare the shards: download, tokenize, write. A long description that --help prints."""
    import argparse


    class Loader:
        """Loads documents (help for the loader)."""

        def fetch(self, name):
            """Fetch one document by name (nobody reads this)."""
            return name.upper()


    def tokenize(text):
        """Split text into tokens (nobody reads this either)."""
        return text.split()


    def main():
        parser = argparse.ArgumentParser(description=__doc__, epilog=Loader.__doc__)
        parser.add_argument("--shards", type=int, default=1)
        parser.parse_args()
        print(tokenize("a b"), Loader().fetch("x"))


    if __name__ == "__main__":
        main()
''')


@pytest.mark.fires("minify.docstrings.kept")
def test_only_the_docstrings_whose_doc_is_read_are_kept(tmp_path):
    minified = minify_source(DOC_SCRIPT)
    assert "A long description that --help prints" in minified.source
    assert "help for the loader" in minified.source
    assert "nobody reads" not in minified.source
    assert minified.options.docstrings == ("<module>", "Loader")
    (tmp_path / "orig.py").write_text(DOC_SCRIPT)
    (tmp_path / "packed.py").write_bytes(wrapped(minified.source))
    for args in ((), ("--help",)):
        before, after = run(tmp_path / "orig.py", tmp_path, *args), run(tmp_path / "packed.py", tmp_path, *args)
        assert before.returncode == after.returncode == 0, after.stderr
        assert after.stdout.replace("packed.py", "orig.py") == before.stdout
    assert len(pack(DOC_SCRIPT, "prep.py").output) < len(records_recipe(DOC_SCRIPT)) + 200


@pytest.mark.parametrize(("reader", "kept"), [
    ("print(getattr(tokenize, '__doc__'))", ("*",)),
    ("print(Loader().__doc__, Loader.fetch.__doc__)", ("*",)),
    ("print(Loader.fetch.__doc__)", ("<module>", "Loader", "fetch")),
    ("import click", ("*",)),
])
def test_docstrings_read_through_what_golfkit_cannot_name_are_all_kept(reader, kept):
    minified = minify_source(DOC_SCRIPT + reader + "\n")
    assert (minified.options.docstrings or ("*",)) == kept
    if kept == ("*",):
        assert "nobody reads" in minified.source and not minified.options.remove_literal_statements


SELF_READER = textwrap.dedent('''
    from pathlib import Path

    code = Path(__file__).read_text(encoding="utf-8")


    def main():
        print("code bytes:", len(code.encode("utf-8")) > 0, "lines:", len(code.splitlines()) > 0)


    if __name__ == "__main__":
        main()
''') + "\n".join(f"CONSTANT_{i} = {i} * {i}" for i in range(200)) + "\n"


@pytest.mark.fires("minify.trap.reads_own_file")
def test_a_self_reading_script_is_never_latin1_and_refuses_it_when_asked(tmp_path):
    script = tmp_path / "train_gpt.py"
    script.write_text(SELF_READER)
    refused = CliRunner().invoke(main, ["minify", str(script), "--wrap", "latin1", "--proof", "static"])
    assert_usage_error(refused, "reads its own file as UTF-8 text", "UnicodeDecodeError", "ascii7")
    assert not (tmp_path / "train_gpt.min.py").exists()
    packed = pack(SELF_READER, str(script))
    assert packed.chosen is not None and packed.chosen.encoding in ("ascii7", "base85")
    out = tmp_path / "packed.py"
    out.write_bytes(packed.output)
    before, after = run(script, tmp_path), run(out, tmp_path)
    assert after.returncode == 0 and after.stdout == before.stdout, after.stderr


# --- wrappers that source readers can use ------------------------------------------------------


def test_a_packed_script_has_readable_source_and_tracebacks_with_lines(tmp_path):
    source = textwrap.dedent('''
        import inspect
        import traceback


        def kernel(x_values, block_size):
            shifted_values = x_values + block_size
            return shifted_values


        print(inspect.getsource(kernel).strip())
        print(sorted(k for k in globals() if not k.startswith("__")))
        try:
            raise ValueError("on purpose")
        except ValueError:
            traceback.print_exc()  # as torchrun and logging print them (the traceback module, through linecache)
    ''')
    minified = minify_source(source).source
    path = tmp_path / "packed.py"
    path.write_bytes(wrapped(minified))
    result = run(path, tmp_path)
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith("def kernel(x_values,block_size)")
    assert result.stdout.splitlines()[1] == "['inspect', 'kernel', 'traceback']"  # the wrapper binds no name
    assert 'raise ValueError("on purpose")' in result.stderr.replace("'", '"') and str(path) in result.stderr


# --- codecs that are not installed ---------------------------------------------------------------


def hide(monkeypatch, *module_names: str) -> None:
    import importlib

    from golfkit.minify import wrap

    real = importlib.import_module

    def fake(name, *args):
        if name in module_names:
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(wrap.importlib, "import_module", fake)


def test_a_requested_codec_that_is_not_installed_is_refused_naming_the_extra(tmp_path, monkeypatch):
    hide(monkeypatch, "pyppmd")
    script = tmp_path / "s.py"
    script.write_text(MODEL)
    result = CliRunner().invoke(main, ["minify", str(script), "--codecs", "ppmd", "--proof", "static"])
    assert_usage_error(result, "pyppmd", "golfkit[ppmd]")
    assert not (tmp_path / "s.min.py").exists()


@pytest.mark.fires("minify.codec.missing")
def test_the_default_says_how_much_an_uninstalled_codec_would_likely_save(monkeypatch):
    hide(monkeypatch, "pyppmd", "brotli")
    packed = pack(MODEL * 3, "s.py")
    assert packed.chosen is not None and packed.chosen.codec in ("lzma", "zlib", "zstd")
    notes = {f.evidence["codec"]: f for f in packed.findings if f.id == "minify.codec.missing"}
    note = notes["ppmd"]
    assert "golfkit[ppmd]" in note.message and "estimated" in note.message
    assert 0 < note.evidence["estimated_saving"] < packed.chosen.size


@pytest.mark.quiet("minify.codec.missing")
def test_no_note_when_every_codec_is_installed():
    packed = pack(MODEL * 3, "s.py")
    assert "minify.codec.missing" not in ids(packed.findings)


# --- --check ------------------------------------------------------------------------------------


@needs_sandbox
@pytest.mark.fires("minify.proof.layers", "minify.behaviour.ok")
@pytest.mark.quiet("minify.proof.definitions_differ", "minify.proof.imports_differ")
def test_check_decodes_a_wrapper_given_as_the_original(tmp_path):
    original = tmp_path / "train_gpt_wrapper.py"
    original.write_bytes(records_recipe(MODEL))
    packed = tmp_path / "train_gpt.py"
    packed.write_bytes(pack(MODEL, "train_gpt.py").output)
    result = CliRunner().invoke(main, ["minify", "--check", str(packed), "--original", str(original)])
    assert result.exit_code == 0, result.output
    assert "is a wrapper (base85+lzma-raw): compared with its payload" in result.output
    assert "minify.behaviour.ok" in result.output


@needs_sandbox
@pytest.mark.fires("minify.behaviour.differs")
def test_check_of_a_records_triton_wrapper_alone_finds_the_unreadable_kernel(tmp_path):
    wrapper = tmp_path / "train_gpt.py"
    wrapper.write_bytes(records_recipe(TRITON))
    result = CliRunner().invoke(main, ["minify", "--check", str(wrapper), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    (differs,) = [f for f in report["findings"] if f["id"] == "minify.behaviour.differs"]
    assert "scale_kernel (source)" in [d["name"] for d in differs["evidence"]["differences"]]
    assert "compared with its own payload" in report["notes"][0]
