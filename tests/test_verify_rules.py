"""The calibrated time and size checks and the rules reviewers enforced (docs/verify.md#rules-reviewers-enforce):
each id fires on one mutation of the clean synthetic record (tests/verify_records.py) and stays quiet on it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from verify_records import BYTES, LOSSES, MODEL, SCRIPT, TOKENS, bpb, log_text, submission, write_record

from golfkit.findings import Severity
from golfkit.verify.api import verify_paths
from golfkit.verify.checks.program import is_validation_name, python_need, validation_refs, warmup_block
from golfkit.verify.checks.sizes import compressed_size
from golfkit.verify.checks.timing import pace
from golfkit.verify.logparse import parse_log_text


def report_of(folder: Path):
    (report,) = verify_paths([folder])
    return report


def problems(folder: Path) -> set[str]:
    return {f.id for f in report_of(folder).findings if f.severity != Severity.INFO}


def found(folder: Path, ident: str):
    return [f for f in report_of(folder).findings if f.id == ident]


def record_with_script(root: Path, script: str, log_edit=lambda seed, text: text, sub_edit=lambda sub: sub) -> Path:
    """The clean record with `script` shipped as train_gpt.py (and embedded in, and counted by, every log)."""
    logs = {f"train_seed{s}.log": log_edit(s, log_text(s, source=script)) for s in LOSSES}
    sub = submission()
    code = len(script.encode())
    sub["bytes_code"] = code
    for seed, entry in sub["seed_results"].items():
        entry["bytes_total"] = MODEL[int(seed)] + code
    sub["bytes_total"] = max(MODEL.values()) + code
    folder = write_record(root, sub=sub_edit(sub), logs=logs)
    (folder / "train_gpt.py").write_text(script)
    return folder


# ---------------------------------------------------------------- training time


def _step_log(seed: int, steps: list[tuple[int, int]], stop: tuple[int, int]) -> str:
    """The clean log of `seed` with its step lines replaced by `steps` [(step, train ms)] and the stop line."""
    text = log_text(seed)
    lines = [line for line in text.splitlines() if not line.startswith(("step:", "stopping_early"))]
    at = next(i for i, line in enumerate(lines) if line.startswith("seed:")) + 1
    body = [f"step:{s}/20000 train_loss:3.0 train_time:{ms}ms step_avg:{ms / s:.2f}ms" for s, ms in steps]
    body.append(f"stopping_early: wallclock_cap train_time:{stop[1]}ms step:{stop[0]}/20000")
    return "\n".join(lines[:at] + body + lines[at:]) + "\n"


@pytest.mark.fires("time.train.over_limit")
@pytest.mark.quiet("time.train.last_step_over")
def test_steps_logged_past_the_cap_are_a_forced_stop(tmp_path):
    # 50 ms steps; step 12001 is logged past 600 s and training goes on for two more steps.
    steps = [(1, 50), (12000, 599_990), (12001, 600_040)]
    logs = {f"train_seed{s}.log": log_text(s) for s in LOSSES}
    logs["train_seed42.log"] = _step_log(42, steps, (12002, 600_045))
    found_ids = problems(write_record(tmp_path, logs=logs))
    assert found_ids == {"time.train.over_limit"}
    (finding,) = found(tmp_path / "track_10min_16mb" / "synthetic", "time.train.over_limit")
    assert "forced" in finding.message and "step 12001" in finding.message


@pytest.mark.fires("time.train.over_limit")
@pytest.mark.quiet("time.train.last_step_over")
def test_a_last_stretch_no_step_time_explains(tmp_path):
    # 50 ms steps up to step 11900 at 590 s; the last 100 steps take 10.04 s and end 40 ms past the cap (under
    # one step), 5.04 s more than 100 steps at the slowest logged pace explain.
    steps = [(1, 50), (100, 5_000), (11900, 590_000)]
    logs = {f"train_seed{s}.log": log_text(s) for s in LOSSES}
    logs["train_seed42.log"] = _step_log(42, steps, (12000, 600_040))
    folder = write_record(tmp_path, logs=logs)
    (finding,) = found(folder, "time.train.over_limit")
    assert "steps 11900-12000" in finding.message and "something else ran" in finding.message
    assert finding.line == parse_log_text(logs["train_seed42.log"]).run.train_stop_line


@pytest.mark.fires("time.train.last_step_over")
@pytest.mark.quiet("time.train.over_limit")
def test_an_overshoot_within_the_slowest_logged_step_is_a_warning(tmp_path):
    # Average 50 ms, one logged step of 120 ms (step 2): 90 ms past the cap is within it.
    steps = [(1, 50), (2, 170), (11999, 599_990)]
    logs = {f"train_seed{s}.log": log_text(s) for s in LOSSES}
    logs["train_seed42.log"] = _step_log(42, steps, (12000, 600_090))
    folder = write_record(tmp_path, logs=logs)
    (finding,) = found(folder, "time.train.last_step_over")
    assert "90 ms past" in finding.message and "120.0 ms per step over step 2" in finding.message
    assert report_of(folder).verdict == "pass"


def test_pace_reads_the_step_times():
    run = parse_log_text(_step_log(42, [(1, 50), (2, 170), (11999, 599_990)], (12000, 600_090))).run
    steps = pace(run)
    assert (steps.slowest_ms, steps.slowest_from, steps.slowest_to) == (120.0, 1, 2)
    assert steps.last == (12000, 600_090.0, run.train_stop_line) and steps.forced is None


GPTQ = "GPTQ:collected 67 Hessians in {0}s"


@pytest.mark.parametrize("train_ms, gptq_s, fires", [
    pytest.param(590_000, "12.7", True, marks=pytest.mark.fires("time.train.gptq_over_limit")),
    pytest.param(587_000, "12.7", False, marks=pytest.mark.quiet("time.train.gptq_over_limit", "time.train.over_limit")),
])
def test_gptq_calibration_counts_as_training(tmp_path, train_ms, gptq_s, fires):
    def with_gptq(seed: int) -> str:
        text = log_text(seed, train_ms=train_ms)
        return text.replace("Serialized model", GPTQ.format(gptq_s) + "\nSerialized model", 1)

    logs = {f"train_seed{s}.log": with_gptq(s) for s in LOSSES}
    folder = write_record(tmp_path, logs=logs)
    if fires:
        assert problems(folder) == {"time.train.gptq_over_limit"}
        finding = found(folder, "time.train.gptq_over_limit")[0]
        assert "602.700 s" in finding.message and finding.line == logs["train_seed1337.log"].splitlines().index(
            GPTQ.format(gptq_s)) + 1
    else:
        assert problems(folder) == set()


@pytest.mark.fires("time.train.not_logged")
def test_no_training_time_in_any_log(tmp_path):
    def untimed(seed: int) -> str:
        lines = log_text(seed).splitlines()
        return "\n".join(line.split(" train_time")[0] if line.startswith("step:") else line
                         for line in lines if not line.startswith("stopping_early")) + "\n"

    logs = {f"train_seed{s}.log": untimed(s) for s in LOSSES}
    assert problems(write_record(tmp_path, logs=logs)) == {"time.train.not_logged"}


# ---------------------------------------------------------------- evaluation time and warm-ups

WARMUP_ON_VAL = '''import time
import torch


def log(msg):
    print(msg)


def main(h, model, val_data):
    log("ttt:warming up compile")
    t0 = time.perf_counter()
    x = val_data.val_tokens[: h.seq_len + 1]
    model(x)
    log(f"ttt:compile warmup done ({time.perf_counter() - t0:.1f}s)")
    log("beginning TTT eval timer")
'''
WARMUP_RANDOM = WARMUP_ON_VAL.replace("x = val_data.val_tokens[: h.seq_len + 1]",
                                      "x = torch.randint(0, h.vocab_size, (1, h.seq_len))")
NO_WARMUP_CODE = WARMUP_ON_VAL.replace('log(f"ttt:compile warmup done ({time.perf_counter() - t0:.1f}s)")',
                                       'print(time.perf_counter() - t0)')


def _timed_eval(seed: int, text: str) -> str:
    """A log whose evaluation took 500 s after a 150 s compile warm-up."""
    text = text.replace("eval_time:1401ms", "eval_time:500000ms")
    return text.replace("final_int8_zlib_roundtrip val_loss",
                        "ttt:compile warmup done (150.0s)\nfinal_int8_zlib_roundtrip val_loss", 1)


@pytest.mark.fires("time.eval.warmup_on_validation", "time.eval.over_limit")
@pytest.mark.quiet("time.eval.warmup_uncounted", "time.eval.warmup_unresolved")
def test_a_warmup_on_validation_tokens_counts(tmp_path):
    folder = record_with_script(tmp_path, WARMUP_ON_VAL, _timed_eval)
    assert problems(folder) == {"time.eval.warmup_on_validation", "time.eval.over_limit"}
    warm = found(folder, "time.eval.warmup_on_validation")[0]
    line = WARMUP_ON_VAL.splitlines().index("    x = val_data.val_tokens[: h.seq_len + 1]") + 1
    assert f"train_gpt.py:{line}" in warm.message and "lines 10-14" in warm.message
    over = found(folder, "time.eval.over_limit")[0]
    assert "650.0 s" in over.message and "reads validation data" in over.message


@pytest.mark.fires("time.eval.warmup_uncounted")
@pytest.mark.quiet("time.eval.over_limit", "time.eval.warmup_on_validation", "time.eval.warmup_unresolved")
def test_a_warmup_on_random_tokens_is_not_counted(tmp_path):
    folder = record_with_script(tmp_path, WARMUP_RANDOM, _timed_eval)
    report = report_of(folder)
    assert report.verdict == "pass"
    note = next(f for f in report.findings if f.id == "time.eval.warmup_uncounted")
    assert "500.0 s without it, 650.0 s with it" in note.message
    assert {log["eval_seconds"] for log in report.measured["logs"]} == {500.0}


@pytest.mark.fires("time.eval.warmup_unresolved")
@pytest.mark.quiet("time.eval.over_limit", "time.eval.warmup_uncounted")
def test_a_warmup_golfkit_cannot_find_is_a_warning(tmp_path):
    folder = record_with_script(tmp_path, NO_WARMUP_CODE, _timed_eval)
    assert problems(folder) == {"time.eval.warmup_unresolved"}


@pytest.mark.fires("time.eval.over_limit")
@pytest.mark.quiet("time.eval.warmup_unresolved")
def test_an_evaluation_over_the_limit_without_the_warmup_is_an_error(tmp_path):
    folder = record_with_script(tmp_path, NO_WARMUP_CODE,
                                lambda s, t: _timed_eval(s, t).replace("eval_time:500000ms", "eval_time:601000ms"))
    assert problems(folder) == {"time.eval.over_limit"}


def test_validation_names():
    assert all(map(is_validation_name, ["val_tokens", "val_data", "val_files", "val_tokens_idx", "validation_set"]))
    assert not any(map(is_validation_name, ["val", "val_loss", "val_bpb", "eval_seq_len", "interval", "valid"]))
    import ast

    refs = validation_refs([ast.parse("glob('data/fineweb_val_*.bin')\nx = h.train_files\n")])
    assert [r.line for r in refs] == [1]


def test_warmup_block_is_the_block_that_prints_it():
    import ast

    block = warmup_block(ast.parse(WARMUP_RANDOM))
    assert block is not None and (block.first, block.last, block.refs) == (10, 14, ())


# ---------------------------------------------------------------- counted compressed code

BIG_SCRIPT = SCRIPT + "".join(f"def helper_{i}(x, y={i}):\n    '''Step {i} of the model.'''\n    return x * y + {i * 7}\n\n"
                              for i in range(400))


def _compressed_logs(model: int, compressed: int, script: str = BIG_SCRIPT):
    def edit(seed: int, text: str) -> str:
        code = len(script.encode())
        lines = []
        for line in text.splitlines():
            if line.startswith("Serialized model int8"):
                line = f"Serialized model int8+lzma: {model} bytes"
            elif line.startswith("Code size:"):
                line = f"Code size (uncompressed): {code} bytes\nCode size (compressed): {compressed} bytes"
            elif line.startswith("Total submission size"):
                line = f"Total submission size int8+lzma: {model + compressed} bytes"
            lines.append(line)
        return "\n".join(lines) + "\n"

    def sub_edit(sub: dict) -> dict:
        for entry in sub["seed_results"].values():
            entry["bytes_total"] = model + compressed
        sub["bytes_total"] = model + compressed
        return sub

    return edit, sub_edit


@pytest.mark.fires("budget.compressed_code")
@pytest.mark.quiet("budget.over_cap", "budget.compressed_code.implausible")
def test_a_log_that_counts_compressed_code_is_a_warning_with_both_totals(tmp_path):
    code = len(BIG_SCRIPT.encode())
    ours = compressed_size(BIG_SCRIPT, "lzma")
    model = 16_000_000 - code // 2  # over the cap as shipped
    edit, sub_edit = _compressed_logs(model, int(ours * 1.2))
    folder = record_with_script(tmp_path, BIG_SCRIPT, edit, sub_edit)
    report = report_of(folder)
    assert report.verdict == "pass"
    (finding,) = [f for f in report.findings if f.id == "budget.compressed_code"]
    assert f"{model + code:,} bytes" in finding.message and f"{model + int(ours * 1.2):,} bytes" in finding.message
    assert f"lzma {ours:,}" in finding.message and "golfkit minify train_gpt.py" in finding.message
    assert finding.evidence["golfkit_compressed"] == {"lzma": ours}  # the log names lzma
    (row,) = {(r["counted_total"], r["shipped_total"]) for r in report.measured["budget"]["compressed_code"]}
    assert row == (model + int(ours * 1.2), model + code)


@pytest.mark.fires("budget.compressed_code.implausible")
@pytest.mark.quiet("budget.compressed_code")
def test_a_compressed_count_no_compressor_reaches_is_an_error(tmp_path):
    code = len(BIG_SCRIPT.encode())
    edit, sub_edit = _compressed_logs(16_000_000 - code // 2, 300)
    folder = record_with_script(tmp_path, BIG_SCRIPT, edit, sub_edit)
    assert problems(folder) == {"budget.compressed_code.implausible"}


@pytest.mark.fires("budget.over_cap")
@pytest.mark.quiet("budget.compressed_code", "budget.compressed_code.implausible")
def test_over_the_cap_even_counted_compressed_is_an_error(tmp_path):
    ours = compressed_size(BIG_SCRIPT, "lzma")
    edit, sub_edit = _compressed_logs(16_000_000 - ours // 2, int(ours * 1.2))
    folder = record_with_script(tmp_path, BIG_SCRIPT, edit, sub_edit)
    (finding,) = found(folder, "budget.over_cap")
    assert "compressed code" in finding.message


@pytest.mark.quiet("budget.compressed_code", "budget.over_cap")
def test_a_compressed_count_the_shipped_folder_also_fits_says_nothing(tmp_path):
    ours = compressed_size(BIG_SCRIPT, "lzma")
    edit, sub_edit = _compressed_logs(15_000_000, int(ours * 1.2))
    assert problems(record_with_script(tmp_path, BIG_SCRIPT, edit, sub_edit)) == set()


# ---------------------------------------------------------------- significance against another record


def _record(root: Path, losses: dict, val_bytes: int = BYTES) -> Path:
    """The clean record with `losses` scored on a validation set of `val_bytes` bytes (another tokenization
    of the same text when it is not BYTES)."""
    logs = {f"train_seed{s}.log": log_text(s, losses[s], total_bytes=val_bytes) for s in LOSSES}
    sub = submission(losses=losses)
    for seed, entry in sub["seed_results"].items():
        entry["val_bpb"] = float(f"{bpb(losses[int(seed)], val_bytes):.8f}")
    sub["val_bpb"] = round(sum(e["val_bpb"] for e in sub["seed_results"].values()) / len(LOSSES), 8)
    sub["data"] = {"variant": "sp1024-retokenized", "val_tokens": TOKENS, "val_bytes": val_bytes}
    return write_record(root, sub=sub, logs=logs)


@pytest.mark.fires("stats.against.chronological_not_significant", "stats.against.below_margin")
@pytest.mark.quiet("stats.against.units_disagree", "stats.against.tokenization_differs")
def test_no_improvement_fails_both_rules(tmp_path):
    old = write_record(tmp_path / "old")
    new = write_record(tmp_path / "new", losses={1337: 2.070, 42: 2.075, 2025: 2.080})
    (report,) = verify_paths([new], against=old)
    rules = report.measured["against"]["rules"]
    assert not rules["readme"]["nats"]["met"] and not rules["chronological"]["nats"]["met"]
    assert rules["readme"]["bpb"]["p"] == pytest.approx(rules["readme"]["nats"]["p"])  # one tokenization: same test


@pytest.mark.quiet("stats.against.chronological_not_significant", "stats.against.not_significant")
@pytest.mark.fires("stats.against.summary")
def test_the_summary_gives_both_rules_in_both_units(tmp_path):
    old = write_record(tmp_path / "old")
    new = write_record(tmp_path / "new", losses={s: loss - 0.02 for s, loss in LOSSES.items()})
    (report,) = verify_paths([new], against=old)
    (summary,) = [f for f in report.findings if f.id == "stats.against.summary"]
    assert "README rule" in summary.message and "Leaderboard rule" in summary.message
    assert summary.message.count("nats: margin") == 2 and summary.message.count("bpb: margin") == 2
    margin_bpb = report.measured["against"]["rules"]["readme"]["bpb"]["margin"]
    assert margin_bpb == pytest.approx(0.005 / math.log(2) * TOKENS / BYTES, rel=1e-6)


@pytest.mark.fires("stats.against.tokenization_differs", "stats.against.units_disagree", "stats.against.below_margin")
def test_records_on_other_tokens_are_judged_in_bits_per_byte(tmp_path):
    # 0.02 nats better per token, but the old record's tokens carry 2% more bytes: worse in bits per byte.
    old = _record(tmp_path / "old", LOSSES, val_bytes=int(BYTES * 1.02))
    new = write_record(tmp_path / "new", losses={s: loss - 0.02 for s, loss in LOSSES.items()})
    (report,) = verify_paths([new], against=old)
    stats = report.measured["against"]
    assert stats["decided_in"] == "bpb" and stats["improvement_nats"] == pytest.approx(0.02)
    assert stats["rules"]["readme"]["nats"]["met"] and not stats["rules"]["readme"]["bpb"]["met"]


# ---------------------------------------------------------------- track_10min_16mb


@pytest.mark.fires("rules.track.seeds")
def test_one_seed_is_not_a_record(tmp_path):
    sub = submission(seeds=(1337,))
    (finding,) = found(write_record(tmp_path, seeds=(1337,), sub=sub), "rules.track.seeds")
    assert finding.evidence["seeds"] == [1337] and "track_non_record_16mb" in finding.message


@pytest.mark.parametrize("hardware", [
    pytest.param("CPU", marks=pytest.mark.fires("rules.track.hardware")),
    pytest.param("1xH100 80GB", marks=pytest.mark.fires("rules.track.hardware")),
    pytest.param("8xNVIDIA H100 80GB HBM3", marks=pytest.mark.quiet("rules.track.hardware")),
    pytest.param("8×H100 SXM", marks=pytest.mark.quiet("rules.track.hardware")),
])
def test_stated_hardware(tmp_path, hardware):
    sub = submission()
    sub["hardware"] = hardware
    ok = hardware.startswith("8")
    assert ("rules.track.hardware" in problems(write_record(tmp_path, sub=sub))) is not ok


NVIDIA_SMI = "\n".join(f"|   {i}  NVIDIA {{gpu}}                    Off |   00000002:00:0{i}.0 Off |                    0 |"
                       for i in range(8))


@pytest.mark.fires("rules.track.hardware")
@pytest.mark.quiet("rules.track.hardware_not_stated")
def test_a_logged_nvidia_smi_table_of_other_gpus(tmp_path):
    sub = submission()
    del sub["hardware"]
    logs = {f"train_seed{s}.log": log_text(s).replace("Running PyTorch 2.9.1", "Running PyTorch 2.9.1\n"
                                                      + NVIDIA_SMI.format(gpu="H200")) for s in LOSSES}
    (finding,) = found(write_record(tmp_path, sub=sub, logs=logs), "rules.track.hardware")
    assert "8x NVIDIA H200" in finding.message and finding.line is not None


@pytest.mark.parametrize("readme, fires", [
    pytest.param("# Synthetic\n", True, marks=pytest.mark.fires("rules.track.hardware_not_stated")),
    pytest.param("# Synthetic\n\nTrained on 8xH100 SXM in 600 s.\n", False,
                 marks=pytest.mark.quiet("rules.track.hardware_not_stated", "rules.track.hardware")),
])
def test_hardware_stated_nowhere(tmp_path, readme, fires):
    sub = submission()
    del sub["hardware"]
    folder = write_record(tmp_path, sub=sub)
    (folder / "README.md").write_text(readme)
    assert problems(folder) == ({"rules.track.hardware_not_stated"} if fires else set())


@pytest.mark.fires("rules.track.validation_set")
@pytest.mark.quiet("rules.track.hardware")
def test_a_synthetic_validation_set_is_not_a_record(tmp_path):
    tokens = 47_616
    val_bytes = round(BYTES * tokens / TOKENS)
    logs = {f"train_seed{s}.log": log_text(s, tokens=tokens) for s in LOSSES}
    sub = submission()
    sub["data"] = {"variant": "synthetic", "val_tokens": tokens, "val_bytes": val_bytes}
    (finding,) = found(write_record(tmp_path, sub=sub, logs=logs), "rules.track.validation_set")
    assert "47,616" in finding.message


@pytest.mark.quiet("rules.track.validation_set")
def test_a_declared_known_validation_set_is_fine(tmp_path):
    sub = submission()
    sub["data"] = {"variant": "sp1024", "val_tokens": TOKENS, "val_bytes": BYTES}
    assert problems(write_record(tmp_path, sub=sub)) == set()


EXAMPLE = Path(__file__).resolve().parents[1] / "records" / "track_non_record_16mb" / "2026-11-22_golfkit_reference_cpu"


@pytest.mark.skipif(not (EXAMPLE / "train_seed42.log").is_file(), reason="example record not generated")
@pytest.mark.fires("rules.track.hardware", "rules.track.seeds", "rules.track.validation_set")
def test_golfkit_new_from_one_cpu_run_in_the_10min_track_does_not_pass(tmp_path):
    from golfkit.author.new_record import new_record

    record = new_record(tmp_path / "records" / "track_10min_16mb" / "2026-05-01_cpu_run", [EXAMPLE / "train_seed42.log"],
                        code=[EXAMPLE / "train_gpt.py"], data_files=[EXAMPLE / "tokenizer.model",
                                                                     EXAMPLE / "fineweb_val_000000.bin"],
                        author="a", github_id="a", with_plot=False)
    report = report_of(record.path)
    assert report.verdict == "fail"
    errors = {f.id for f in report.findings if f.severity == Severity.ERROR}
    assert errors == {"rules.track.hardware", "rules.track.validation_set"}


@pytest.mark.fires("rules.track.mismatch")
def test_a_submission_of_another_track_than_its_folder(tmp_path):
    sub = submission()
    sub["track"] = "non-record-unlimited-compute-16mb"
    assert problems(write_record(tmp_path, sub=sub)) == {"rules.track.mismatch"}


@pytest.mark.fires("time.not_checked")
@pytest.mark.quiet("rules.track.seeds", "rules.track.hardware", "rules.track.hardware_not_stated", "rules.track.mismatch")
def test_a_non_record_folder_needs_no_seeds_or_hardware(tmp_path):
    folder = write_record(tmp_path, seeds=(1337,), sub={**submission(seeds=(1337,)), "hardware": "CPU",
                                                        "track": "non_record_16mb"})
    target = tmp_path / "track_non_record_16mb" / "synthetic"
    target.parent.mkdir()
    folder.rename(target)
    assert problems(target) == set()


# ---------------------------------------------------------------- data, calibration, Python


@pytest.mark.parametrize("shards, fires", [
    pytest.param(1499, True, marks=pytest.mark.fires("rules.data.train_val_overlap")),
    pytest.param(80, False, marks=pytest.mark.quiet("rules.data.train_val_overlap")),
])
def test_the_caseops_overlap_fingerprint(tmp_path, shards, fires):
    logs = {f"train_seed{s}.log": log_text(s).replace(f"seed:{s}\n", f"train_shards: {shards}\nseed:{s}\n")
            for s in LOSSES}
    folder = write_record(tmp_path, logs=logs)
    assert problems(folder) == ({"rules.data.train_val_overlap"} if fires else set())
    if fires:
        finding = found(folder, "rules.data.train_val_overlap")[0]
        assert finding.line == logs[finding.file].splitlines().index("train_shards: 1499") + 1


CALIBRATION = '''import glob


class Loader:
    def __init__(self, pattern):
        self.files = sorted(glob.glob(pattern))


def collect_hessians(model, loader, n_batches=64):
    return [model(batch) for batch, _ in zip(loader, range(n_batches))]


def serialize(h, model):
    calib_loader = Loader(h.{pattern})
    return collect_hessians(model, calib_loader)
'''


@pytest.mark.parametrize("pattern, fires", [
    pytest.param("val_files", True, marks=pytest.mark.fires("rules.calibration.validation_data")),
    pytest.param("train_files", False, marks=pytest.mark.quiet("rules.calibration.validation_data")),
])
def test_calibration_on_validation_files(tmp_path, pattern, fires):
    script = CALIBRATION.replace("{pattern}", pattern)
    folder = record_with_script(tmp_path, script)
    assert problems(folder) == ({"rules.calibration.validation_data"} if fires else set())
    if fires:
        (finding,) = found(folder, "rules.calibration.validation_data")
        assert "call of collect_hessians (line 15)" in finding.message
        assert finding.line == script.splitlines().index("    calib_loader = Loader(h.val_files)") + 1


PY312 = 'names = ["a", "b"]\nprint(f"{", ".join(names)}")\n'


@pytest.mark.fires("rules.python.version")
def test_a_script_that_needs_python_312(tmp_path):
    folder = record_with_script(tmp_path, PY312)
    (finding,) = found(folder, "rules.python.version")
    assert finding.severity == Severity.INFO and finding.line == 2 and "3.12" in finding.message


@pytest.mark.quiet("rules.python.version")
def test_a_script_any_python_reads(tmp_path):
    assert found(record_with_script(tmp_path, 'names = ["a"]\nprint(f"{\', \'.join(names)}")\n'),
                 "rules.python.version") == []


def test_python_need_of_other_312_syntax():
    assert python_need("type Alias = int\n").line == 1
    assert python_need("x = 1\n\ndef pick[T](a: T) -> T:\n    return a\n").line == 3
    assert python_need("print(f'{1}')\n") is None


def test_rules_findings_in_json(tmp_path):
    sub = submission()
    sub["hardware"] = "CPU"
    (report,) = verify_paths([write_record(tmp_path, sub=sub)])
    data = json.loads(json.dumps([f.to_json() for f in report.findings], default=str))
    assert any(f["id"] == "rules.track.hardware" and f["evidence"]["stated"] == "CPU" for f in data)
