"""Bounds before work in every parser of untrusted text (issue 13): Python source (`files.parse_source`),
wrapper payloads (`wrappers.unwrap_source`), numbers in logs and in submission.json.

Each attack issue 13 measured runs end to end in a child under a memory cap and a time limit
(tests/hostile.py: no traceback, no hang, peak RSS under 1 GB, exit 0/1/2) and in process (the finding
it must give, with file and line); hypothesis fuzzes the log parser, the JSON normaliser, the wrapper
decoder and `parse_source`; the real corpus stays well inside every bound.
"""

from __future__ import annotations

import ast
import base64
import functools
import io
import json
import lzma
import math
import sys
import tokenize
import warnings
import zlib
from decimal import Decimal
from pathlib import Path

import pytest
from _corpus import CORPUS, corpus_params
from hostile import assert_contained, run_capped
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from verify_records import log_text, write_record

from golfkit.errors import GolfkitError
from golfkit.files import (
    MAX_SOURCE_DEPTH,
    MAX_SOURCE_TOKENS,
    SourceRefused,
    SourceSyntaxError,
    parse_source,
    read_source,
)
from golfkit.minify.minify import minify_source
from golfkit.verify.api import verify_paths
from golfkit.verify.evidence import MAX_WHOLE_DIGITS, NumberRefused, whole_number
from golfkit.verify.logparse import parse_log_bytes, parse_log_text
from golfkit.verify.submission import load_submission_bytes, normalise
from golfkit.wrappers import MAX_LAYER_BYTES, unwrap_source

BIG = "9" * 5000
APPENDED = log_text(42).count("\n") + 1  # the line a text appended to a clean record's log starts on
DEEP = "x=" + "-" * 7000 + "1\n"  # 7 KB: ended verify, probe, unwrap and minify in a MemoryError


def wrapper(program: bytes) -> str:
    """A records-style lzma/base85 wrapper of `program`."""
    return f"import lzma as L,base64 as B\nexec(L.decompress(B.b85decode({base64.b85encode(lzma.compress(program)).decode()!r})))\n"


@functools.cache
def bomb_wrapper() -> str:
    """11.7 KB whose payload is 60 MiB of `a=1`: drove verify past 7.7 GB."""
    return wrapper(b"a=1\n" * (15 << 20))


