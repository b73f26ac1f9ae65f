"""unwrap_source: decode every wrapper shape the records use, statically, and refuse unsafe ones."""

from __future__ import annotations

import base64
import bz2
import gzip
import lzma
import zlib

import brotli
import pyppmd
import pytest
import zstandard
from cli_helpers import assert_usage_error
from click.testing import CliRunner

from golfkit.cli import main
from golfkit.errors import GolfkitError
from golfkit.files import SourceRefused, decode_source
from golfkit.minify.wrap import latin1_literal
from golfkit.wrappers import MAX_LAYERS, unwrap_source

PROGRAM = "import math\n\ndef area(r):\n    return math.pi * r * r\n\nprint(f'area {area(2.0):.3f}')\n"
RAW_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9}]


def b85(blob: bytes) -> str:
    return base64.b85encode(blob).decode()


def records_style(source: str) -> str:
    blob = lzma.compress(source.encode(), format=lzma.FORMAT_RAW, filters=RAW_FILTERS)
    return ('import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("' + b85(blob)
            + '"),format=L.FORMAT_RAW,filters=[{"id":L.FILTER_LZMA2}]))\n')


def test_records_raw_lzma_base85_wrapper_decodes():
    found = unwrap_source(records_style(PROGRAM))
    assert found is not None
    assert found.source == PROGRAM
    assert found.layers == ("base85+lzma-raw",)


def test_xz_payload_split_over_adjacent_and_concatenated_literals():
    text = b85(lzma.compress(PROGRAM.encode()))
    parts = [text[i:i + 20] for i in range(0, len(text), 20)]
    adjacent = "\n".join(f'"{p}"' for p in parts[:3])
    concatenated = " + ".join(f'"{p}"' for p in parts[3:])
    wrapper = f"import lzma, base64\nexec(lzma.decompress(base64.b85decode(({adjacent})\n + {concatenated})).decode())\n"
    found = unwrap_source(wrapper)
    assert found is not None and found.source == PROGRAM
    assert found.layers == ("base85+xz",)


def test_from_import_alias_and_assigned_payload():
    blob = b85(lzma.compress(PROGRAM.encode(), format=lzma.FORMAT_ALONE))
    wrapper = f'from lzma import decompress as D\nfrom base64 import b85decode\np = "{blob}"\nexec(D(b85decode(p)))\n'
    found = unwrap_source(wrapper)
    assert found is not None and found.source == PROGRAM
    assert found.layers == ("base85+lzma-alone",)


@pytest.mark.parametrize(("module", "call", "blob", "step"), [
    ("zlib", "zlib.decompress", zlib.compress(PROGRAM.encode(), 9), "zlib"),
    ("gzip", "gzip.decompress", gzip.compress(PROGRAM.encode(), mtime=0), "gzip"),
    ("bz2", "bz2.decompress", bz2.compress(PROGRAM.encode()), "bz2"),
    ("brotli", "brotli.decompress", brotli.compress(PROGRAM.encode()), "brotli"),
    ("zstandard", "zstandard.decompress", zstandard.ZstdCompressor(level=19).compress(PROGRAM.encode()), "zstd"),
    ("pyppmd", "pyppmd.decompress", pyppmd.compress(PROGRAM.encode()), "ppmd"),
])
def test_every_compressor_under_base64_and_latin1(module, call, blob, step):
    b64 = f'import {module},base64\nexec({call}(base64.b64decode("{base64.b64encode(blob).decode()}")))\n'
    assert unwrap_source(b64) == unwrap_source(b64)
    found = unwrap_source(b64)
    assert found is not None and found.source == PROGRAM and found.layers == (f"base64+{step}",)
    latin1 = f'#coding:l1\nimport {module}\nexec({call}({latin1_literal(blob)}.encode("l1")))\n'
    found = unwrap_source(latin1)
    assert found is not None and found.source == PROGRAM and found.layers == (f"latin-1+{step}",)


def test_compile_and_dunder_import_shapes():
    blob = b85(zlib.compress(PROGRAM.encode()))
    wrapper = f'exec(compile(__import__("zlib").decompress(__import__("base64").b85decode("{blob}")),"t","exec"))\n'
    found = unwrap_source(wrapper)
    assert found is not None and found.source == PROGRAM and found.layers == ("base85+zlib",)


