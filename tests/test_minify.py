"""golfkit minify: safe options per script, wrappers that run, proof, determinism, bad input."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap

import pytest
from cli_helpers import assert_usage_error
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from golfkit.cli import main
from golfkit.errors import GolfkitError
from golfkit.files import decode_source
from golfkit.minify.minify import minify_source, traps
from golfkit.minify.packer import pack, records_recipe
from golfkit.minify.proof import prove
from golfkit.minify.wrap import ALL_CODECS, ascii7_literal, candidates, latin1_literal, radix_literal
from golfkit.wrappers import unwrap_source

# A small program with the habits of a training script, long enough that wrapping pays.
SCRIPT = textwrap.dedent('''
    """A toy trainer: enough code that wrapping pays off."""
    import math
    import os
    from dataclasses import dataclass


    @dataclass
    class Settings:
        steps: int = int(os.environ.get("STEPS", "5"))
        learning_rate: float = 0.1


    def schedule(step_index: int, total_steps: int) -> float:
        """Cosine decay."""
        progress_fraction = step_index / max(1, total_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress_fraction))


    class Model:
        def __init__(self, weight_value: float) -> None:
            self.weight_value = weight_value

        def loss(self, target_value: float) -> float:
            difference_value = self.weight_value - target_value
            return difference_value * difference_value

        def step(self, target_value: float, learning_rate: float) -> None:
            gradient_value = 2.0 * (self.weight_value - target_value)
            self.weight_value -= learning_rate * gradient_value


    def main() -> None:
        settings = Settings()
        model = Model(3.0)
        for step_index in range(settings.steps):
            rate = settings.learning_rate * schedule(step_index, settings.steps)
            model.step(1.0, rate)
            print(f"step:{step_index + 1}/{settings.steps} loss:{model.loss(1.0):.8f}")
        print(f"final val_loss:{model.loss(1.0):.8f} globals:{sorted(k for k in globals() if k[0].isupper())}")
        print(f"attrs:{sorted(vars(model))}")


    if __name__ == "__main__":
        main()
''')


def run_file(path, cwd) -> str:
    result = subprocess.run([sys.executable, str(path)], check=False, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- minify options -------------------------------------------------------------------------


@pytest.mark.quiet("minify.rename.off", "minify.annotations.kept", "minify.docstrings.kept")
def test_locals_are_renamed_and_globals_vars_calls_survive():
    out = minify_source(SCRIPT).source
    assert "difference_value" not in out and "progress_fraction" not in out
    assert "globals()" in out and "vars(" in out  # hidden from python-minifier, then put back
    assert "_golfkit_" not in out
    assert not minify_source(SCRIPT).findings


@pytest.mark.fires("minify.rename.off")
@pytest.mark.quiet("minify.annotations.kept", "minify.docstrings.kept")
def test_renaming_stays_off_when_locals_are_read_by_name():
    src = "def f(alpha_value):\n    beta_value = alpha_value + 1\n    return locals()['beta_value']\nprint(f(1))\n"
    minified = minify_source(src)
    assert "beta_value" in minified.source
    assert [f.id for f in minified.findings] == ["minify.rename.off"]


@pytest.mark.fires("minify.annotations.kept")
@pytest.mark.quiet("minify.rename.off")
def test_annotations_are_kept_for_custom_op_and_dropped_otherwise():
    src = ("import torch\n@torch.library.custom_op('gk::f', mutates_args=())\n"
           "def f(x: torch.Tensor, scale: float) -> torch.Tensor:\n    return x * scale\n")
    kept = minify_source(src)
    assert "scale:float" in kept.source.replace(" ", "") and "->torch.Tensor" in kept.source.replace(" ", "")
    assert "minify.annotations.kept" in [f.id for f in kept.findings]
    dropped = minify_source(src.replace("@torch.library.custom_op('gk::f', mutates_args=())\n", ""))
    assert "float" not in dropped.source and not dropped.findings


@pytest.mark.fires("minify.docstrings.kept")
@pytest.mark.quiet("minify.annotations.kept")
def test_docstrings_are_kept_when_the_script_reads_doc():
    src = '"""Usage: run me."""\nimport argparse\np = argparse.ArgumentParser(description=__doc__)\n'
    kept = minify_source(src)
    assert "Usage: run me." in kept.source and [f.id for f in kept.findings] == ["minify.docstrings.kept"]
    assert "Usage" not in minify_source(src.replace("description=__doc__", "")).source


def test_class_attribute_annotations_survive_for_dataclasses():
    out = minify_source(SCRIPT).source
    assert "steps:int" in out.replace(" ", "")


# --- traps ----------------------------------------------------------------------------------


@pytest.mark.fires("minify.trap.reads_own_file")
@pytest.mark.parametrize("line", [
    "code = Path(__file__).read_text(encoding='utf-8')",
    "code = open(__file__).read()",
    "code = open(__file__, 'r', encoding='utf-8').read()",
])
def test_reading_own_file_as_text_is_reported_and_forces_ascii(line):
    src = "from pathlib import Path\n" + line + "\n" + SCRIPT
    found = traps(ast.parse(src), "s.py")
    assert [f.id for f in found] == ["minify.trap.reads_own_file"]
    packed = pack(src, "s.py")
    assert packed.chosen is not None and packed.chosen.encoding in ("ascii7", "base85")
    packed.output.decode("ascii")  # valid UTF-8, so the script can still read itself as text
    assert "minify.trap.reads_own_file" in [f.id for f in packed.findings]


@pytest.mark.quiet("minify.trap.reads_own_file")
@pytest.mark.parametrize("line", [
    "code = Path(__file__).read_bytes()",
    "data = (Path(__file__).parent / 'data.txt').read_text()",
    "data = open(os.path.join(os.path.dirname(__file__), 'x.txt')).read()",
])
def test_reading_bytes_or_sibling_files_is_no_trap(line):
    src = "import os\nfrom pathlib import Path\n" + line + "\n"
    assert traps(ast.parse(src), "s.py") == []


@pytest.mark.quiet("minify.trap.reads_own_file")
def test_getsource_is_no_trap_any_more(tmp_path):
    # golfkit's wrappers register the program in linecache: inspect reads the minified source
    src = "import inspect\ndef f():\n    pass\nprint(inspect.getsource(f))\n" * 20
    assert traps(ast.parse(src), "s.py") == []
    (tmp_path / "s.py").write_bytes(pack(src, "s.py").output)
    assert run_file(tmp_path / "s.py", tmp_path).startswith("def f():0\n")


# --- wrappers -------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["latin1", "radix124", "ascii7", "base85"])
@pytest.mark.parametrize("codec", ALL_CODECS)
def test_every_wrapper_runs_the_same_program(tmp_path, codec, encoding):
    plain = tmp_path / "plain.py"
    plain.write_text(SCRIPT)
    expected = run_file(plain, tmp_path)
    minified = minify_source(SCRIPT).source
    (candidate,) = candidates(minified, (codec,), (encoding,))
    wrapped = tmp_path / "wrapped.py"
    wrapped.write_bytes(candidate.data)
    assert run_file(wrapped, tmp_path) == expected
    decoded = unwrap_source(decode_source(candidate.data))
    assert decoded is not None and decoded.source == minified


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | st.lists(st.sampled_from(b"\x00\r\n\\\"'07\xff"), max_size=24).map(bytes))
def test_latin1_literal_round_trips_any_bytes(blob):
    # Parsed from bytes, the way Python reads the wrapper file: the coding line applies.
    tree = ast.parse(("#coding:l1\n" + latin1_literal(blob) + "\n").encode("latin-1"))
    assert tree.body[0].value.value.encode("latin-1") == blob


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_ascii7_literal_is_ascii_and_round_trips(blob):
    literal = ascii7_literal(blob)
    groups = ast.literal_eval(literal)
    assert literal.isascii() and all(b < 128 for b in groups)
    bits = "".join(format(b, "07b") for b in groups)
    assert (int(bits, 2).to_bytes(len(blob), "big") if bits else b"") == blob


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_radix124_literal_is_ascii_without_escapes_and_round_trips(blob):
    import functools

    literal, length = radix_literal(blob)
    digits = ast.literal_eval(literal)
    assert literal.isascii() and "\\" not in literal and not set(digits) & {0, 13, 34, 92}
    value = functools.reduce(lambda n, c: n * 124 + c - 1 - (c > 13) - (c > 34) - (c > 92), digits, 0)
    assert value.to_bytes(length, "big") == blob


def test_latin1_overhead_is_small():
    import os

    blob = os.urandom(20000)
    assert len(latin1_literal(blob).encode("latin-1")) < 1.02 * len(blob)


# --- the pipeline ---------------------------------------------------------------------------


@pytest.mark.fires("minify.proof.ok", "minify.wrap.needs_module")
@pytest.mark.quiet("minify.input.wrapper", "minify.proof.decode_mismatch", "minify.proof.does_not_compile",
                   "minify.proof.definitions_differ", "minify.proof.imports_differ", "minify.trap.reads_own_file")
def test_pack_is_smaller_than_the_records_recipe_and_proven():
    packed = pack(SCRIPT, "s.py")
    assert packed.ok
    assert packed.records_recipe_bytes is not None
    assert len(packed.output) < packed.records_recipe_bytes
    assert "minify.proof.ok" in [f.id for f in packed.findings]
    (needs,) = [f for f in packed.findings if f.id == "minify.wrap.needs_module"]
    assert packed.chosen.codec not in ("lzma", "zlib") and needs.evidence["module"] in packed.output.decode("latin-1")


def test_output_is_deterministic():
    assert pack(SCRIPT, "s.py").output == pack(SCRIPT, "s.py").output


@pytest.mark.fires("minify.input.wrapper")
def test_a_wrapper_input_is_minified_inside_not_wrapped_twice():
    packed_once = pack(SCRIPT, "s.py")
    again = pack(records_recipe(SCRIPT).decode(), "wrapped.py")
    assert again.input_layers == ("base85+lzma-raw",)
    assert "minify.input.wrapper" in [f.id for f in again.findings]
    found = unwrap_source(decode_source(again.output))
    assert found is not None and len(found.layers) == 1
    assert again.output == packed_once.output


@pytest.mark.fires("minify.proof.ok")
@pytest.mark.quiet("minify.wrap.needs_module", "minify.input.wrapper")
def test_small_scripts_stay_plain_when_wrapping_does_not_pay():
    packed = pack("print(1)\n", "s.py")
    assert packed.chosen is None and packed.output == b"print(1)\n"


def test_empty_file_gives_an_empty_result():
    packed = pack("", "empty.py")
    assert packed.output == b"" and packed.ok


def test_malformed_python_is_a_clear_error():
    with pytest.raises(GolfkitError, match=r"bad\.py:2: cannot parse"):
        pack("x = 1\ndef f(:\n", "bad.py")


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="parses on 3.12")
def test_python_312_fstrings_are_reported_as_such():
    with pytest.raises(GolfkitError, match="3.12"):
        pack('d = {"a": 1}\nprint(f"{d["a"]}")\n', "new.py")


# --- proof ----------------------------------------------------------------------------------


@pytest.mark.fires("minify.proof.decode_mismatch", "minify.proof.does_not_compile", "minify.proof.definitions_differ",
                   "minify.proof.imports_differ")
def test_proof_fires_on_each_kind_of_difference():
    minified = minify_source(SCRIPT).source
    assert prove(minified, minified, SCRIPT) == []
    assert [f.id for f in prove(minified + "x=1\n", minified, SCRIPT)] == ["minify.proof.decode_mismatch"]
    assert [f.id for f in prove("def f(:\n", None, SCRIPT)] == ["minify.proof.does_not_compile"]
    dropped = minified.replace("def schedule(", "def renamed_schedule(")
    assert [f.id for f in prove(dropped, None, SCRIPT)] == ["minify.proof.definitions_differ"]
    extra = "import json\n" + minified
    ids = [f.id for f in prove(extra, None, SCRIPT)]
    assert "minify.proof.imports_differ" in ids


@pytest.mark.fires("minify.proof.does_not_compile")
@pytest.mark.quiet("minify.proof.ok")
def test_a_script_that_parses_but_does_not_compile_is_not_written(tmp_path):
    # `return` outside a function parses; only compiling it fails, so the proof is what catches it
    script = tmp_path / "train_gpt.py"
    script.write_text("x = 1\nreturn x\n")
    result = CliRunner().invoke(main, ["minify", str(script)])
    assert result.exit_code == 1
    assert "minify.proof.does_not_compile:2" in result.output and "'return' outside function" in result.output
    assert not (tmp_path / "train_gpt.min.py").exists()


# --- CLI ------------------------------------------------------------------------------------


# Only `--check` says how a file is packed (minify.proof.layers); minify itself prints its table.
@pytest.mark.fires("minify.proof.ok", "minify.wrap.needs_module")
@pytest.mark.quiet("minify.proof.layers")
def test_cli_minify_writes_the_output_and_prints_the_table(tmp_path):
    script = tmp_path / "train_gpt.py"
    script.write_text(SCRIPT)
    out = tmp_path / "packed.py"
    result = CliRunner().invoke(main, ["minify", str(script), "-o", str(out)])
    assert result.exit_code == 0, result.output
    for word in ("raw", "minified", "records' recipe", "chosen:", "minify.proof.ok"):
        assert word in result.output
    assert run_file(out, tmp_path) == run_file(script, tmp_path)


@pytest.mark.fires("minify.proof.ok")
@pytest.mark.quiet("minify.wrap.needs_module")
def test_cli_minify_json_and_default_output_path(tmp_path):
    script = tmp_path / "train_gpt.py"
    script.write_text(SCRIPT)
    result = CliRunner().invoke(main, ["minify", str(script), "--json", "--codecs", "stdlib"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["output"] == str(tmp_path / "train_gpt.min.py")
    assert {c["codec"] for c in report["candidates"]} == {"lzma", "zlib"}
    assert [f["id"] for f in report["findings"]] == ["minify.proof.ok", "minify.behaviour.ok"]
    assert report["proof_ok"] and report["output_bytes"] == (tmp_path / "train_gpt.min.py").stat().st_size


@pytest.mark.fires("minify.proof.layers", "minify.proof.definitions_differ", "minify.proof.imports_differ")
@pytest.mark.quiet("minify.proof.decode_mismatch", "minify.proof.does_not_compile")
def test_cli_check_proves_a_records_wrapper_and_catches_a_mismatch(tmp_path):
    original = tmp_path / "readable.py"
    original.write_text(SCRIPT)
    wrapper = tmp_path / "train_gpt.py"
    wrapper.write_bytes(records_recipe(SCRIPT))
    result = CliRunner().invoke(main, ["minify", "--check", str(wrapper), "--original", str(original)])
    assert result.exit_code == 0, result.output
    assert "base85+lzma-raw" in result.output and "ok:" in result.output
    other = tmp_path / "other.py"
    other.write_text(SCRIPT.replace("def schedule(", "def warmup(") + "import json\n")
    result = CliRunner().invoke(main, ["minify", "--check", str(wrapper), "--original", str(other)])
    assert result.exit_code == 1
    assert "minify.proof.definitions_differ" in result.output and "minify.proof.imports_differ" in result.output


@pytest.mark.parametrize(("content", "message"), [
    (b"x = '\xe9'\n", "UTF-8"),
    (b"def f(:\n", "cannot parse"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, content, message):
    script = tmp_path / "bad.py"
    script.write_bytes(content)
    assert_usage_error(CliRunner().invoke(main, ["minify", str(script)]), message)
    assert_usage_error(CliRunner().invoke(main, ["minify", str(tmp_path / "missing.py")]), "no such file")


def test_cli_refuses_to_overwrite_its_input(tmp_path):
    script = tmp_path / "train_gpt.py"
    script.write_text(SCRIPT)
    result = CliRunner().invoke(main, ["minify", str(script), "-o", str(script)])
    assert result.exit_code == 2 and script.read_text() == SCRIPT


@pytest.mark.fires("minify.proof.ok")
@pytest.mark.quiet("minify.behaviour.ok", "minify.behaviour.differs", "minify.behaviour.not_run")
def test_cli_proof_static_runs_nothing_and_says_behaviour_is_not_proven(tmp_path):
    script = tmp_path / "train_gpt.py"
    script.write_text(SCRIPT)
    result = CliRunner().invoke(main, ["minify", str(script), "--proof", "static"])
    assert result.exit_code == 0, result.output
    assert "BEHAVIOUR NOT PROVEN (--proof static)" in result.output and "minify.behaviour" not in result.output
    assert run_file(tmp_path / "train_gpt.min.py", tmp_path) == run_file(script, tmp_path)


def test_radix124_is_not_written_for_a_payload_too_large_to_decode_quickly(monkeypatch):
    from golfkit.minify import wrap

    monkeypatch.setattr(wrap, "RADIX_MAX_PAYLOAD", 100)
    assert [c.encoding for c in candidates(minify_source(SCRIPT).source, ("lzma",))] == ["latin1", "ascii7", "base85"]
    with pytest.raises(GolfkitError, match="radix124 wrapper decodes in time quadratic"):
        pack(SCRIPT, "s.py", wrap="radix124", codecs=("lzma",))