@functools.cache
def dense_wrapper() -> str:
    """Under the decoded bound (7 MiB) but 5.5 million tokens: a tree of several GB if parsed."""
    return wrapper(b"a=1\n" * ((7 << 20) // 4))


def depth_of(tree: ast.AST) -> int:
    best, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        best = max(best, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return best


def tokens_of(text: str) -> int:
    return sum(1 for t in tokenize.generate_tokens(io.StringIO(text).readline)
               if t.type not in (tokenize.NL, tokenize.COMMENT))


# ---------------------------------------------------------------------------------------------- parse_source

# Shapes that nest: brackets and unary operators (seen before the parse), and chains that nest in the tree only.
NESTERS = {
    "unary": lambda n: "x=" + "-" * n + "1\n",
    "not": lambda n: "x=" + "not " * n + "1\n",
    "brackets": lambda n: "x=" + "[" * n + "]" * n + "\n",
    "attributes": lambda n: "x=a" + ".b" * n + "\n",
    "additions": lambda n: "x=a" + "+a" * n + "\n",
    "calls": lambda n: "x=f" + "()" * n + "\n",
    "powers": lambda n: "x=" + "2**" * n + "2\n",
    "lambdas": lambda n: "x=" + "lambda:" * n + "1\n",
    "conditionals": lambda n: "x=" + "1 if a else " * n + "1\n",
}


@pytest.mark.parametrize("shape", sorted(NESTERS))
def test_nesting_past_the_bound_is_refused_and_at_the_bound_parses(shape):
    make = NESTERS[shape]
    for n in (MAX_SOURCE_DEPTH + 1, 1500, 7000):
        with pytest.raises(SourceRefused, match=r"^s\.py(:1)?: expressions nest more than 100 levels") as info:
            parse_source(make(n), "s.py")
        assert info.value.kind == "too_deep" and info.value.line in (None, 1)
    # the deepest program of this shape that parses is at most MAX_SOURCE_DEPTH deep, and reaches it
    n = max(k for k in range(1, MAX_SOURCE_DEPTH + 1) if _parses(make(k)))
    assert MAX_SOURCE_DEPTH - 3 <= depth_of(parse_source(make(n))) <= MAX_SOURCE_DEPTH


def _parses(text: str) -> bool:
    try:
        parse_source(text)
    except SourceRefused:
        return False
    return True


def test_a_program_at_the_depth_bound_goes_through_every_consumer():
    # What parse_source lets through must not overflow the recursive code behind it: the compiler,
    # python-minifier, the wrapper interpreter, verify's sibling search.
    text = NESTERS["unary"](MAX_SOURCE_DEPTH - 3)
    tree = parse_source(text)
    assert depth_of(tree) == MAX_SOURCE_DEPTH
    compile(tree, "s.py", "exec")
    assert minify_source(text).source
    assert unwrap_source(wrapper(text.encode())).source == text


def test_tokens_past_the_bound_are_refused_before_the_tree_is_built():
    text = "a\n" * (MAX_SOURCE_TOKENS // 2 + 10)
    with pytest.raises(SourceRefused, match=r"^s\.py:150001: more than 300,000 tokens") as info:
        parse_source(text, "s.py")
    assert info.value.kind == "too_large" and info.value.line == MAX_SOURCE_TOKENS // 2 + 1
    # an f-string is one token before Python 3.12, but each replacement field is tree nodes
    with pytest.raises(SourceRefused, match="tokens"):
        parse_source('x=f"' + "{a}" * (MAX_SOURCE_TOKENS // 3 + 1) + '"\n', "s.py")
    # a string literal is one token however long: embedded data is no reason to refuse
    assert parse_source("x='" + "a" * (7 << 20) + "'\n")


def test_text_past_the_size_bound_is_refused_unread():
    with pytest.raises(SourceRefused, match="8,388,609 characters of Python source"):
        parse_source("#" * ((8 << 20) + 1))


@pytest.mark.parametrize(("text", "line"), [("def f(:\n", 1), ("x = 1\nx = " + BIG + "\n", 2), ("a\x00b\n", None)])
def test_syntax_errors_are_source_syntax_errors(text, line):
    with pytest.raises(SourceSyntaxError, match=r"^s\.py(:\d+)?: cannot parse") as info:
        parse_source(text, "s.py")
    assert info.value.line in (line, 1)


# ---------------------------------------------------------------------------------------------- verify: in process


def _set(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


def _append(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(path.read_text() + text)


def _submission(folder: Path, edit) -> None:
    path = folder / "submission.json"
    path.write_text(edit(path.read_text()))


# name -> (how to spoil a clean record, finding id, file, line or None, words of the message)
ATTACKS = {
    "deep script": (lambda f: _set(f, "train_gpt.py", DEEP), "code.source.too_deep", "train_gpt.py", 1,
                    "nest more than 100 levels"),
    "wrapper bomb": (lambda f: _set(f, "train_gpt.py", bomb_wrapper()), "code.wrapper.undecodable", "train_gpt.py",
                     None, "more than 8,388,608 bytes"),
    "dense payload": (lambda f: _set(f, "train_gpt.py", dense_wrapper()), "code.source.too_large", "train_gpt.py",
                      None, "(decoded layer 1):75001: more than 300,000 tokens"),
    "deep payload": (lambda f: _set(f, "train_gpt.py", wrapper(DEEP.encode())), "code.source.too_deep",
                     "train_gpt.py", None, "(decoded layer 1):1: expressions nest"),
    "bytes_total 1e99999999": (lambda f: _submission(f, lambda t: t.replace('"bytes_total": ', '"bytes_total": 1e99999999, "x": ', 1)),
                               "files.submission.invalid", "submission.json", None, "beyond the range of a double"),
    "val_bpb 1e999999999": (lambda f: _submission(f, lambda t: t.replace('"val_bpb": ', '"val_bpb": 1e999999999, "x": ', 1)),
                            "files.submission.invalid", "submission.json", None, "beyond the range of a double"),
    "5000-digit bytes_code": (lambda f: _submission(f, lambda t: t.replace('"bytes_code": ', f'"bytes_code": {BIG}, "x": ', 1)),
                              "files.submission.invalid", "submission.json", None, "5,000-character number"),
    "bytes_total string": (lambda f: _submission(f, lambda t: t.replace('"bytes_total": ', '"bytes_total": "1e99999999", "x": ', 1)),
                           "files.submission.invalid", "submission.json", None, "`bytes_total` is the string"),
    "30-digit bytes_total": (lambda f: _submission(f, lambda t: t.replace('"bytes_total": ', f'"bytes_total": {"9" * 30}, "x": ', 1)),
                             "files.submission.invalid", "submission.json", None, "more than 20"),
    "val_bpb 1e300": (lambda f: _submission(f, lambda t: t.replace('"val_bpb": ', '"val_bpb": 1e300, "x": ', 1)),
                      "files.submission.invalid", "submission.json", None, "beyond a metric's bounds"),
    "superscript seed": (lambda f: _submission(f, lambda t: t.replace('"seeds": [', '"seeds": ["\\u00b2", ', 1)),
                         "files.submission.invalid", "submission.json", None, "not a whole number in ASCII digits"),
    "log step": (lambda f: _append(f, "train_seed42.log", f"step:{BIG}/20000 val_loss:2.0 train_time:5ms\n"),
                 "log.unreadable", "train_seed42.log", None, f"train_seed42.log:{APPENDED}: a 5,000-digit whole number"),
    "log seed": (lambda f: _append(f, "train_seed42.log", f"seed:{BIG}\n"), "log.unreadable", "train_seed42.log",
                 None, f"train_seed42.log:{APPENDED}: a 5,000-digit whole number"),
    "log code size": (lambda f: _append(f, "train_seed42.log", f"Code size: {BIG} bytes\n"), "log.unreadable",
                      "train_seed42.log", None, "a 5,000-digit whole number"),
    "log total size": (lambda f: _append(f, "train_seed42.log", f"Total submission size int8+zlib: {BIG} bytes\n"),
                       "log.unreadable", "train_seed42.log", None, "a 5,000-digit whole number"),
    "log digit-only val_loss": (lambda f: _append(f, "train_seed42.log", f"final_int8_zlib_roundtrip val_loss:{BIG} val_bpb:1.2\n"),
                                "log.unreadable", "train_seed42.log", None, "a 5,000-character number"),
    "log 30-digit val_loss": (lambda f: _append(f, "train_seed42.log", f"final_x val_loss:{'9' * 30} val_bpb:1.2\n"),
                              "log.unreadable", "train_seed42.log", None, "beyond a metric's bounds"),
    "log infinite train time": (lambda f: _append(f, "train_seed42.log", "step:5/10 train_time:1" + "0" * 400 + "ms\n"),
                                "log.unreadable", "train_seed42.log", None, "401-character number"),
}



def spoiled(tmp_path: Path, name: str) -> Path:
    folder = write_record(tmp_path)
    ATTACKS[name][0](folder)
    return folder


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.fires(attack[1]), id=name)
                                  for name, attack in sorted(ATTACKS.items())])
def test_each_attack_is_the_records_finding(tmp_path, name):
    _, ident, file, line, words = ATTACKS[name]
    (report,) = verify_paths([spoiled(tmp_path, name)])
    found = [f for f in report.findings if f.id == ident]
    assert found, [f.id for f in report.findings]
    assert found[0].file == file and found[0].line == line and words in found[0].message, found[0]
    assert report.verdict == "fail"


@pytest.mark.fires("code.source.too_deep", "code.source.too_large")
def test_every_shipped_script_over_a_parse_bound_is_reported(tmp_path):
    folder = write_record(tmp_path)
    _set(folder, "helper.py", "a\n" * MAX_SOURCE_TOKENS)  # not imported, still a shipped script
    _set(folder, "train_gpt.py", "import helper\n" + DEEP)
    (report,) = verify_paths([folder])
    found = {(f.id, f.file, f.line) for f in report.findings if f.id.startswith("code.source.")}
    assert found == {("code.source.too_deep", "train_gpt.py", 2), ("code.source.too_large", "helper.py", 150001)}
    # the refused program's imports are still found, by pattern: helper.py counts as code
    assert "code.sibling.counted" in {f.id for f in report.findings}


@pytest.mark.quiet("code.source.too_deep", "code.source.too_large", "code.wrapper.undecodable", "log.unreadable",
                   "files.submission.invalid")
def test_a_clean_record_with_a_wrapped_script_crosses_no_bound(tmp_path):
    folder = write_record(tmp_path)
    _set(folder, "train_gpt.py", wrapper((folder / "train_gpt.py").read_bytes()))
    (report,) = verify_paths([folder])
    assert "code.wrapper.decoded" in {f.id for f in report.findings}


# ---------------------------------------------------------------------------------------------- verify: capped child


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_each_attack_is_contained_end_to_end(tmp_path, name):
    folder = spoiled(tmp_path, name)
    run = run_capped(["verify", "--json", str(folder)])
    assert_contained(run, codes=(1,))
    ident = ATTACKS[name][1]
    assert ident in {f["id"] for r in json.loads(run.stdout)["records"] for f in r["findings"]}, run.stdout[-2000:]


def test_quadratic_log_shapes_finish_under_the_time_limit(tmp_path):
    # A lazy `(.*?)\s*$` over a line of spaces and one pass over all events per run were quadratic:
    # each of these took minutes to hours before.
    folder = write_record(tmp_path)
    _set(folder, "train_extra.log", "Hyperparameters:\n  a: " + " " * (1 << 20) + "x\n")
    _set(folder, "train_runs.log", "Hyperparameters:\nstep:1/2 loss:1\n" * 30000)
    _set(folder, "train_sources.log", ("x\n" + "=" * 100 + "\nRunning Python\nstep:1/2 loss:1\n") * 8000)
    run = run_capped(["verify", str(folder)], timeout_s=120)
    assert_contained(run)


COMMANDS = {  # run in the script's folder, on its bare name: messages name it as the user gave it
    "unwrap": ["unwrap", "train_gpt.py"],
    "minify": ["minify", "train_gpt.py", "-o", "{out}"],
    "minify --check": ["minify", "--check", "train_gpt.py"],
    "probe": ["probe", "--trust-code", "train_gpt.py"],
}
INPUTS = {
    "deep": (lambda: DEEP, "train_gpt.py:1: expressions nest more than 100 levels deep"),
    "bomb": (bomb_wrapper, "train_gpt.py: xz data decompresses to more than 8,388,608 bytes"),
    "dense": (dense_wrapper, "train_gpt.py (decoded layer 1):75001: more than 300,000 tokens"),
}
# `unwrap` and `minify` decode layers of up to their --max-output (64 MiB), then refuse to parse the payload.
LARGER_LAYERS = "train_gpt.py (decoded layer 1): 62,914,560 characters of Python source, more than golfkit parses"


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("given", sorted(INPUTS))
def test_other_commands_refuse_in_one_line_with_exit_2(tmp_path, command, given):
    make, words = INPUTS[given]
    if given == "bomb" and command in ("unwrap", "minify"):
        words = LARGER_LAYERS
    script = tmp_path / "train_gpt.py"
    script.write_text(make())
    out = tmp_path / "out.py"
    run = run_capped([a.format(file=script, out=out) for a in COMMANDS[command]], cwd=tmp_path)
    assert_contained(run, codes=(2,))
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("golfkit: error: "), run.stderr
    assert words in lines[0], lines[0]
    assert not out.exists()


@pytest.mark.parametrize(("original", "words"), [(DEEP, "orig.py:1: expressions nest"), ("def f(:\n", "orig.py:1: cannot parse")])
def test_minify_check_refuses_an_original_it_cannot_parse_in_one_line(tmp_path, original, words):
    (tmp_path / "packed.py").write_text("print(1)\n")
    (tmp_path / "orig.py").write_text(original)
    run = run_capped(["minify", "--check", "packed.py", "--original", "orig.py"], cwd=tmp_path)
    assert_contained(run, codes=(2,))
    assert run.stderr.strip() == f"golfkit: error: {words}" or run.stderr.startswith(f"golfkit: error: {words}"), run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------- numbers

@pytest.mark.parametrize(("text", "value"), [("0", 0), ("-7", -7), ("1" * MAX_WHOLE_DIGITS, int("1" * MAX_WHOLE_DIGITS))])
def test_whole_numbers_within_the_bound_convert(text, value):
    assert whole_number(text) == value


@pytest.mark.parametrize("text", ["1" * (MAX_WHOLE_DIGITS + 1), BIG, "\u0663", "1.5", "", "-", "+1", " 1"])
def test_whole_numbers_past_the_bound_or_not_ascii_are_refused(text):
    with pytest.raises(NumberRefused):
        whole_number(text)


def test_a_log_over_the_number_bounds_names_the_line():
    with pytest.raises(GolfkitError, match=r"^t\.log:2: a 5,000-digit whole number"):
        parse_log_text(f"x\nval_tokens: {BIG}\n", "t.log")
    with pytest.raises(GolfkitError, match=r"^train_seed12345678901234567890123\.log: the seed in the file name"):
        parse_log_text("x\n", "train_seed12345678901234567890123.log")
    # a seed in the config that is no whole number is no seed (as before), not an error
    assert parse_log_text(f"Hyperparameters:\n  seed: {BIG}\n\nstep:1/2 loss:1\n", "t.log").run.seed is None


def test_submission_numbers_are_bounded_before_conversion():
    for text in ('{"val_bpb": 1e99999999}', '{"x": ' + BIG + "}", '{"x": 1e400}', '{"x": NaN}'):
        with pytest.raises(GolfkitError, match=r"^s\.json"):
            load_submission_bytes(text.encode(), "s.json")
    # hyperparameters anywhere in a double's range stay readable
    raw = load_submission_bytes(b'{"extra": {"eps": 1e-300, "big": 1e300}, "val_bpb": 1.08100}', "s.json")
    assert normalise(raw, "s.json").val_bpb.places == 5
    with pytest.raises(GolfkitError, match=r"^s\.json:3: a 5,000-character number"):
        load_submission_bytes(('{\n"a": 1,\n"b": ' + BIG + "}").encode(), "s.json")


# ---------------------------------------------------------------------------------------------- fuzz

DIGITS = st.one_of(st.integers(1, 30).map(lambda n: "9" * n), st.integers(4000, 6000).map(lambda n: "1" * n),
                   st.text(alphabet="0123456789\u0663\u00b2", min_size=1, max_size=30))
NUMBERS = st.one_of(
    DIGITS,
    st.tuples(st.sampled_from(["", "-"]), DIGITS, st.sampled_from(["", ".5", "." + "0" * 40, ".1234567890123456789012"]),
              st.sampled_from(["", "e5", "e-5", "e308", "e999", "E+99999999", "e-400"])).map("".join),
)
LOG_LINES = st.one_of(
    st.text(max_size=40),
    st.builds("{}{}{}".format, st.sampled_from([
        "step:", "step:1/", "seed:", "  seed: ", "Code size: ", "Total submission size int8+zlib: ", "val_tokens: ",
        "final_int8_zlib_roundtrip val_loss:", "final_x val_loss:1 val_bpb:", "step:5/10 train_time:",
        "step:5/10 step_avg:", "stopping_early: train_time:", "total_eval_time:", "ttt_sliding:done val_loss=1 elapsed=",
        "Serialized model int8+zlib: ", "budget:", "GPTQ:collected 3 Hessians in ", "val_loader: tokens:",
    ]), NUMBERS, st.sampled_from(["", " bytes", "ms", "s", "/20000 loss:1", " val_bpb:1.2", "ms step:3"])),
)


def _check_log(log) -> None:
    """A parsed log holds only numbers the checks can compute with."""
    for run in log.runs:
        wholes = [run.seed, run.stop_step, run.val_tokens] + [s.bytes for s in run.sizes]
        wholes += [p.step for p in run.steps] + [p.total_steps for p in run.steps]
        assert all(v is None or abs(v) < 10 ** MAX_WHOLE_DIGITS for v in wholes)
        reals = [run.train_time_ms] + [p.seconds for p in run.phases] + [m.eval_time_s for m in run.metrics]
        reals += [getattr(p, k) for p in run.steps for k in ("train_loss", "val_loss", "val_bpb", "train_time_ms")]
        assert all(v is None or math.isfinite(v) for v in reals)
        for metric in run.metrics:
            for number in (metric.val_loss, metric.val_bpb):
                round(number.value, 20)  # what the claim checks do; raised InvalidOperation before


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LOG_LINES, max_size=12), st.sampled_from(["train_seed1.log", "t.log"]))
def test_fuzz_log_parser_gives_a_log_or_a_golfkit_error(lines, name):
    try:
        log = parse_log_text("\n".join(lines), name)
    except GolfkitError as exc:
        assert str(exc).startswith(name) and "\n" not in str(exc)
        return
    _check_log(log)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_log_bytes_give_a_log_or_a_golfkit_error(data):
    try:
        _check_log(parse_log_bytes(b"step:1/2 loss:" + data, "x.log"))
    except GolfkitError:
        pass


JSON_LITERALS = st.one_of(NUMBERS, NUMBERS.map(json.dumps), st.sampled_from(["NaN", "Infinity", "-Infinity", "null",
                                                                             "true", '"\\u00b2"', '"42"']))
SUBMISSION = (
    '{{"val_bpb": {}, "val_loss": {}, "bytes_total": {}, "bytes_code": {}, "val_bpb_std": {}, "seeds": [{}, 7],'
    ' "seed_results": {{"7": {{"val_bpb": {}, "steps": {}, "artifact_bytes": {}, "eval_time_ms": {}}}}},'
    ' "data": {{"val_tokens": {}}}, "extra": {{"lr": {}}}}}'
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JSON_LITERALS, min_size=12, max_size=12))
def test_fuzz_submission_numbers_give_claims_or_a_golfkit_error(literals):
    text = SUBMISSION.format(*literals)
    try:
        sub = normalise(load_submission_bytes(text.encode(), "s.json"), "s.json")
    except GolfkitError as exc:
        assert str(exc).startswith("s.json") and "\n" not in str(exc)
        return
    claims = [sub.val_bpb, sub.val_loss, sub.val_bpb_std] + [c.val_bpb for c in sub.seed_results.values()]
    for claim in claims:
        if claim is not None:
            round(claim.value, 20)
            claim.value - Decimal("1.5")
    ints = [sub.bytes_total, sub.bytes_code] + [c.bytes_total for c in sub.seed_results.values()]
    assert all(v is None or abs(v) < 10 ** MAX_WHOLE_DIGITS for v in ints)
    for seed in sub.seeds:  # what the seed matching does with a seed that looks like digits
        if seed.lstrip("-").isdigit():
            int(seed)
    assert all(math.isfinite(c.eval_time_ms) for c in sub.seed_results.values() if c.eval_time_ms is not None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.lists(JSON_LITERALS, min_size=12, max_size=12))
def test_fuzz_submission_numbers_through_every_check(tmp_path_factory, literals):
    folder = write_record(tmp_path_factory.mktemp("r"))
    (folder / "submission.json").write_text(SUBMISSION.format(*literals))
    (report,) = verify_paths([folder])  # findings only: any exception fails the test
    assert report.verdict in ("pass", "fail")


PROGRAMS = st.one_of(
    st.sampled_from(["print(1)\n", DEEP, "x=a" + ".b" * 300 + "\n", "#" * 1000 + "\n", "def f(:\n", "",
                     "import lzma\nexec(lzma.decompress(b''))\n"]),
    st.text(alphabet="()[]{}-+~ab=:\n\"'#\\1.,", max_size=200),
)
CALLS = [("lzma", "lzma.decompress({})", lzma.compress), ("zlib", "zlib.decompress({})", zlib.compress),
         ("zlib", "zlib.decompress({},wbits=-15)", lambda b: zlib.compress(b)[2:-4])]


@st.composite
def wrappers(draw) -> str:
    program = draw(PROGRAMS).encode()
    layers = draw(st.integers(1, 6))
    text = program
    for _ in range(layers):
        module, call, compress = draw(st.sampled_from(CALLS))
        blob = compress(text)
        if draw(st.booleans()):
            cut = draw(st.integers(0, len(blob)))
            blob = blob[:cut] + draw(st.binary(max_size=8)) + blob[cut:]
        literal = base64.b85encode(blob).decode()
        encode = draw(st.sampled_from(["", ".decode()", '.decode("latin-1")', '.decode("punycode")']))
        text = f"import {module},base64\nexec({call.format(f'base64.b85decode({literal!r})')}{encode})\n".encode()
    out = text.decode()
    if draw(st.booleans()):  # mutate the wrapper text itself
        at = draw(st.integers(0, len(out)))
        out = out[:at] + draw(st.text(alphabet="()[]+-'\"\\x\n", max_size=6)) + out[at:]
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wrappers())
def test_fuzz_wrapper_decoder_gives_a_program_none_or_a_golfkit_error(text):
    try:
        found = unwrap_source(text, where="w.py")
    except GolfkitError as exc:
        assert str(exc).startswith("w.py") and "\n" not in str(exc)
        return
    if found is not None:
        assert len(found.source) <= MAX_LAYER_BYTES and 1 <= len(found.layers) <= 4


EXPRESSIONS = st.recursive(
    st.sampled_from(["a", "1", "'s'", "f'{a}'"]),
    lambda inner: st.one_of(
        st.builds("-{}".format, inner), st.builds("not {}".format, inner), st.builds("({})".format, inner),
        st.builds("[{}]".format, inner), st.builds("{}.b".format, inner), st.builds("{}+{}".format, inner, inner),
        st.builds("{}()".format, inner), st.builds("lambda:{}".format, inner), st.builds("{}**2".format, inner),
        st.builds("{} if a else {}".format, inner, inner)),
    max_leaves=400)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(EXPRESSIONS.map("x={}\n".format), st.text(max_size=300)))
