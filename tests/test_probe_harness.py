"""The probe's harness findings: a script whose probes did not run is `probe.not_run` (an error, never PASS)
and says why; one the probes can only partly observe gets a warning; the sandbox reports a child that dies
on its own. Each case is the legal fixture of test_probe.py with one change."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_probe import BASE, write_record

from golfkit.probe.run import ProbeOptions, probe_record

# eval_val alone, no vocabulary sweep: the harness findings come before the probes themselves
OPTIONS = ProbeOptions(timeout_s=120, sweep=False, only=("eval_val",))


def probe_changed(tmp_path: Path, old: str, new: str, options: ProbeOptions = OPTIONS):
    assert BASE.count(old) >= 1, old
    return probe_record(write_record(tmp_path / "rec", BASE.replace(old, new)), options)


def ids(report) -> list[str]:
    return sorted(f.id for f in report.findings)


@pytest.mark.fires("probe.not_run")
@pytest.mark.quiet("probe.sandbox.crashed")
def test_a_script_without_byte_tables_is_not_probed(tmp_path):
    report = probe_changed(tmp_path, "def build_sentencepiece_luts(", "def make_luts(")
    assert ids(report) == ["probe.not_run"]
    assert report.findings[0].severity.value == "error" and report.evaluators == []
    assert report.findings[0].evidence["reason"] == "no_luts"


@pytest.mark.fires("probe.not_run")
@pytest.mark.quiet("probe.sandbox.crashed")
def test_a_script_that_fails_while_being_set_up(tmp_path):
    report = probe_changed(tmp_path, "    base = np.zeros(vocab_size, np.int16)\n",
                           "    raise RuntimeError('byte tables need CUDA')\n")
    (finding,) = report.findings
    assert finding.id == "probe.not_run" and finding.severity.value == "error"
    assert "byte tables need CUDA" in finding.message and "failed during setup" in finding.message


@pytest.mark.fires("probe.not_run")
def test_a_script_without_eval_val_functions(tmp_path):
    report = probe_changed(tmp_path, "def eval_val", "def score_val", ProbeOptions(timeout_s=120, sweep=False))
    (finding,) = report.findings
    assert finding.id == "probe.not_run" and "defines no eval_val" in finding.message


@pytest.mark.fires("probe.not_run")
def test_an_evaluator_asked_for_by_a_name_the_script_lacks(tmp_path):
    report = probe_record(write_record(tmp_path / "rec", BASE), ProbeOptions(timeout_s=120, sweep=False,
                                                                           only=("eval_val_lora",)))
    (finding,) = report.findings
    assert finding.id == "probe.not_run"
    assert "eval_val, eval_val_sliding, eval_val_ttt" in finding.message


@pytest.mark.fires("probe.not_run")
def test_an_evaluator_that_raises(tmp_path):
    report = probe_changed(tmp_path, "    seq_len = args.train_seq_len\n    n = ",
                           "    raise ValueError('no GPU here')\n    seq_len = args.train_seq_len\n    n = ")
    (finding,) = report.findings
    assert finding.id == "probe.not_run" and "no GPU here" in finding.message
    (ev,) = report.evaluators
    assert set(ev.status.values()) == {"not run: evaluator failed"}


@pytest.mark.fires("probe.not_run")
@pytest.mark.quiet("probe.harness.unattributed", "probe.coverage.skipped")
def test_losses_computed_by_hand_cannot_be_observed(tmp_path):
    report = probe_changed(tmp_path, 'nll = F.cross_entropy(logits[keep], y[keep], reduction="none")',
                           "nll = -logits[keep].log_softmax(-1).gather(-1, y[keep][:, None])[:, 0]")
    (finding,) = report.findings
    assert finding.id == "probe.not_run" and finding.evidence["reason"] == "no_scores"
    (ev,) = report.evaluators
    assert ev.scores == 0 and set(ev.status.values()) == {"not run: no observable scores"}


@pytest.mark.fires("probe.harness.unattributed")
@pytest.mark.quiet("probe.not_run", "probe.coverage.skipped", "probe.bytes.mismatch")
def test_a_warm_up_window_from_outside_the_stream_is_unattributed(tmp_path):
    # a warm-up call on a window that is not in the validation stream; its loss is not counted
    report = probe_changed(tmp_path, "    model.eval()\n    with torch.no_grad():\n        x = val_tokens[: n",
                           "    model.eval()\n    with torch.no_grad():\n"
                           "        warm = torch.full((1, 8), 2, dtype=torch.long)\n"
                           "        F.cross_entropy(model.forward_logits(warm)[0], warm[0])\n"
                           "        x = val_tokens[: n")
    (finding,) = report.findings
    assert finding.id == "probe.harness.unattributed" and finding.evidence["rows"] == 8
    (ev,) = report.evaluators
    assert ev.scores == 6 * 32


@pytest.mark.fires("probe.harness.nondeterministic")
@pytest.mark.quiet("probe.causality.future_token", "probe.coverage.double_scored", "probe.coverage.skipped")
def test_an_evaluator_that_changes_between_identical_runs(tmp_path):
    # every other call slides by half the stride: the same targets, scored with other contexts
    source = BASE.replace("BOS = 1\n", "BOS = 1\nCALLS = []\n").replace(
        "                     is_boundary_token_lut, stride, batch_seqs=4):\n",
        "                     is_boundary_token_lut, stride, batch_seqs=4):\n"
        "    CALLS.append(1)\n"
        "    stride = stride if len(CALLS) % 2 else stride // 2\n")
    assert source.count("CALLS") == 3
    report = probe_record(write_record(tmp_path / "rec", source),
                          ProbeOptions(timeout_s=120, sweep=False, only=("eval_val_sliding",)))
    (finding,) = report.findings
    assert finding.id == "probe.harness.nondeterministic"
    (ev,) = report.evaluators
    assert {ev.status[p] for p in ("causality", "doc_isolation", "normalization")} == {"not run: nondeterministic"}
    assert ev.status["coverage"] == "pass"


@pytest.mark.fires("probe.harness.unreconciled")
@pytest.mark.quiet("probe.bytes.mismatch")
def test_a_returned_val_loss_that_is_not_the_mean_of_the_losses(tmp_path):
    # a bonus applied after the loss calls: golfkit cannot tell which bytes the val_bpb divides by
    report = probe_changed(tmp_path, "        return _finish(_score(model, x, y, torch.zeros(n, dtype=torch.long), luts))\n",
                           "        val_loss, val_bpb = _finish(_score(model, x, y, torch.zeros(n, dtype=torch.long), luts))\n"
                           "        return 0.9 * val_loss, val_bpb\n")
    (finding,) = report.findings
    assert finding.id == "probe.harness.unreconciled"
    (ev,) = report.evaluators
    assert ev.status["bytes"].startswith("not run") and ev.status["coverage"] == "pass"


@pytest.mark.fires("probe.sandbox.crashed")
@pytest.mark.quiet("probe.sandbox.timeout", "probe.sandbox.memory", "probe.not_run")
def test_a_child_that_exits_without_a_word_is_a_crash(tmp_path):
    report = probe_record(write_record(tmp_path / "rec", "import os\nos._exit(3)\n"), OPTIONS)
    (finding,) = report.findings
    assert finding.id == "probe.sandbox.crashed" and finding.severity.value == "error"
    assert finding.evidence["returncode"] == 3 and report.sandbox["status"] == "exited"
