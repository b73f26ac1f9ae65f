"""Each check fires on one mutation of a clean synthetic record, and only that check fires.

`fires`/`quiet` markers name the finding ids each test must and must not produce (tests/_finding_ids.py).
"""

from __future__ import annotations

import json

import pytest
from verify_records import BYTES, LOSSES, MODEL, SCRIPT, TOKENS, bpb, log_text, submission, write_record

from golfkit.errors import GolfkitError
from golfkit.findings import Severity
from golfkit.verify.api import verify_paths


def problems(folder) -> set[str]:
    (report,) = verify_paths([folder])
    return {f.id for f in report.findings if f.severity != Severity.INFO}


# Every id the built-in checks (and the reader) can emit that a clean record must not: the clean record
# runs them all. Not here: the four claim.*.matched (it emits them), stats.against.* and check.failed
# (they need --against or an extra check).
CLEAN_RECORD_QUIET = (
    "files.readme.missing", "files.readme.unreadable", "files.readme.too_large", "files.submission.missing",
    "files.submission.invalid", "files.script.missing", "files.log.missing", "files.symlink.outside",
    "files.too_many",
    "log.unreadable", "log.traceback", "log.truncated", "log.binary", "log.not_utf8", "log.too_large",
    "log.seed.conflict", "log.copy", "log.runs",
    "submission.alias", "submission.shape", "submission.schema", "submission.wrong_type",
    "claim.val_bpb.wrong_unit", "claim.val_loss.wrong_unit", "claim.val_bpb.not_in_logs",
    "claim.val_loss.not_in_logs", "claim.seed.log_missing", "claim.seed_val_bpb.wrong_unit",
    "claim.seed_val_loss.wrong_unit", "claim.seed_val_bpb.not_in_log", "claim.seed_val_loss.not_in_log",
    "size.seed_bytes.mismatch", "size.seed_bytes.not_logged", "size.bytes_total.not_in_logs", "budget.over_cap",
    "code.script.unreadable", "code.script.too_large", "code.bytes_code.mismatch", "code.wrapper.undecodable",
    "code.logged_size.mismatch", "code.embedded.differs", "code.embedded.other_file", "code.wrapper.decoded",
    "code.sibling.counted", "code.sibling.data_file",
    "seeds.duplicate", "seeds.config.differs",
    "time.train.over_limit", "time.train.last_step_over", "time.eval.over_limit", "time.not_checked",
    "data.val_tokens.mismatch", "data.val_tokens.unknown", "data.bytes.mismatch", "data.bytes.small_mismatch",
    "data.bytes.small_mismatch_unclaimed",
    "stats.val_bpb_std.mismatch", "stats.val_loss_std.mismatch",
    "budget.compressed_code", "budget.compressed_code.implausible", "time.train.gptq_over_limit",
    "time.train.not_logged", "time.eval.warmup_on_validation", "time.eval.warmup_uncounted",
    "time.eval.warmup_unresolved", "rules.track.seeds", "rules.track.hardware", "rules.track.hardware_not_stated",
    "rules.track.validation_set", "rules.track.mismatch", "rules.data.train_val_overlap",
    "rules.calibration.validation_data", "rules.python.version",
)


@pytest.mark.fires("claim.val_bpb.matched", "claim.val_loss.matched", "claim.seed_val_bpb.matched",
                   "claim.seed_val_loss.matched")
@pytest.mark.quiet(*CLEAN_RECORD_QUIET)
def test_clean_record_passes(tmp_path):
    (report,) = verify_paths([write_record(tmp_path)])
    assert report.verdict == "pass"
    assert [f.id for f in report.findings if f.severity != Severity.INFO] == []
    assert {"claim.val_bpb.matched", "claim.val_loss.matched"} <= {f.id for f in report.findings}


@pytest.mark.parametrize("unit", [
    pytest.param("val_bpb", marks=[pytest.mark.fires("claim.val_bpb.not_in_logs"),
                                   pytest.mark.quiet("claim.val_bpb.matched")]),
    pytest.param("val_loss", marks=[pytest.mark.fires("claim.val_loss.not_in_logs"),
                                    pytest.mark.quiet("claim.val_loss.matched")]),
])
def test_claim_off_in_last_digit(tmp_path, unit):
    sub = submission()
    sub[unit] = float(f"{sub[unit] + 1e-8:.8f}")
    assert problems(write_record(tmp_path, sub=sub)) == {f"claim.{unit}.not_in_logs"}