def test_fuzz_parse_source_gives_a_bounded_tree_or_a_golfkit_error(text):
    try:
        tree = parse_source(text)
    except (SourceRefused, SourceSyntaxError):
        return
    assert depth_of(tree) <= MAX_SOURCE_DEPTH
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(tree, "s.py", "exec")  # no RecursionError within the bound
    except SyntaxError:
        pass  # `return` outside a function parses and does not compile: not a bound's business


# ---------------------------------------------------------------------------------------------- the real corpus


def corpus_scripts() -> list:
    return corpus_params(sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.py")) if CORPUS.is_dir() else [])


@pytest.mark.parametrize("rel", corpus_scripts())
def test_every_real_script_and_wrapper_decodes_and_parses_well_inside_the_bounds(rel):
    path = CORPUS / rel
    text = read_source(path)
    unwrapped = unwrap_source(text, where=rel)
    program = unwrapped.source if unwrapped else text
    if unwrapped is not None:
        # the largest real payload (2026-04-08) decodes to 50,110 bytes: the layer bound is 160x that
        assert len(unwrapped.layers) == 1 and len(program.encode()) * 100 < MAX_LAYER_BYTES
    for source in {text, program}:
        # the largest real script has 30,255 tokens and a tree 20 deep
        assert tokens_of(source) * 5 < MAX_SOURCE_TOKENS
        try:
            tree = parse_source(source, rel)
        except SourceSyntaxError as exc:
            # the 2026-04-08 payload nests same-quote f-strings, Python 3.12 syntax
            assert sys.version_info < (3, 12) and "3.12" in str(exc), exc
            continue
        assert depth_of(tree) * 4 < MAX_SOURCE_DEPTH


@pytest.mark.parametrize("rel", corpus_params(sorted(
    str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.suffix in (".log", ".txt", ".json")) if CORPUS.is_dir() else []))
def test_every_real_log_and_submission_reads_within_the_number_bounds(rel):
    path = CORPUS / rel
    if path.suffix == ".json":
        if path.name.startswith("submission"):
            normalise(load_submission_bytes(path.read_bytes(), rel), rel)
        return
    _check_log(parse_log_bytes(path.read_bytes(), rel))
