"""The probe's sandbox: a script that loops forever, allocates without bound or opens a socket is stopped
and reported, and the verifier goes on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from golfkit.probe.run import ProbeOptions, probe_record
from golfkit.probe.sandbox import scrubbed_env


def probe_source(tmp_path: Path, source: str, **options):
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "train_gpt.py").write_text(source)
    return probe_record(folder, ProbeOptions(sweep=False, **options))


def only_finding(report):
    assert len(report.findings) == 1, [f.message for f in report.findings]
    return report.findings[0]


@pytest.mark.fires("probe.sandbox.timeout")
@pytest.mark.quiet("probe.sandbox.memory", "probe.sandbox.crashed", "probe.harness.failed")
def test_endless_loop_is_stopped_at_the_wall_clock_limit(tmp_path):
    report = probe_source(tmp_path, "while True:\n    pass\n", timeout_s=6)
    finding = only_finding(report)
    assert finding.id == "probe.sandbox.timeout"
    assert finding.severity.value == "error"  # how soon after the limit it stops: bench/bench_probe.py


@pytest.mark.fires("probe.sandbox.memory")
@pytest.mark.quiet("probe.sandbox.timeout", "probe.sandbox.crashed", "probe.harness.failed")
def test_unbounded_allocation_is_stopped_by_the_memory_limit(tmp_path):
    source = "chunks = []\nwhile True:\n    chunks.append(bytearray(64 << 20))\n"
    report = probe_source(tmp_path, source, memory_mb=1536)
    finding = only_finding(report)
    assert finding.id == "probe.sandbox.memory"
    assert "1536 MB" in finding.message


@pytest.mark.fires("probe.sandbox.network")
@pytest.mark.quiet("probe.sandbox.timeout", "probe.sandbox.crashed", "probe.harness.failed")
def test_opening_a_socket_is_stopped_and_reported(tmp_path):
    source = "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=5)\n"
    finding = only_finding(probe_source(tmp_path, source))
    assert finding.id == "probe.sandbox.network"
    assert "create_connection" in finding.evidence["detail"] or "network" in finding.message


@pytest.mark.fires("probe.sandbox.network")
def test_raw_socket_object_is_stopped_too(tmp_path):
    source = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
    assert only_finding(probe_source(tmp_path, source)).id == "probe.sandbox.network"


@pytest.mark.fires("probe.harness.no_model")
@pytest.mark.quiet("probe.harness.import_failed", "probe.harness.failed", "probe.sandbox.crashed")
def test_script_sees_a_scrubbed_environment_and_a_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("GOLFKIT_PROBE_SECRET", "do-not-leak")
    source = (
        "import os, sys\n"
        "if 'GOLFKIT_PROBE_SECRET' in os.environ:\n"
        "    raise SystemExit('saw the secret')\n"
        f"if os.path.abspath(os.path.dirname(__file__)) == {str(tmp_path / 'rec')!r}:\n"
        "    raise SystemExit('ran in the record folder itself')\n"
        "open('scratch.txt', 'w').write('written in the working copy')\n"
    )
    report = probe_source(tmp_path, source)
    # it imports cleanly but has no model to probe: a harness warning, nothing from the checks above
    finding = only_finding(report)
    assert finding.id == "probe.harness.no_model", finding.message
    assert not (tmp_path / "rec" / "scratch.txt").exists()
    assert sorted(os.listdir(tmp_path / "rec")) == ["train_gpt.py"]


def test_scrubbed_env_keeps_only_what_the_child_needs(tmp_path):
    env = scrubbed_env(tmp_path, {"VOCAB_SIZE": "384"})
    assert env["VOCAB_SIZE"] == "384"
    assert env["OMP_NUM_THREADS"] == "1"
    assert not any(k.endswith(("_TOKEN", "_KEY", "PROXY")) for k in env)


@pytest.mark.fires("probe.harness.import_failed")
@pytest.mark.quiet("probe.harness.failed", "probe.sandbox.crashed")
def test_import_error_is_a_warning_not_a_crash(tmp_path):
    finding = only_finding(probe_source(tmp_path, "import flash_attn_interface\n"))
    assert finding.id == "probe.harness.import_failed"
    assert finding.severity.value == "warning"
    assert "flash_attn_interface" in finding.message


@pytest.mark.fires("probe.harness.evaluator_failed")
@pytest.mark.quiet("probe.harness.no_evaluator", "probe.harness.failed")
@pytest.mark.parametrize("name", ["eval_val"])
def test_unbindable_evaluator_is_reported(tmp_path, name):
    source = (Path(__file__).resolve().parents[1] / "templates" / "train_gpt.py").read_text()
    source = source.replace(f"def {name}(args, model,", f"def {name}(mystery, args, model,", 1)
    report = probe_source(tmp_path, source, only=(name,))
    finding = only_finding(report)
    assert finding.id == "probe.harness.evaluator_failed"
    assert "mystery" in finding.message