@pytest.mark.fires("claim.seed_val_loss.not_in_log")
def test_per_seed_claim_off(tmp_path):
    sub = submission()
    sub["seed_results"]["2025"]["val_loss"] = 2.07300001
    assert problems(write_record(tmp_path, sub=sub)) == {"claim.seed_val_loss.not_in_log"}


@pytest.mark.parametrize("unit", [
    pytest.param("val_bpb", marks=[pytest.mark.fires("claim.seed_val_bpb.not_in_log"),
                                   pytest.mark.quiet("claim.seed_val_bpb.matched")]),
    pytest.param("val_loss", marks=[pytest.mark.fires("claim.seed_val_loss.not_in_log"),
                                    pytest.mark.quiet("claim.seed_val_loss.matched")]),
])
def test_the_only_seed_claim_off(tmp_path, unit):
    sub = submission(seeds=(1337,))
    sub["seed_results"]["1337"][unit] += 1e-6
    # one seed: the track rule warns too
    assert problems(write_record(tmp_path, seeds=(1337,), sub=sub)) == {f"claim.seed_{unit}.not_in_log", "rules.track.seeds"}


@pytest.mark.fires("claim.val_bpb.wrong_unit")
def test_val_loss_stored_as_bpb(tmp_path):
    sub = submission()
    sub["val_bpb"] = sub["val_loss"]
    assert problems(write_record(tmp_path, sub=sub)) == {"claim.val_bpb.wrong_unit"}


@pytest.mark.parametrize("unit, other", [
    pytest.param("val_bpb", "val_loss", marks=pytest.mark.fires("claim.seed_val_bpb.wrong_unit")),
    pytest.param("val_loss", "val_bpb", marks=pytest.mark.fires("claim.seed_val_loss.wrong_unit")),
])
def test_per_seed_claim_of_the_other_unit(tmp_path, unit, other):
    sub = submission()
    sub["seed_results"]["42"][unit] = sub["seed_results"]["42"][other]
    assert problems(write_record(tmp_path, sub=sub)) == {f"claim.seed_{unit}.wrong_unit"}


@pytest.mark.fires("claim.val_loss.wrong_unit")
def test_bpb_stored_as_val_loss(tmp_path):
    sub = submission()
    sub["val_loss"] = sub["val_bpb"]
    assert problems(write_record(tmp_path, sub=sub)) == {"claim.val_loss.wrong_unit"}


@pytest.mark.fires("claim.seed.log_missing")
def test_seed_log_missing(tmp_path):
    folder = write_record(tmp_path)
    (folder / "train_seed2025.log").unlink()
    assert problems(folder) == {"claim.seed.log_missing", "rules.track.seeds"}  # two seed logs left


@pytest.mark.fires("size.seed_bytes.mismatch")
def test_seed_bytes_copied_from_another_seed(tmp_path):
    sub = submission()
    sub["seed_results"]["42"]["bytes_total"] = sub["seed_results"]["1337"]["bytes_total"]
    assert problems(write_record(tmp_path, sub=sub)) == {"size.seed_bytes.mismatch"}


@pytest.mark.fires("size.seed_bytes.not_logged")
def test_seed_bytes_claimed_where_the_log_prints_no_total(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s) for s in LOSSES}
    logs["train_seed42.log"] = "\n".join(line for line in logs["train_seed42.log"].splitlines()
                                         if not line.startswith("Total submission size"))
    assert problems(write_record(tmp_path, logs=logs)) == {"size.seed_bytes.not_logged"}


@pytest.mark.fires("size.bytes_total.not_in_logs")
def test_bytes_total_is_no_logged_total(tmp_path):
    sub = submission()
    sub["bytes_total"] += 7
    assert problems(write_record(tmp_path, sub=sub)) == {"size.bytes_total.not_in_logs"}


