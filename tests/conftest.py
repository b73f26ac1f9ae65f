"""Fixtures shared by the test files that import the reference trainer as a module."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

pytest_plugins = ["_finding_ids"]  # every finding a test creates is held to golfkit/finding_ids.toml
TRAINER = Path(__file__).resolve().parents[1] / "templates" / "train_gpt.py"


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