def test_decompressor_object_and_bytes_conversion():
    blob = zlib.compress(PROGRAM.encode())
    wrapper = f'import zlib\nexec(str(zlib.decompressobj().decompress(bytes({latin1_literal(blob)}, "latin-1")), "utf-8"))\n'
    found = unwrap_source(wrapper)
    assert found is not None and found.source == PROGRAM


def test_nested_wrappers_are_unwrapped_layer_by_layer():
    inner = records_style(PROGRAM)
    outer = f'import brotli,base64\nexec(brotli.decompress(base64.b64decode("{base64.b64encode(brotli.compress(inner.encode())).decode()}")))\n'
    found = unwrap_source(outer)
    assert found is not None
    assert found.source == PROGRAM
    assert found.layers == ("base64+brotli", "base85+lzma-raw")


@pytest.mark.parametrize("text", [
    PROGRAM,
    "exec('print(1)')\n",  # exec of a plain literal: a program, not a packed one
    "def f(:\n",  # not Python
    "",
    "import lzma\nprint(lzma.decompress(b''))\n",
])
def test_programs_that_are_not_wrappers_give_none(text):
    assert unwrap_source(text) is None


def test_nothing_in_the_file_is_executed(tmp_path):
    marker = tmp_path / "ran"
    payload = f"open({str(marker)!r}, 'w').write('x')\n"
    wrapper = records_style(payload).replace("exec(", f"open({str(marker)!r},'w');exec(", 1)
    assert unwrap_source(wrapper) is None  # an extra statement: not a pure wrapper, and never run
    found = unwrap_source(records_style(payload))
    assert found is not None and found.source == payload
    assert not marker.exists()
    assert unwrap_source(f"import os\nexec(os.system('touch {marker}'))\n") is None
    assert not marker.exists()


def test_corrupt_payload_is_an_error():
    blob = bytearray(lzma.compress(PROGRAM.encode()))
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(GolfkitError, match="corrupt"):
        unwrap_source(f'import lzma,base64\nexec(lzma.decompress(base64.b85decode("{b85(bytes(blob))}")))\n')


def test_truncated_payload_is_an_error():
    blob = zlib.compress(PROGRAM.encode())[:-6]
    with pytest.raises(GolfkitError, match="truncated|ends"):
        unwrap_source(f'import zlib,base64\nexec(zlib.decompress(base64.b85decode("{b85(blob)}")))\n')


def test_invalid_base85_is_an_error():
    with pytest.raises(GolfkitError, match="base85"):
        unwrap_source('import zlib,base64\nexec(zlib.decompress(base64.b85decode("~~~~")))\n')


@pytest.mark.parametrize(("module", "call", "compress"), [
    ("zlib", "zlib.decompress", lambda b: zlib.compress(b, 9)),
    ("lzma", "lzma.decompress", lzma.compress),
    ("brotli", "brotli.decompress", lambda b: brotli.compress(b, quality=5)),
    ("zstandard", "zstandard.decompress", lambda b: zstandard.ZstdCompressor().compress(b)),
    ("pyppmd", "pyppmd.decompress", pyppmd.compress),
])
def test_decompression_is_bounded(module, call, compress):
    bomb = compress(b"#" * (4 << 20))
    wrapper = f'import {module},base64\nexec({call}(base64.b85decode("{b85(bomb)}")))\n'
    with pytest.raises(GolfkitError, match="more than"):
        unwrap_source(wrapper, max_output=1 << 20)
    assert unwrap_source(wrapper, max_output=8 << 20).source == "#" * (4 << 20)


@pytest.mark.parametrize("length", [2, 400])
def test_ascii7_payload_of_the_wrong_length_is_an_error(length):
    from golfkit.minify.wrap import ascii7_literal

    literal = ascii7_literal(zlib.compress(PROGRAM.encode()))
    wrapper = f"import zlib\nexec(zlib.decompress(int(''.join(f'{{c:07b}}'for c in {literal}),2).to_bytes({length},'big')))\n"
    with pytest.raises(GolfkitError, match="ascii7"):
        unwrap_source(wrapper)


def test_payload_that_cannot_be_decoded_statically_is_an_error():
    with pytest.raises(GolfkitError, match="cannot decode"):
        unwrap_source("import lzma\nexec(lzma.decompress(open('payload.bin','rb').read()))\n")