@pytest.mark.fires("budget.over_cap")
def test_total_one_byte_over_cap(tmp_path):
    code = len(SCRIPT.encode())
    model = 16_000_000 - code + 1
    logs = {f"train_seed{s}.log": log_text(s, model=model if s == 2025 else None) for s in LOSSES}
    sub = submission()
    sub["seed_results"]["2025"]["bytes_total"] = model + code
    sub["bytes_total"] = model + code
    assert problems(write_record(tmp_path, sub=sub, logs=logs)) == {"budget.over_cap"}


@pytest.mark.fires("code.bytes_code.mismatch")
def test_code_file_one_byte_longer(tmp_path):
    folder = write_record(tmp_path)
    (folder / "train_gpt.py").write_text(SCRIPT + "#")
    found = problems(folder)
    assert "code.bytes_code.mismatch" in found
    assert found <= {"code.bytes_code.mismatch", "code.logged_size.mismatch", "code.embedded.differs"}


@pytest.mark.fires("code.sibling.counted", "code.bytes_code.mismatch")
@pytest.mark.quiet("code.wrapper.decoded", "code.sibling.data_file")
def test_sibling_code_is_counted(tmp_path):
    folder = write_record(tmp_path)
    (folder / "helpers.py").write_text("X = 1\n")
    (folder / "train_gpt.py").write_text(SCRIPT.replace("import os", "import os\nimport helpers"))
    (report,) = verify_paths([folder])
    ids = {f.id for f in report.findings}
    assert "code.sibling.counted" in ids and "code.bytes_code.mismatch" in ids
    assert report.measured["code_bytes"] == len(SCRIPT) + len("\nimport helpers") + len("X = 1\n")


@pytest.mark.fires("code.logged_size.mismatch")
def test_logged_code_size_is_not_the_script(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s, code=len(SCRIPT) + 3) for s in LOSSES}
    assert "code.logged_size.mismatch" in problems(write_record(tmp_path, logs=logs))


@pytest.mark.fires("code.embedded.other_file")
@pytest.mark.quiet("code.embedded.differs")
def test_log_ran_another_shipped_file(tmp_path):
    other = SCRIPT.replace("train", "other")
    logs = {f"train_seed{s}.log": log_text(s, source=other, code=len(SCRIPT)) for s in LOSSES}
    folder = write_record(tmp_path, logs=logs)
    (folder / "other.py").write_text(other)
    assert problems(folder) == set()


@pytest.mark.fires("code.embedded.differs")
def test_log_from_other_code(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s, source=SCRIPT + ("# other\n" if s == 42 else ""),
                                          code=len(SCRIPT)) for s in LOSSES}
    assert problems(write_record(tmp_path, logs=logs)) == {"code.embedded.differs"}


@pytest.mark.fires("time.train.over_limit")
@pytest.mark.quiet("time.train.last_step_over", "time.not_checked")
def test_train_time_over_limit(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s, train_ms=600_100 if s == 42 else 599_000) for s in LOSSES}
    assert problems(write_record(tmp_path, logs=logs)) == {"time.train.over_limit"}


@pytest.mark.fires("time.train.last_step_over")
@pytest.mark.quiet("time.train.over_limit")
def test_train_time_over_by_less_than_a_step_is_a_warning(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s, train_ms=600_030 if s == 42 else 599_000) for s in LOSSES}
    (report,) = verify_paths([write_record(tmp_path, logs=logs)])
    assert report.verdict == "pass"
    assert "time.train.last_step_over" in {f.id for f in report.findings if f.severity == Severity.WARNING}


@pytest.mark.fires("time.eval.over_limit")
def test_eval_time_over_limit(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s).replace("eval_time:1401ms", "eval_time:600500ms") for s in LOSSES}
    assert problems(write_record(tmp_path, logs=logs)) == {"time.eval.over_limit"}


