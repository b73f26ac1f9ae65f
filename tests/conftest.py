"""Fixtures shared by the test files: the reference trainer as a module, and the real-record corpus."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from _corpus import CORPUS, MISSING, corpus_present

pytest_plugins = ["_finding_ids"]  # every finding a test creates is held to golfkit/finding_ids.toml
TRAINER = Path(__file__).resolve().parents[1] / "templates" / "train_gpt.py"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The real-record corpus folder (tests/_corpus.py says where); the test is skipped when it is absent."""
    if not corpus_present():
        pytest.skip(MISSING)
    return CORPUS


def pytest_terminal_summary(terminalreporter) -> None:
    # A skipped conformance run must not pass for a green one: one line that cannot be missed.
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if MISSING in str(r.longrepr)]
    if skipped:
        tests = f"{len(skipped)} conformance test{'s' if len(skipped) != 1 else ''}"
        terminalreporter.write_sep("!", f"{tests} SKIPPED: {MISSING}", yellow=True, bold=True)


@pytest.fixture(scope="module")
def trainer():
    """templates/train_gpt.py imported as a module (its main() does not run)."""
    spec = importlib.util.spec_from_file_location("golfkit_reference_trainer", TRAINER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def one_thread():
    # Two OpenMP threads on a shared, oversubscribed CPU spin against each other: one is much faster there.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