def test_too_many_layers_is_an_error():
    text = PROGRAM
    for _ in range(10):
        text = f'import zlib,base64\nexec(zlib.decompress(base64.b64decode("{base64.b64encode(zlib.compress(text.encode())).decode()}")))\n'
    with pytest.raises(GolfkitError, match="layers"):
        unwrap_source(text)


def test_decode_source_reads_the_coding_line_and_rejects_bad_bytes():
    assert decode_source(b"#coding:l1\nx='\xe9'\n") == "#coding:l1\nx='\u00e9'\n"
    with pytest.raises(GolfkitError, match="UTF-8"):
        decode_source(b"x='\xe9'\n", "bad.py")


def test_cli_unwrap_prints_the_source(tmp_path):
    path = tmp_path / "train_gpt.py"
    path.write_text(records_style(PROGRAM))
    result = CliRunner().invoke(main, ["unwrap", str(path)])
    assert result.exit_code == 0
    assert result.stdout == PROGRAM
    out = tmp_path / "decoded.py"
    result = CliRunner().invoke(main, ["unwrap", str(path), "-o", str(out)])
    assert result.exit_code == 0 and out.read_text() == PROGRAM


def test_cli_unwrap_refuses_a_plain_script_with_exit_2(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text(PROGRAM)
    assert_usage_error(CliRunner().invoke(main, ["unwrap", str(path)]), "not a self-extracting wrapper")


# --- bounds before work (issue 13) ------------------------------------------------------------


def zlib_b64_layer(text: str) -> str:
    return f'import zlib,base64\nexec(zlib.decompress(base64.b64decode("{base64.b64encode(zlib.compress(text.encode())).decode()}")))\n'


def test_four_layers_decode_and_a_fifth_is_refused():
    text = PROGRAM
    for _ in range(MAX_LAYERS):
        text = zlib_b64_layer(text)
    assert unwrap_source(text).layers == ("base64+zlib",) * MAX_LAYERS
    with pytest.raises(GolfkitError, match=f"more than {MAX_LAYERS} layers"):
        unwrap_source(zlib_b64_layer(text))


def test_layers_are_bounded_in_total_as_well_as_each():
    inner = "#" * (3 << 20) + "\n"  # 3 MiB of comment: one token, cheap to parse
    text = zlib_b64_layer(zlib_b64_layer(inner))
    assert unwrap_source(text, max_output=4 << 20, max_total=8 << 20).source == inner
    with pytest.raises(GolfkitError, match="in all"):
        unwrap_source(text, max_output=4 << 20, max_total=(3 << 20) + 100)
    with pytest.raises(GolfkitError, match="more than 2,097,152 bytes"):
        unwrap_source(text, max_output=2 << 20)


def test_concatenation_cannot_grow_a_payload_past_the_layer_bound():
    # Each decode is small, but doubling through names would reach gigabytes without another decode.
    blob = base64.b64encode(zlib.compress(b"#" * (1 << 20))).decode()
    lines = ["import zlib,base64", f'a=zlib.decompress(base64.b64decode("{blob}"))']
    lines += [f"{chr(98 + i)}={chr(97 + i)}+{chr(97 + i)}" for i in range(12)]
    text = "\n".join(lines) + f"\nexec({chr(97 + 12)})\n"
    with pytest.raises(GolfkitError, match="concatenates more than"):
        unwrap_source(text, max_output=4 << 20)


def test_many_exec_pieces_cannot_grow_a_layer_past_its_bound():
    blob = base64.b64encode(zlib.compress(b"#" * (1 << 20))).decode()
    text = "import zlib,base64\n" + f'exec(zlib.decompress(base64.b64decode("{blob}")))\n' * 6
    with pytest.raises(GolfkitError, match="layer decodes to more than|in all"):
        unwrap_source(text, max_output=4 << 20, max_total=64 << 20)


def test_a_payload_over_the_parse_bounds_is_refused_with_its_layer_named():
    deep = "x=" + "-" * 7000 + "1\n"
    with pytest.raises(SourceRefused, match=r"^train_gpt\.py \(decoded layer 1\):1: expressions nest") as info:
        unwrap_source(zlib_b64_layer(deep), where="train_gpt.py")
    assert (info.value.kind, info.value.where) == ("too_deep", "train_gpt.py (decoded layer 1)")
    with pytest.raises(SourceRefused, match=r"^plain\.py:1: expressions nest"):
        unwrap_source(deep, where="plain.py")


def test_errors_name_the_file_when_given():
    with pytest.raises(GolfkitError, match=r"^w\.py: wrapper payload is not valid b85"):
        unwrap_source('import zlib,base64\nexec(zlib.decompress(base64.b85decode("~~~~")))\n', where="w.py")


@pytest.mark.parametrize("encoding", ["punycode", "unicode_escape", "idna", "rot13"])
def test_only_linear_text_encodings_are_decoded(encoding):
    blob = base64.b64encode(zlib.compress(PROGRAM.encode())).decode()
    text = f'import zlib,base64\nexec(zlib.decompress(base64.b64decode("{blob}")).decode("{encoding}"))\n'
    with pytest.raises(GolfkitError, match="golfkit decodes only"):
        unwrap_source(text)
    assert unwrap_source(text.replace(encoding, "utf-8")).source == PROGRAM


def test_ppmd_model_memory_is_bounded():
    blob = b85(pyppmd.compress(PROGRAM.encode(), max_order=6, variant="I"))
    text = f'import pyppmd,base64\nexec(pyppmd.decompress(base64.b85decode("{blob}"),mem_size=MEM))\n'
    assert unwrap_source(text.replace("MEM", str(16 << 20))).source == PROGRAM
    with pytest.raises(GolfkitError, match="PPMd"):
        unwrap_source(text.replace("MEM", str(1 << 31)))


# --- golfkit's own runner: linecache registration, no names bound ---------------------------------


def test_golfkits_runner_decodes_under_every_encoding():
    from golfkit.minify.wrap import RUNNER, candidates

    for candidate in candidates(PROGRAM, ("lzma", "zlib"), ("latin1", "ascii7", "base85")):
        text = decode_source(candidate.data)
        assert RUNNER in text
        found = unwrap_source(text)
        assert found is not None and found.source == PROGRAM, candidate.name
        step = {"latin1": "latin-1"}.get(candidate.encoding, candidate.encoding)
        assert found.layers == (f"{step}+{'zlib' if candidate.codec == 'zlib' else 'lzma-alone'}",)


def test_a_runner_whose_lambda_does_more_is_not_taken_for_golfkits():
    from golfkit.minify.wrap import RUNNER, candidates

    (candidate,) = candidates(PROGRAM, ("lzma",), ("base85",))
    text = candidate.data.decode()
    sneaky = text.replace(RUNNER, RUNNER.replace("or exec(", "or __import__('os').system('true')or exec("))
    assert sneaky != text
    assert unwrap_source(sneaky) is None  # not a wrapper: read as the program it is


def test_a_runner_with_a_payload_read_at_run_time_is_an_error():
    from golfkit.minify.wrap import wrapper_text

    text = wrapper_text("__import__('lzma').decompress(open('payload.bin','rb').read())")
    with pytest.raises(GolfkitError, match="cannot decode"):
        unwrap_source(text)


def radix_wrapper(blob: bytes, length: int | None = None, decoder: str | None = None) -> str:
    from golfkit.minify.wrap import RADIX_DECODER, radix_literal, wrapper_text

    literal, size = radix_literal(blob)
    return wrapper_text(f"__import__('zlib').decompress(__import__('functools').reduce({decoder or RADIX_DECODER},"
                        f"{literal},0).to_bytes({size if length is None else length},'big'))")


def test_radix124_payload_decodes_exactly_as_the_wrapper_computes_it():
    found = unwrap_source(radix_wrapper(zlib.compress(PROGRAM.encode())))
    assert found is not None and found.source == PROGRAM and found.layers == ("radix124+zlib",)


@pytest.mark.parametrize(("length", "words"), [(3, "more digits than its stated length holds"),
                                               (50, "does not fit its stated length"),
                                               (2 << 20, "golfkit decodes at most 1,048,576")])
def test_radix124_payload_of_the_wrong_or_a_huge_length_is_an_error(length, words):
    with pytest.raises(GolfkitError, match=words):
        unwrap_source(radix_wrapper(zlib.compress(PROGRAM.encode()), length))


def test_radix124_with_another_digit_function_is_not_decoded():
    text = radix_wrapper(zlib.compress(PROGRAM.encode()), decoder="lambda n,c:n*124+c")
    with pytest.raises(GolfkitError, match="cannot decode"):
        unwrap_source(text)