@pytest.mark.fires("log.traceback")
@pytest.mark.quiet("log.truncated")
def test_traceback_as_the_log(tmp_path):
    folder = write_record(tmp_path)
    text = log_text(2025).split("stopping_early")[0] + "Traceback (most recent call last):\n  File x\nOOM\n"
    (folder / "train_seed2025.log").write_text(text)
    found = problems(folder)
    assert "log.traceback" in found
    assert found <= {"log.traceback", "claim.seed_val_bpb.not_in_log", "claim.seed_val_loss.not_in_log",
                     "size.seed_bytes.not_logged", "rules.track.seeds"}


@pytest.mark.fires("log.truncated")
@pytest.mark.quiet("log.traceback")
def test_log_cut_short(tmp_path):
    folder = write_record(tmp_path)
    (folder / "train_seed2025.log").write_text(log_text(2025).split("stopping_early")[0])
    assert "log.truncated" in problems(folder)


@pytest.mark.fires("data.val_tokens.mismatch")
@pytest.mark.quiet("data.val_tokens.unknown")
def test_val_tokens_of_another_variant(tmp_path):
    sub = submission()
    sub["data"] = {"variant": "sp1024", "val_tokens": TOKENS, "val_bytes": 151080363}
    logs = {f"train_seed{s}.log": log_text(s, tokens=45508608 if s == 42 else TOKENS) for s in LOSSES}
    assert problems(write_record(tmp_path, sub=sub, logs=logs)) == {"data.val_tokens.mismatch"}


@pytest.mark.fires("data.val_tokens.unknown")
@pytest.mark.quiet("data.val_tokens.mismatch")
def test_unknown_val_token_count(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s, tokens=TOKENS - 1024) for s in LOSSES}
    assert problems(write_record(tmp_path, logs=logs)) == {"data.val_tokens.unknown"}


@pytest.mark.fires("data.bytes.mismatch")
@pytest.mark.quiet("data.bytes.small_mismatch", "data.bytes.small_mismatch_unclaimed")
def test_byte_total_five_percent_off(tmp_path):
    wrong = int(151080363 * 0.95)
    logs = {f"train_seed{s}.log": log_text(s, total_bytes=wrong) for s in LOSSES}
    sub = submission()
    for s, entry in sub["seed_results"].items():
        entry["val_bpb"] = float(f"{LOSSES[int(s)] / 0.6931471805599453 * TOKENS / wrong:.8f}")
    sub["val_bpb"] = sub["seed_results"]["42"]["val_bpb"]
    assert problems(write_record(tmp_path, sub=sub, logs=logs)) == {"data.bytes.mismatch"}


@pytest.mark.fires("data.bytes.small_mismatch")
@pytest.mark.quiet("data.bytes.mismatch")
def test_declared_variant_is_checked(tmp_path):
    sub = submission()
    sub["data"] = {"variant": "synthetic", "val_tokens": TOKENS, "val_bytes": 151080363 + 5000}
    (report,) = verify_paths([write_record(tmp_path, sub=sub)])
    assert {f.id for f in report.findings if f.severity == Severity.WARNING} == {"data.bytes.small_mismatch"}


@pytest.mark.fires("data.bytes.small_mismatch_unclaimed")
@pytest.mark.quiet("data.bytes.small_mismatch", "data.bytes.mismatch")
def test_small_byte_gap_on_a_line_no_claim_comes_from_is_info(tmp_path):
    sliding = {s: f"final_sliding_window_exact val_loss:{LOSSES[s]:.8f} val_bpb:{bpb(LOSSES[s], BYTES + 5000):.8f}\n"
               for s in LOSSES}
    logs = {f"train_seed{s}.log": log_text(s) + sliding[s] for s in LOSSES}
    (report,) = verify_paths([write_record(tmp_path, logs=logs)])
    assert report.verdict == "pass"
    assert {f.id for f in report.findings if f.id.startswith("data.")} == {"data.bytes.small_mismatch_unclaimed"}


@pytest.mark.fires("seeds.config.differs")
def test_seeds_with_different_configs(tmp_path):
    logs = {f"train_seed{s}.log": log_text(s, extra_config=" matrix_lr:0.05" if s == 42 else " matrix_lr:0.04")
            for s in LOSSES}
    assert problems(write_record(tmp_path, logs=logs)) == {"seeds.config.differs"}


