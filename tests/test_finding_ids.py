"""Finding ids test themselves: one catalog (golfkit/finding_ids.toml), every id made to fire by a test
and kept quiet by another, every literal id in golfkit declared, docs/verify.md's table current, and the
recorder of tests/_finding_ids.py doing what it says."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from _finding_ids import id_problems

from golfkit.findings import CATALOG, Severity, info, load_catalog, parse_catalog, update_doc

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
PACKAGE = ROOT / "golfkit"
DOC = ROOT / "docs" / "verify.md"
MAKERS = {"error", "warning", "info", "Finding"}


# ---------------------------------------------------------------------------------------------- static scans


def marker_ids(tree: ast.AST) -> dict[str, set[str]]:
    """Ids named by `pytest.mark.fires(...)` / `pytest.mark.quiet(...)` anywhere in a test module:
    decorators, `pytestmark`, and `pytest.param(..., marks=...)` alike; `*NAME` expands a module-level
    tuple or list of strings."""
    names = {target.id: [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
             for node in getattr(tree, "body", []) if isinstance(node, ast.Assign)
             and isinstance(node.value, (ast.Tuple, ast.List)) for target in node.targets
             if isinstance(target, ast.Name)}
    found: dict[str, set[str]] = {"fires": set(), "quiet": set()}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in found
                and ast.unparse(node.func.value) in {"pytest.mark", "mark"}):
            for arg in node.args:
                if isinstance(arg, ast.Constant):
                    found[node.func.attr].add(arg.value)
                elif isinstance(arg, ast.Starred) and isinstance(arg.value, ast.Name):
                    found[node.func.attr].update(names.get(arg.value.id, []))
    return found


def all_marker_ids() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"fires": set(), "quiet": set()}
    for path in sorted(TESTS.glob("*.py")):
        for name, ids in marker_ids(ast.parse(path.read_text(encoding="utf-8"))).items():
            found[name] |= ids
    return found


def emitted_ids(tree: ast.AST) -> list[tuple[int, str]]:
    """The first argument of every error()/warning()/info()/Finding() call, as a literal id or, for an
    f-string, a regular expression ('claim.{unit}.matched' -> 'claim\\..+\\.matched'). Variables are skipped."""
    found: list[tuple[int, str]] = []

    def literal(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [re.escape(node.value)]
        if isinstance(node, ast.IfExp):
            return literal(node.body) + literal(node.orelse)
        if isinstance(node, ast.JoinedStr):
            return ["".join(re.escape(v.value) if isinstance(v, ast.Constant) else "[a-z0-9_]+" for v in node.values)]
        return []

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name in MAKERS:
                found += [(node.lineno, pattern) for pattern in literal(node.args[0])]
    return found


def test_catalog_is_well_formed():
    assert len(CATALOG) > 100
    assert CATALOG is load_catalog()
    for ident, spec in CATALOG.items():
        assert spec.id == ident
        assert isinstance(spec.severity, Severity)
        assert spec.what and "\n" not in spec.what and "FIELD.md" not in spec.what


@pytest.mark.parametrize("text, complaint", [
    ('["a.b"]\nseverity = "fatal"\nwhat = "x"\n', "severity 'fatal'"),
    ('["a.b"]\nseverity = "error"\n', "exactly `severity` and `what`"),
    ('["a.b"]\nseverity = "error"\nwhat = "x"\nextra = 1\n', "exactly `severity` and `what`"),
    ('["a.b"]\nseverity = "error"\nwhat = ""\n', "one line"),
    ('["Not An Id"]\nseverity = "error"\nwhat = "x"\n', "dotted lower-case id"),
    ('["nodots"]\nseverity = "error"\nwhat = "x"\n', "dotted lower-case id"),
])
def test_a_malformed_catalog_entry_is_refused(text, complaint):
    with pytest.raises(ValueError, match=re.escape(complaint)):
        parse_catalog(text)


def test_every_literal_id_in_golfkit_is_declared():
    undeclared = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, pattern in emitted_ids(ast.parse(path.read_text(encoding="utf-8"))):
            if not any(re.fullmatch(pattern, ident) for ident in CATALOG):
                undeclared.append(f"{path.relative_to(ROOT)}:{line}: {pattern}")
    assert undeclared == [], "declare these ids in golfkit/finding_ids.toml"


def test_every_marker_id_is_declared():
    found = all_marker_ids()
    assert sorted((found["fires"] | found["quiet"]) - set(CATALOG)) == []


def test_every_id_has_a_test_that_fires_it():
    missing = sorted(set(CATALOG) - all_marker_ids()["fires"])
    assert not missing, "write a test marked @pytest.mark.fires(ID) that makes each of these fire: " + ", ".join(missing)


def test_every_id_has_a_test_that_keeps_it_quiet():
    missing = sorted(set(CATALOG) - all_marker_ids()["quiet"])
    assert not missing, ("write a test marked @pytest.mark.quiet(ID) that runs its check on a record without the "
                         "defect, for each of: " + ", ".join(missing))


def test_the_doc_table_is_current():
    text = DOC.read_text(encoding="utf-8")
    assert "<!-- finding-ids:start" in text and "<!-- finding-ids:end -->" in text
    assert update_doc(text) == text, "docs/verify.md is stale: run `python -m golfkit.findings --update docs/verify.md`"


def test_the_doc_table_is_generated_from_the_catalog():
    stale = "# t\n<!-- finding-ids:start log.copy -->\n| old |\n<!-- finding-ids:end -->\nafter\n"
    assert update_doc(stale) == (
        "# t\n<!-- finding-ids:start log.copy -->\n| id | severity | fires when |\n|---|---|---|\n"
        f"| `log.copy` | info | {CATALOG['log.copy'].what} |\n<!-- finding-ids:end -->\nafter\n")


def test_the_static_scans_see_what_they_claim_to():
    source = textwrap.dedent('''
        QUIET = ("t.u", "v.w")

        @pytest.mark.fires("a.b", "c.d")
        @mark.quiet("e.f", *QUIET)
        @pytest.mark.parametrize("x", [pytest.param(1, marks=pytest.mark.quiet("g.h")),
                                       pytest.param(2, marks=[pytest.mark.fires("i.j")])])
        def test_x(x):
            error("k.l", "m")
            warning(f"n.{unit}.o", "m")
            info("p.q" if x else "r.s", "m")
            error(variable, "m")
    ''')
    tree = ast.parse(source)
    assert marker_ids(tree) == {"fires": {"a.b", "c.d", "i.j"}, "quiet": {"e.f", "g.h", "t.u", "v.w"}}
    assert [p for _, p in emitted_ids(tree)] == [r"k\.l", r"n\.[a-z0-9_]+\.o", r"p\.q", r"r\.s"]


# ---------------------------------------------------------------------------------------------- the recorder


CATALOG_TWO = parse_catalog('["log.copy"]\nseverity = "info"\nwhat = "x"\n["log.runs"]\nseverity = "info"\nwhat = "y"\n')


def test_the_recorder_accepts_declared_ids_and_met_markers():
    emitted = [info("log.copy", "m"), info("log.copy", "again")]
    assert id_problems(emitted, fires={"log.copy"}, quiet={"log.runs"}, catalog=CATALOG_TWO) == []


def test_the_recorder_fails_an_unmet_fires_marker():
    assert id_problems([], fires={"log.copy"}, quiet=(), catalog=CATALOG_TWO) == [
        "marked fires('log.copy') but did not emit it"]


def test_the_recorder_fails_a_quiet_id_that_fired():
    assert id_problems([info("log.runs", "m")], fires=(), quiet={"log.runs"}, catalog=CATALOG_TWO) == [
        "marked quiet('log.runs') but emitted it"]


def test_the_recorder_fails_an_undeclared_id_or_severity():
    # Stand-ins, not Findings: a real one with an undeclared id would fail this test's own recorder.
    made = [SimpleNamespace(id="log.nowhere", severity=Severity.INFO), SimpleNamespace(id="log.copy",
                                                                                        severity=Severity.WARNING)]
    problems = id_problems(made, (), (), CATALOG_TWO)
    assert problems == ["emitted 'log.nowhere', which golfkit/finding_ids.toml does not declare",
                        "emitted 'log.copy' as warning; golfkit/finding_ids.toml declares it info"]
    assert "a fires/quiet marker names 'log.nowhere', which golfkit/finding_ids.toml does not declare" in \
        id_problems([], {"log.nowhere"}, (), CATALOG_TWO)


def test_the_recorder_leaves_markers_of_a_failed_test_alone():
    assert id_problems([info("log.runs", "m")], {"log.copy"}, {"log.runs"}, CATALOG_TWO, passed=False) == []


def test_the_recorder_runs_after_every_test(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    # A pytest run of its own (a subprocess: the findings it makes must not reach this test's recorder).
    pytester.makeini("[pytest]\nmarkers =\n    fires: f\n    quiet: q\n")
    pytester.makepyfile(test_inner='''
        import pytest
        from golfkit.findings import Finding, Severity, info

        @pytest.mark.fires("log.copy")
        def test_fires_met():
            info("log.copy", "m")

        @pytest.mark.fires("log.copy")
        def test_fires_unmet():
            pass

        @pytest.mark.quiet("log.copy")
        def test_quiet_met():
            info("log.runs", "m")

        @pytest.mark.quiet("log.runs")
        def test_quiet_unmet():
            info("log.runs", "m")

        def test_undeclared():
            Finding("log.nowhere", Severity.INFO, "m")
    ''')
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    result = pytester.runpytest_subprocess("-p", "_finding_ids", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, errors=3)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_fires_unmet*", "*test_fires_unmet: finding ids:",
                                 "  marked fires('log.copy') but did not emit it",
                                 "*ERROR at teardown of test_quiet_unmet*", "*test_quiet_unmet: finding ids:",
                                 "  marked quiet('log.runs') but emitted it",
                                 "*ERROR at teardown of test_undeclared*", "*test_undeclared: finding ids:",
                                 "  emitted 'log.nowhere', which golfkit/finding_ids.toml does not declare"])
