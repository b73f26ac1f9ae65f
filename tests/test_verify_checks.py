"""Each check fires on one mutation of a clean synthetic record, and only that check fires."""

from __future__ import annotations

import json

import pytest
from verify_records import LOSSES, MODEL, SCRIPT, TOKENS, log_text, submission, write_record

from golfkit.findings import Severity
from golfkit.verify.api import verify_paths


def problems(folder) -> set[str]:
    (report,) = verify_paths([folder])
    return {f.id for f in report.findings if f.severity != Severity.INFO}


def test_clean_record_passes(tmp_path):
    (report,) = verify_paths([write_record(tmp_path)])
    assert report.verdict == "pass"
    assert [f.id for f in report.findings if f.severity != Severity.INFO] == []
    assert {"claim.val_bpb.matched", "claim.val_loss.matched"} <= {f.id for f in report.findings}


def test_claim_off_in_last_digit(tmp_path):
    sub = submission()
    sub["val_bpb"] = float(f"{sub['val_bpb'] + 1e-8:.8f}")
    assert problems(write_record(tmp_path, sub=sub)) == {"claim.val_bpb.not_in_logs"}


def test_per_seed_claim_off(tmp_path):
    sub = submission()
    sub["seed_results"]["2025"]["val_loss"] = 2.07300001
    assert problems(write_record(tmp_path, sub=sub)) == {"claim.seed_val_loss.not_in_log"}


def test_bpb_stored_as_val_loss(tmp_path):
    sub = submission()
    sub["val_loss"] = sub["val_bpb"]
    assert problems(write_record(tmp_path, sub=sub)) == {"claim.val_loss.wrong_unit"}


def test_seed_log_missing(tmp_path):
    folder = write_record(tmp_path)
    (folder / "train_seed2025.log").unlink()
    assert problems(folder) == {"claim.seed.log_missing"}


def test_seed_bytes_copied_from_another_seed(tmp_path):
    sub = submission()
    sub["seed_results"]["42"]["bytes_total"] = sub["seed_results"]["1337"]["bytes_total"]
    assert problems(write_record(tmp_path, sub=sub)) == {"size.seed_bytes.mismatch"}


def test_total_one_byte_over_cap(tmp_path):
    code = len(SCRIPT.encode())
    model = 16_000_000 - code + 1
    logs = {f"train_seed{s}.log": log_text(s, model=model if s == 2025 else None) for s in LOSSES}
    sub = submission()
    sub["seed_results"]["2025"]["bytes_total"] = model + code
    sub["bytes_total"] = model + code
    assert problems(write_record(tmp_path, sub=sub, logs=logs)) == {"budget.over_cap"}


def test_code_file_one_byte_longer(tmp_path):
    folder = write_record(tmp_path)
    (folder / "train_gpt.py").write_text(SCRIPT + "#")
    found = problems(folder)
    assert "code.bytes_code.mismatch" in found
    assert found <= {"code.bytes_code.mismatch", "code.logged_size.mismatch", "code.embedded.differs"}


def test_sibling_code_is_counted(tmp_path):
    folder = write_record(tmp_path)
    (folder / "helpers.py").write_text("X = 1\n")
    (folder / "train_gpt.py").write_text(SCRIPT.replace("import os", "import os\nimport helpers"))
    (report,) = verify_paths([folder])
    ids = {f.id for f in report.findings}
    assert "code.sibling.counted" in ids and "code.bytes_code.mismatch" in ids
    assert report.measured["code_bytes"] == len(SCRIPT) + len("\nimport helpers") + len("X = 1\n")


def test_log_from_other_code(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s, source=SCRIPT + ("# other\n" if s == 42 else ""),
                                          code=len(SCRIPT)) for s in LOSSES}
    assert problems(write_record(tmp_path, logs=logs)) == {"code.embedded.differs"}


def test_train_time_over_limit(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s, train_ms=600_100 if s == 42 else 599_000) for s in LOSSES}
    assert problems(write_record(tmp_path, logs=logs)) == {"time.train.over_limit"}


def test_train_time_over_by_less_than_a_step_is_a_warning(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s, train_ms=600_030 if s == 42 else 599_000) for s in LOSSES}
    (report,) = verify_paths([write_record(tmp_path, logs=logs)])
    assert report.verdict == "pass"
    assert "time.train.last_step_over" in {f.id for f in report.findings if f.severity == Severity.WARNING}


def test_eval_time_over_limit(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s).replace("eval_time:1401ms", "eval_time:600500ms") for s in LOSSES}
    assert problems(write_record(tmp_path, logs=logs)) == {"time.eval.over_limit"}


def test_traceback_as_the_log(tmp_path):
    folder = write_record(tmp_path)
    text = log_text(2025).split("stopping_early")[0] + "Traceback (most recent call last):\n  File x\nOOM\n"
    (folder / "train_seed2025.log").write_text(text)
    found = problems(folder)
    assert "log.traceback" in found
    assert found <= {"log.traceback", "claim.seed_val_bpb.not_in_log", "claim.seed_val_loss.not_in_log",
                     "size.seed_bytes.not_logged"}


