"""golfkit.facts: the challenge's facts, each written once, and each rule both ways."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from golfkit import facts
from golfkit.facts import (
    ScriptChoice,
    folder_name_problem,
    known_variants,
    main_script,
    normalise_track,
    variant_for_tokens,
)
from golfkit.schema import load_schema

PACKAGE = Path(__file__).resolve().parents[1] / "golfkit"


@pytest.mark.parametrize(("spelled", "track"), [
    ("10min_16mb", "10min_16mb"),
    ("track_10min_16mb", "10min_16mb"),
    ("10-min-16mb", "10min_16mb"),
    ("10_min_16mb", "10min_16mb"),
    ("Track_10MIN_16MB", "10min_16mb"),
    ("non_record_16mb", "non_record_16mb"),
    ("track_non_record_16mb", "non_record_16mb"),
    ("non-record-unlimited-compute-16mb", "non_record_16mb"),
    ("unlimited", "non_record_16mb"),
])
def test_every_spelling_of_a_track_is_read_as_it(spelled, track):
    assert normalise_track(spelled) == track


@pytest.mark.parametrize("spelled", ["", "16mb", "track_", "track_speedrun", "record_16mb", "1min_16mb"])
def test_names_of_no_track_are_refused(spelled):
    assert normalise_track(spelled) is None


def test_the_schema_lists_the_same_tracks():
    assert tuple(load_schema("submission")["properties"]["track"]["enum"]) == facts.TRACKS


@pytest.mark.parametrize("name", ["2026-05-01_my_idea", "2024-02-29_leap", "2026-11-22_golfkit_reference_cpu"])
def test_a_dated_slug_is_a_record_folder_name(name):
    assert folder_name_problem(name) is None


@pytest.mark.parametrize(("name", "problem"), [
    ("my_idea", "does not start with a date"),
    ("2026-05-01", "does not start with a date"),
    ("2026-02-30_x", "is not a calendar date"),
    ("2026-05-01_my idea", "whitespace"),
    ("2026-05-01_my\x07idea", "control characters"),
])
def test_other_names_are_refused_with_the_reason(name, problem):
    assert problem in folder_name_problem(name)


@pytest.mark.parametrize(("sizes", "claimed", "choice"), [
    ({"train_gpt.py": 10, "train_gpt_v2.py": 20, "util.py": 5}, 20, ScriptChoice("train_gpt.py")),
    ({"train_gpt_a.py": 10, "train_gpt_b.py": 20}, 20, ScriptChoice("train_gpt_b.py")),
    ({"train_gpt_v2.py": 10, "util.py": 5}, None, ScriptChoice("train_gpt_v2.py")),
    ({"model.py": 10}, None, ScriptChoice("model.py")),
    ({"train_gpt_a.py": 10, "train_gpt_b.py": 20}, 30,
     ScriptChoice("train_gpt_a.py", ("train_gpt_a.py", "train_gpt_b.py"))),
])
def test_the_training_script_of_a_folder(sizes, claimed, choice):
    assert main_script(sizes, claimed) == choice


@pytest.mark.parametrize("sizes", [{}, {"model.py": 1, "util.py": 2}, {"notes.txt": 3}])
def test_no_training_script_when_the_rule_names_none(sizes):
    assert main_script(sizes) is None


def test_variants_come_from_the_manifest():
    names = {v.name: v for v in known_variants()}
    assert names["sp1024"].val_tokens == 62_021_632 and names["sp1024"].val_bytes == 151_080_363
    assert names["byte260"].val_bytes is None
    assert variant_for_tokens(40_540_160).name == "sp8192"
    assert variant_for_tokens(12345) is None


def _constants(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            yield node.value, node.lineno
        elif isinstance(node, ast.Tuple) and all(isinstance(e, ast.Constant) for e in node.elts):
            yield tuple(e.value for e in node.elts), node.lineno


# Each fact and where golfkit writes it; anywhere else it is read from there.
WRITTEN_ONCE = {
    16_000_000: "golfkit/facts.py",  # the cap
    600.0: "golfkit/facts.py",  # the time budgets
    "track_": "golfkit/facts.py",
    "10min_16mb": "golfkit/facts.py",
    ("text", "json", "github", "markdown"): "golfkit/report/__init__.py",
}


def test_each_fact_is_written_once():
    root = PACKAGE.parent
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for value, line in _constants(ast.parse(path.read_text(encoding="utf-8"))):
            if type(value) in (int, float, str, tuple) and value in WRITTEN_ONCE and WRITTEN_ONCE[value] != rel:
                found.append(f"{rel}:{line}: {value!r} (written in {WRITTEN_ONCE[value]})")
    assert found == []