@pytest.mark.fires("seeds.duplicate")
def test_same_seed_twice(tmp_path):
    # With the same config the second log of seed 42 would be a reproduction (tests/test_verify_logs.py).
    logs = {f"train_seed{s}.log": log_text(s, extra_config=" matrix_lr:0.04") for s in LOSSES}
    logs["train_rerun.log"] = log_text(42, loss=2.0711, extra_config=" matrix_lr:0.05")
    assert problems(write_record(tmp_path, logs=logs)) == {"seeds.duplicate"}


@pytest.mark.fires("stats.val_bpb_std.mismatch")
def test_std_claim_recomputed(tmp_path):
    sub = submission()
    sub["val_bpb_std"] = 0.01
    assert problems(write_record(tmp_path, sub=sub)) == {"stats.val_bpb_std.mismatch"}


@pytest.mark.quiet("stats.val_bpb_std.mismatch", "stats.val_loss_std.mismatch")
def test_std_claims_that_hold(tmp_path):
    sub = submission()
    sub["val_bpb_std"] = 0.0006  # the sample std of the three seeds, 0.00059226
    sub["val_loss_std"] = 0.0008  # their population std, 0.00081650
    assert problems(write_record(tmp_path, sub=sub)) == set()


@pytest.mark.fires("stats.val_loss_std.mismatch")
def test_val_loss_std_claim_recomputed(tmp_path):
    sub = submission()
    sub["val_loss_std"] = 0.01
    assert problems(write_record(tmp_path, sub=sub)) == {"stats.val_loss_std.mismatch"}


@pytest.mark.fires("submission.alias")
def test_legacy_alias_is_a_warning(tmp_path):
    sub = submission()
    sub["mean_val_bpb"] = sub.pop("val_bpb")
    (report,) = verify_paths([write_record(tmp_path, sub=sub)])
    assert report.verdict == "pass"
    assert "submission.alias" in {f.id for f in report.findings if f.severity == Severity.WARNING}


@pytest.mark.fires("submission.shape")
@pytest.mark.quiet("submission.alias")
def test_track_folder_name_as_track_is_a_shape_note(tmp_path):
    sub = submission()
    sub["track"] = "track_10min_16mb"
    (report,) = verify_paths([write_record(tmp_path, sub=sub)])
    assert report.verdict == "pass" and report.claims["track"] == "10min_16mb"


@pytest.mark.fires("submission.schema")
@pytest.mark.quiet("submission.wrong_type")
def test_missing_canonical_key_is_a_note(tmp_path):
    sub = submission()
    del sub["author"]
    (report,) = verify_paths([write_record(tmp_path, sub=sub)])
    assert report.verdict == "pass"


@pytest.mark.fires("submission.wrong_type")
@pytest.mark.quiet("submission.schema")
def test_canonical_key_of_a_wrong_type_is_a_warning(tmp_path):
    sub = submission()
    sub["github_id"] = 5
    assert problems(write_record(tmp_path, sub=sub)) == {"submission.wrong_type"}


@pytest.mark.parametrize("name", [
    pytest.param("README.md", marks=pytest.mark.fires("files.readme.missing")),
    pytest.param("submission.json", marks=pytest.mark.fires("files.submission.missing")),
    pytest.param("train_gpt.py", marks=pytest.mark.fires("files.script.missing")),
])
def test_required_files(tmp_path, name):
    folder = write_record(tmp_path)
    (folder / name).unlink()
    expected = {"README.md": "files.readme.missing", "submission.json": "files.submission.missing",
                "train_gpt.py": "files.script.missing"}[name]
    assert expected in problems(folder)


@pytest.mark.fires("files.log.missing")
@pytest.mark.quiet("log.truncated", "log.traceback")
def test_no_log_at_all(tmp_path):
    assert "files.log.missing" in problems(write_record(tmp_path, logs={}))


@pytest.mark.fires("stats.against.summary", "stats.against.below_margin")
@pytest.mark.quiet("stats.against.not_significant", "stats.against.too_few_seeds")
def test_against_reports_improvement_and_p_value(tmp_path):
    old = write_record(tmp_path / "old")
    sub = submission()
    new = write_record(tmp_path / "new", sub=sub)
    (report,) = verify_paths([new], against=old)
    stats = report.measured["against"]
    assert stats["improvement_nats"] == pytest.approx(0.0)
    assert "stats.against.below_margin" in {f.id for f in report.findings}
    assert 0.0 <= stats["p_value"] <= 1.0