def test_log_cut_short(tmp_path):
    folder = write_record(tmp_path)
    (folder / "train_seed2025.log").write_text(log_text(2025).split("stopping_early")[0])
    assert "log.truncated" in problems(folder)


def test_val_tokens_of_another_variant(tmp_path):
    sub = submission()
    sub["data"] = {"variant": "sp1024", "val_tokens": TOKENS, "val_bytes": 151080363}
    logs = {f"train_seed{s}.log": log_text(s, tokens=45508608 if s == 42 else TOKENS) for s in LOSSES}
    assert problems(write_record(tmp_path, sub=sub, logs=logs)) == {"data.val_tokens.mismatch"}


def test_unknown_val_token_count(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s, tokens=TOKENS - 1024) for s in LOSSES}
    assert problems(write_record(tmp_path, logs=logs)) == {"data.val_tokens.unknown"}


def test_byte_total_five_percent_off(tmp_path):
    wrong = int(151080363 * 0.95)
    logs = {f"train_seed{s}.log": log_text(s, total_bytes=wrong) for s in LOSSES}
    sub = submission()
    for s, entry in sub["seed_results"].items():
        entry["val_bpb"] = float(f"{LOSSES[int(s)] / 0.6931471805599453 * TOKENS / wrong:.8f}")
    sub["val_bpb"] = sub["seed_results"]["42"]["val_bpb"]
    assert problems(write_record(tmp_path, sub=sub, logs=logs)) == {"data.bytes.mismatch"}


def test_declared_variant_is_checked(tmp_path):
    sub = submission()
    sub["data"] = {"variant": "synthetic", "val_tokens": TOKENS, "val_bytes": 151080363 + 5000}
    (report,) = verify_paths([write_record(tmp_path, sub=sub)])
    assert {f.id for f in report.findings if f.severity == Severity.WARNING} == {"data.bytes.small_mismatch"}


def test_seeds_with_different_configs(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s, extra_config=" matrix_lr:0.05" if s == 42 else " matrix_lr:0.04")
            for s in LOSSES}
    assert problems(write_record(tmp_path, logs=logs)) == {"seeds.config.differs"}


def test_same_seed_twice(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s) for s in LOSSES}
    logs["train_rerun.log"] = log_text(42, loss=2.0711)
    assert problems(write_record(tmp_path, logs=logs)) == {"seeds.duplicate"}


def test_std_claim_recomputed(tmp_path):
    sub = submission()
    sub["val_bpb_std"] = 0.01
    assert problems(write_record(tmp_path, sub=sub)) == {"stats.val_bpb_std.mismatch"}
    sub["val_bpb_std"] = 0.0006  # the sample std of the three seeds, 0.00059226
    assert problems(write_record(tmp_path / "ok", sub=sub)) == set()


def test_legacy_alias_is_a_warning(tmp_path):
    sub = submission()
    sub["mean_val_bpb"] = sub.pop("val_bpb")
    (report,) = verify_paths([write_record(tmp_path, sub=sub)])
    assert report.verdict == "pass"
    assert "submission.alias" in {f.id for f in report.findings if f.severity == Severity.WARNING}


@pytest.mark.parametrize("name", ["README.md", "submission.json", "train_gpt.py"])
def test_required_files(tmp_path, name):
    folder = write_record(tmp_path)
    (folder / name).unlink()
    expected = {"README.md": "files.readme.missing", "submission.json": "files.submission.missing",
                "train_gpt.py": "files.script.missing"}[name]
    assert expected in problems(folder)


def test_against_reports_improvement_and_p_value(tmp_path):
    old = write_record(tmp_path / "old")
    sub = submission()
    new = write_record(tmp_path / "new", sub=sub)
    (report,) = verify_paths([new], against=old)
    stats = report.measured["against"]
    assert stats["improvement_nats"] == pytest.approx(0.0)
    assert "stats.against.below_margin" in {f.id for f in report.findings}
    assert 0.0 <= stats["p_value"] <= 1.0


def test_multiple_runs_in_one_log_last_counts(tmp_path):
    first = log_text(1337, loss=2.2)
    logs = {"train_seed1337.log": first + log_text(1337)} | {f"train_seed{s}.log": log_text(s) for s in (42, 2025)}
    (report,) = verify_paths([write_record(tmp_path, logs=logs)])
    assert report.verdict == "pass"
    assert "log.runs" in {f.id for f in report.findings}


def test_json_claims_and_measured(tmp_path):
    (report,) = verify_paths([write_record(tmp_path)])
    assert report.claims["bytes_code"] == len(SCRIPT)
    assert {log["seed"] for log in report.measured["logs"]} == set(LOSSES)
    assert json.loads(json.dumps(report.measured, default=str))
    assert MODEL[1337] + len(SCRIPT) in {log["total_bytes"] for log in report.measured["logs"]}


EXAMPLE = __import__("pathlib").Path(__file__).resolve().parents[1] / "records" / "track_non_record_16mb" / \
    "2026-11-22_golfkit_reference_cpu"


@pytest.mark.skipif(not EXAMPLE.is_dir(), reason="example record not built yet")
def test_example_record_verifies_clean():
    (report,) = verify_paths([EXAMPLE])
    assert report.verdict == "pass"
    assert [f.id for f in report.findings if f.severity == Severity.WARNING] == []
