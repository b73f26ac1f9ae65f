"""pytest plugin: every finding a test creates is held to golfkit/finding_ids.toml.

Each Finding created while a test runs (in the test or its function-scoped fixtures; a subprocess is
not seen) is recorded through `golfkit.findings.OBSERVERS`. After the test the recorder fails it when
a finding's id is not declared or has another severity than declared, when an id named by
`@pytest.mark.fires(...)` was not emitted, or when an id named by `@pytest.mark.quiet(...)` was.
The fires/quiet checks only apply to a test that passed (a failed test has already said enough).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from golfkit import findings
from golfkit.findings import Finding, IdSpec


def marked_ids(item: pytest.Item, name: str) -> set[str]:
    """The ids named by every `name` marker of a test (decorators, class and module marks, params)."""
    return {ident for mark in item.iter_markers(name) for ident in mark.args}


def id_problems(emitted: Iterable[Finding], fires: Iterable[str], quiet: Iterable[str],
                catalog: Mapping[str, IdSpec], passed: bool = True) -> list[str]:
    """What is wrong with the findings a test emitted, against the catalog and its markers; [] when fine."""
    problems: list[str] = []
    seen: set[str] = set()
    for finding in emitted:
        if finding.id in seen:
            continue
        seen.add(finding.id)
        spec = catalog.get(finding.id)
        if spec is None:
            problems.append(f"emitted {finding.id!r}, which golfkit/finding_ids.toml does not declare")
        elif spec.severity != finding.severity:
            problems.append(f"emitted {finding.id!r} as {finding.severity.value}; "
                            f"golfkit/finding_ids.toml declares it {spec.severity.value}")
    for ident in sorted(set(fires) | set(quiet)):
        if ident not in catalog:
            problems.append(f"a fires/quiet marker names {ident!r}, which golfkit/finding_ids.toml does not declare")
    if passed:
        problems += [f"marked fires({ident!r}) but did not emit it" for ident in sorted(set(fires) - seen)]
        problems += [f"marked quiet({ident!r}) but emitted it" for ident in sorted(set(quiet) & seen)]
    return problems


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.stash[CALL_PASSED] = report.passed
    return report


CALL_PASSED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def finding_ids(request: pytest.FixtureRequest):
    """Record every Finding created during the test; check them against the catalog afterwards."""
    emitted: list[Finding] = []
    findings.OBSERVERS.append(emitted.append)
    try:
        yield emitted
    finally:
        findings.OBSERVERS.remove(emitted.append)
    item = request.node
    problems = id_problems(emitted, marked_ids(item, "fires"), marked_ids(item, "quiet"), findings.load_catalog(),
                           passed=item.stash.get(CALL_PASSED, False))
    if problems:
        pytest.fail(f"{item.nodeid}: finding ids:\n  " + "\n  ".join(problems), pytrace=False)