@pytest.mark.fires("stats.against.summary")
@pytest.mark.quiet("stats.against.below_margin", "stats.against.not_significant", "stats.against.too_few_seeds")
def test_against_a_clear_improvement(tmp_path):
    old = write_record(tmp_path / "old")
    new = write_record(tmp_path / "new", losses={s: loss - 0.02 for s, loss in LOSSES.items()})
    (report,) = verify_paths([new], against=old)
    assert report.measured["against"]["improvement_nats"] == pytest.approx(0.02)
    assert report.measured["against"]["p_value"] < 0.01


@pytest.mark.fires("stats.against.summary", "stats.against.not_significant")
@pytest.mark.quiet("stats.against.below_margin")
def test_against_an_improvement_within_the_noise(tmp_path):
    old = write_record(tmp_path / "old")
    new = write_record(tmp_path / "new", losses={1337: 2.060, 42: 2.066, 2025: 2.072})
    (report,) = verify_paths([new], against=old)
    assert report.measured["against"]["improvement_nats"] == pytest.approx(0.006)
    assert report.measured["against"]["p_value"] >= 0.01


@pytest.mark.fires("stats.against.too_few_seeds")
@pytest.mark.quiet("stats.against.summary")
def test_against_with_one_seed(tmp_path):
    old = write_record(tmp_path / "old")
    new = write_record(tmp_path / "new", seeds=(1337,), losses={1337: 2.0})
    (report,) = verify_paths([new], against=old)
    assert "p_value" not in report.measured["against"]


def _cannot_run(evidence):
    raise GolfkitError("no shards to run on")


def _nothing_to_say(evidence):
    return []


@pytest.mark.fires("check.failed")
def test_an_extra_check_that_cannot_run_is_a_finding(tmp_path):
    (report,) = verify_paths([write_record(tmp_path)], extra_checks=[_cannot_run])
    assert report.verdict == "fail"
    assert [f.message for f in report.findings if f.id == "check.failed"] == [
        "_cannot_run could not run: no shards to run on"]


@pytest.mark.quiet("check.failed")
def test_an_extra_check_that_runs(tmp_path):
    (report,) = verify_paths([write_record(tmp_path)], extra_checks=[_nothing_to_say])
    assert report.verdict == "pass"


@pytest.mark.fires("log.runs")
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
@pytest.mark.fires("time.not_checked", "claim.val_bpb.matched", "claim.val_loss.matched")
@pytest.mark.quiet("time.train.over_limit", "time.eval.over_limit", "time.train.last_step_over")
def test_example_record_verifies_clean():
    (report,) = verify_paths([EXAMPLE])
    assert report.verdict == "pass"
    assert [f.id for f in report.findings if f.severity == Severity.WARNING] == []


# ---------------------------------------------------------------- output for trees


def _tree(tmp_path):
    good = write_record(tmp_path / "a")
    sub = submission()
    sub["val_bpb"] = 1.0
    bad = write_record(tmp_path / "b", sub=sub)
    return good, bad


@pytest.mark.fires("claim.val_bpb.not_in_logs")
def test_verify_folders_yields_each_report_before_the_next_folder_starts(tmp_path):
    from golfkit.verify.api import find_folders, verify_folders

    _tree(tmp_path)
    events = []
    for report in verify_folders(find_folders([tmp_path]), on_start=lambda i, folder: events.append(("start", i))):
        events.append(("report", report.verdict))
    assert events == [("start", 0), ("report", "pass"), ("start", 1), ("report", "fail")]


@pytest.mark.fires("claim.val_bpb.not_in_logs", "claim.val_bpb.matched")
def test_cli_text_summarises_info_per_record_and_lists_it_with_verbose(tmp_path):
    from click.testing import CliRunner

    from golfkit.cli import main

    _tree(tmp_path)
    compact = CliRunner().invoke(main, ["verify", str(tmp_path)])
    assert compact.exit_code == 1
    assert "[claim.val_bpb.matched]" not in compact.output
    info_lines = [line for line in compact.output.splitlines() if line.startswith("  info: ")]
    assert len(info_lines) == 2 and all(line.endswith("; --verbose lists them") for line in info_lines)
    assert "claim.seed_val_bpb.matched x3" in info_lines[0]
    verbose = CliRunner().invoke(main, ["verify", "--verbose", str(tmp_path)])
    assert verbose.output.count("[claim.seed_val_bpb.matched]") == 6 and "--verbose lists them" not in verbose.output
    assert compact.output.splitlines()[-1] == verbose.output.splitlines()[-1] == "2 record(s): 1 pass, 1 fail"


@pytest.mark.fires("claim.val_bpb.not_in_logs")
def test_cli_errors_only(tmp_path):
    from click.testing import CliRunner

    from golfkit.cli import main

    good, bad = _tree(tmp_path)
    result = CliRunner().invoke(main, ["verify", "--errors-only", str(tmp_path)])
    assert result.exit_code == 1
    assert str(good) not in result.output and f"FAIL  {bad}" in result.output
    assert "warnings:" not in result.output and "info" not in result.output
    assert "[claim.val_bpb.not_in_logs]" in result.output
    assert result.output.splitlines()[-1] == "2 record(s): 1 pass, 1 fail"
    github = CliRunner().invoke(main, ["verify", "--errors-only", "--format", "github", str(tmp_path)])
    assert str(good) not in github.output and "::error " in github.output and "::warning " not in github.output
    markdown = CliRunner().invoke(main, ["verify", "--errors-only", "--format", "markdown", str(tmp_path)])
    assert "1 of 2 record(s) fail" in markdown.output and "✅" not in markdown.output


def test_cli_errors_only_keeps_json_complete(tmp_path):
    from cli_helpers import assert_usage_error
    from click.testing import CliRunner

    from golfkit.cli import main

    _tree(tmp_path)
    assert_usage_error(CliRunner().invoke(main, ["verify", "--json", "--errors-only", str(tmp_path)]), "complete")
    data = json.loads(CliRunner().invoke(main, ["verify", "--json", str(tmp_path)]).output)
    assert any(f["severity"] == "info" for record in data["records"] for f in record["findings"])


def test_progress_only_on_a_terminal(tmp_path):
    import io

    from click.testing import CliRunner

    from golfkit.cli import main
    from golfkit.verify.cli import Progress

    stream = io.StringIO()
    progress = Progress(stream, 2, enabled=True, width=40)
    progress.start(0, tmp_path / "records" / "x\x1b[31my")
    progress.clear()
    written = stream.getvalue()
    assert written.startswith("\r\x1b[K[1/2] ") and "x\\x1b[31my" in written and written.endswith("\r\x1b[K")
    assert len(written.split("\r\x1b[K")[1]) <= 40
    quiet = io.StringIO()
    Progress(quiet, 2).start(0, tmp_path)  # a StringIO is no terminal
    assert quiet.getvalue() == ""
    _tree(tmp_path)
    result = CliRunner().invoke(main, ["verify", str(tmp_path)])
    assert "\r" not in result.stderr and "\x1b" not in result.output


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_cli_unconfined_notice_comes_first_when_streaming(tmp_path, monkeypatch, fmt):
    from click.testing import CliRunner

    from golfkit.cli import main
    from golfkit.verify.plugins import probes

    monkeypatch.setattr(probes, "make_probe_check", lambda options: _nothing_to_say)
    _tree(tmp_path)
    result = CliRunner().invoke(main, ["verify", "--probes", "--trust-code", "--unconfined", "--format", fmt,
                                       str(tmp_path)])
    assert result.exit_code == 1, result.output
    if fmt == "json":
        assert "UNCONFINED" in json.loads(result.output)["notices"][0]
    else:
        lines = result.output.splitlines()
        assert lines[0].startswith("NOTICE: ") and "UNCONFINED" in lines[0]
        assert sum("UNCONFINED" in line for line in lines) == 1
