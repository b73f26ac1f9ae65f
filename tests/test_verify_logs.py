"""Every log of a record, read as what it is: subfolder logs, the script each log ran, console tails,
configs compared by parsed value, log roles (run, summary, reproduction, ablation, exploration), the
trailing newline of a logged code size, a stub that execs its sibling, the GPUs a log lists, and the
byte-count gap of the claimed sliding-window metric.

Built on real folders of the corpus (tests/_corpus.py), or on copies of them changed to show a case.
"""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from golfkit.findings import Severity
from golfkit.verify.api import verify_paths
from golfkit.verify.configs import same_value
from golfkit.verify.record import read_record

TRACK = "track_10min_16mb"
TTT = "2026-04-08_SP8192_ParallelResid_ScoreFirstTTT"
FP16 = "2026-03-18_FP16Embed_WD3600"
VOCAB = "2026-04-01_Vocab4096_MLPMult4_WD085"
CASEOPS = "2026-04-18_PR1626_CaseOps_Taper"
MIXED = "2026-03-19_MixedQuant_Int6Int8_SlidingWindow"
BASELINE = "2026-03-17_NaiveBaseline"
LOWER_LR = "2026-03-18_LowerLR"
VARLEN = "2026-04-13_VarLenAttn_PhasingTTT2000"


def copy(corpus: Path, name: str, tmp_path: Path) -> Path:
    folder = tmp_path / TRACK / name  # in its track folder, as in a repository
    shutil.copytree(corpus / TRACK / name, folder)
    return folder


def report_of(folder: Path):
    (report,) = verify_paths([folder])
    return report


def ids(report, severity: Severity | None = None) -> list[str]:
    return [f.id for f in report.findings if severity is None or f.severity == severity]


def of(report, ident: str) -> list:
    return [f for f in report.findings if f.id == ident]


def edit_json(path: Path, **changes) -> None:
    """Set keys of a submission JSON; numbers keep the decimals they are written with (Decimal in, out)."""
    data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    data.update(changes)
    text = json.dumps(data, default=lambda number: f"@@{number}@@")
    path.write_text(re.sub(r'"@@([-0-9.eE+]+)@@"', r"\1", text), encoding="utf-8")


def sub_line(path: Path, pattern: str, replacement: str, target: Path | None = None) -> None:
    """Replace the one line matching `pattern` (a regex anchored at a line start) in `path`."""
    text = path.read_text(encoding="utf-8")
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, (path, pattern)
    (target or path).write_text(new, encoding="utf-8")


# ---------------------------------------------------------------- logs in subfolders

SHIFT = Decimal("0.00030000")
TTT_SEEDS = {"42": "1.08261339", "314": "1.08222600", "999": "1.08169930"}


def _reevaluated(folder: Path, with_logs: bool) -> None:
    """The seed claims of 2026-04-08 moved to re-evaluation values; the logs that print them, in
    `ttt_2026/seed_<n>.log`, when `with_logs`."""
    new = {seed: Decimal(value) - SHIFT for seed, value in TTT_SEEDS.items()}
    if with_logs:
        (folder / "ttt_2026").mkdir()
        for seed, value in TTT_SEEDS.items():
            sub_line(folder / f"train_seed{seed}.log", rf"^legal_ttt_exact (val_loss:\S+) val_bpb:{value}",
                     rf"legal_ttt_exact \1 val_bpb:{new[seed]}", target=folder / "ttt_2026" / f"seed_{seed}.log")
    results = json.loads((folder / "submission.json").read_text(encoding="utf-8"), parse_float=Decimal)["seed_results"]
    for seed, value in new.items():
        results[seed]["val_bpb"] = value
    edit_json(folder / "submission.json", seed_results=results, val_bpb=round(sum(new.values()) / 3, 8))


@pytest.mark.fires("claim.seed_val_bpb.matched", "claim.val_bpb.matched", "log.reproduction")
@pytest.mark.quiet("claim.seed_val_bpb.not_in_log", "claim.val_bpb.not_in_logs", "seeds.duplicate")
def test_claims_from_reevaluation_logs_in_a_subfolder_reconcile(corpus, tmp_path):
    folder = copy(corpus, TTT, tmp_path)
    _reevaluated(folder, with_logs=True)
    report = report_of(folder)
    matched = of(report, "claim.seed_val_bpb.matched")
    assert sorted(f.file for f in matched) == [f"ttt_2026/seed_{s}.log" for s in ("314", "42", "999")]
    headline = of(report, "claim.val_bpb.matched")[0].evidence
    assert headline["how"] == "mean" and all(p.startswith("ttt_2026/") for p in headline["logs"])
    assert len(of(report, "log.reproduction")) == 3


@pytest.mark.fires("claim.seed_val_bpb.not_in_log", "claim.val_bpb.not_in_logs")
def test_reevaluated_claims_without_their_logs_are_errors(corpus, tmp_path):
    folder = copy(corpus, TTT, tmp_path)
    _reevaluated(folder, with_logs=False)
    report = report_of(folder)
    assert len(of(report, "claim.seed_val_bpb.not_in_log")) == 3


# ---------------------------------------------------------------- which script a log ran


def _variants(corpus: Path, tmp_path: Path) -> Path:
    """2026-03-18 FP16Embed as a folder of two variants: train_gpt_hnet.py (train.log) and
    train_gpt_hnet_byte.py (train_seed42.log embeds it and logs its size); no train_gpt.py."""
    folder = copy(corpus, FP16, tmp_path)
    hnet = (folder / "train_gpt.py").read_text(encoding="utf-8")
    (folder / "train_gpt.py").rename(folder / "train_gpt_hnet.py")
    byte = hnet + "\n# byte-level variant: tokens are UTF-8 bytes\n"
    (folder / "train_gpt_hnet_byte.py").write_text(byte, encoding="utf-8")
    log = folder / "train_seed42.log"
    text = log.read_text(encoding="utf-8")
    assert text.startswith(hnet.rstrip("\n"))
    log.write_text(byte.rstrip("\n") + text[len(hnet.rstrip("\n")):], encoding="utf-8")
    sub_line(log, r"^Code size: \d+ bytes$", f"Code size: {len(byte.encode())} bytes")
    return folder


@pytest.mark.fires("code.embedded.other_file")
@pytest.mark.quiet("code.logged_size.mismatch", "code.embedded.differs")
def test_each_log_is_compared_with_the_variant_it_ran(corpus, tmp_path):
    report = report_of(_variants(corpus, tmp_path))
    (other,) = of(report, "code.embedded.other_file")
    assert other.file == "train_seed42.log" and "train_gpt_hnet_byte.py" in other.message


@pytest.mark.fires("code.logged_size.mismatch")
def test_a_code_size_no_shipped_script_has_is_still_reported(corpus, tmp_path):
    folder = _variants(corpus, tmp_path)
    sub_line(folder / "train_seed42.log", r"^Code size: \d+ bytes$", "Code size: 49999 bytes")
    (found,) = of(report_of(folder), "code.logged_size.mismatch")
    assert found.file == "train_seed42.log" and found.evidence["logged"] == 49999


# ---------------------------------------------------------------- a console tail before the run


@pytest.mark.fires("log.console_tail")
@pytest.mark.quiet("log.runs", "code.embedded.differs")
def test_console_tail_before_the_embedded_source_is_not_a_run(corpus, tmp_path):
    folder = copy(corpus, FP16, tmp_path)
    tail = (folder / "train_seed42.log").read_text(encoding="utf-8").splitlines()[-12:]
    noise = ["peak memory allocated: 10184 MiB reserved: 10200 MiB",
             "W0318 12:00:00.000000 1 torch/distributed/run.py:803] done"]
    log = folder / "train.log"
    log.write_text("\n".join(tail + noise) + "\n" + log.read_text(encoding="utf-8"), encoding="utf-8")
    evidence = read_record(folder)
    (train,) = [log for log in evidence.logs if log.path == "train.log"]
    assert len(train.runs) == 1 and train.console_tail == (1, 14)
    assert train.run.embedded_source.line == 15
    report = report_of(folder)
    assert of(report, "log.console_tail")[0].evidence["lines"] == [1, 14]


@pytest.mark.fires("log.runs")
@pytest.mark.quiet("log.console_tail")
def test_runs_back_to_back_are_still_runs(corpus):
    # 2026-03-19 holds three runs, each from its own embedded source.
    report = report_of(corpus / TRACK / MIXED)
    assert of(report, "log.runs")[0].evidence["runs"] == [[1, 1473], [1474, 2960], [2961, 4465]]


# ---------------------------------------------------------------- configs by parsed key and value


def _caseops_with_seed_1(corpus: Path, tmp_path: Path) -> Path:
    """2026-04-18 with its seed-42 log run as seed 1: its `caseops_v1` values hold the seed's digit."""
    folder = copy(corpus, CASEOPS, tmp_path)
    log = folder / "train_seed42.log"
    text = log.read_text(encoding="utf-8").replace("caseops_seed42_0418", "caseops_seed1_0418")
    text = re.sub(r"^  seed: 42$", "  seed: 1", text, count=1, flags=re.MULTILINE)
    (folder / "train_seed1.log").write_text(text, encoding="utf-8")
    log.unlink()
    return folder


@pytest.mark.quiet("seeds.config.differs", "seeds.config.eval_differs")
def test_the_1_of_caseops_v1_is_not_a_seed(corpus, tmp_path):
    folder = _caseops_with_seed_1(corpus, tmp_path)
    logs = {log.path: log for log in read_record(folder).logs}
    assert "caseops_v1" in logs["train_seed1.log"].run.config["datasets_dir"]
    report_of(folder)


@pytest.mark.fires("seeds.config.differs")
def test_a_training_setting_that_differs_is_named_alone(corpus, tmp_path):
    folder = _caseops_with_seed_1(corpus, tmp_path)
    sub_line(folder / "train_seed1.log", r"^  matrix_lr: .*$", "  matrix_lr: 0.03")
    (found,) = of(report_of(folder), "seeds.config.differs")
    assert list(found.evidence["differences"]) == ["matrix_lr"]


def test_values_compare_as_parsed_values():
    assert same_value("matrix_lr", "0.020", "0.02")
    assert same_value("max_wallclock_seconds", "600", "600.0")
    assert same_value("artifact", "/runs/record_seed42_phased/x", "/runs/record_seed7_phased/x", (42, 7))
    assert same_value("run_tag", "exp_seed1_a", "exp_seed2_a", (1, 2))
    assert not same_value("datasets_dir", "caseops_v1", "caseops_v2", (1, 2))
    assert not same_value("num_loops", "1", "2", (1, 2))
    assert not same_value("matrix_lr", "0.02", "0.03", (2, 3))


def _vocab_with_config_line(corpus: Path, tmp_path: Path, key: str, values: dict[str, str]) -> Path:
    """2026-04-01 (claim: the sliding-window mean) with `key` added to each seed log's hyperparameters."""
    folder = copy(corpus, VOCAB, tmp_path)
    for seed, value in values.items():
        sub_line(folder / f"train_seed{seed}.log", r"^  eval_seq_len: (.*)$", rf"  eval_seq_len: \1\n  {key}: {value}")
    return folder


@pytest.mark.fires("seeds.config.eval_differs")
@pytest.mark.quiet("seeds.config.differs")
def test_a_ttt_flag_under_a_sliding_window_claim_is_info(corpus, tmp_path):
    folder = _vocab_with_config_line(corpus, tmp_path, "ttt_enabled", {"42": "True", "1337": "False", "2025": "False"})
    report = report_of(folder)
    found = of(report, "seeds.config.eval_differs")
    assert found and all(f.evidence["claimed_family"] == "sliding" for f in found)
    assert all(set(f.evidence["differences"]) == {"ttt_enabled"} for f in found)


@pytest.mark.fires("seeds.config.differs")
@pytest.mark.quiet("seeds.config.eval_differs")
def test_an_evaluation_setting_the_claim_uses_is_an_error(corpus, tmp_path):
    # The sliding-window stride under a sliding-window claim.
    folder = copy(corpus, VOCAB, tmp_path)
    sub_line(folder / "train_seed2025.log", r"^  eval_stride: 64$", "  eval_stride: 32")
    (found,) = of(report_of(folder), "seeds.config.differs")
    assert found.evidence["groups"] == {"eval_stride": "sliding"}


@pytest.mark.fires("seeds.config.differs")
def test_a_ttt_setting_under_a_ttt_claim_is_an_error(corpus, tmp_path):
    folder = copy(corpus, TTT, tmp_path)
    sub_line(folder / "train_seed314.log", r"^  ttt_lr: 0.005$", "  ttt_lr: 0.01")
    (found,) = of(report_of(folder), "seeds.config.differs")
    assert found.evidence["claimed_family"] == "ttt" and set(found.evidence["differences"]) == {"ttt_lr"}


# ---------------------------------------------------------------- roles: summary, exploration, reproduction


@pytest.mark.fires("log.copy")
@pytest.mark.quiet("log.summary", "log.reproduction", "log.ablation", "log.exploration", "log.extra_logs.unknown",
                   "log.console_tail", "seeds.duplicate")
def test_seed_logs_and_a_byte_copy_are_runs(corpus):
    # 11L XSA: three seed logs, and train.log byte for byte train_seed1337.log.
    report = report_of(corpus / TRACK / "2026-03-20_11L_XSA4_EMA_Int6_MLP3x_WD04_1.1271")
    assert of(report, "log.copy")[0].file == "train_seed1337.log"


@pytest.mark.fires("log.summary")
@pytest.mark.quiet("log.truncated", "files.log.missing")
def test_a_driver_summary_is_not_a_truncated_log(corpus, tmp_path):
    folder = copy(corpus, TTT, tmp_path)
    lines = [f"seed {seed}: val_bpb {value} (train_seed{seed}.log)" for seed, value in TTT_SEEDS.items()]
    (folder / "summary.log").write_text("\n".join([*lines, "mean val_bpb 1.08217956 std 0.00045881"]) + "\n")
    (found,) = of(report_of(folder), "log.summary")
    assert found.file == "summary.log"


def _stopped_log(folder: Path, source: str, target: str, seed: str | None = None) -> None:
    lines = (folder / source).read_text(encoding="utf-8").splitlines()[:120]
    text = "\n".join(lines) + "\n"
    if seed is not None:
        text = re.sub(r"^  seed: \d+$", f"  seed: {seed}", text, count=1, flags=re.MULTILINE)
    (folder / target).write_text(text, encoding="utf-8")


@pytest.mark.fires("log.exploration")
@pytest.mark.quiet("log.truncated")
def test_a_stopped_run_no_claim_uses_is_info(corpus, tmp_path):
    folder = copy(corpus, TTT, tmp_path)
    _stopped_log(folder, "train_seed42.log", "lr_sweep_seed7.log", seed="7")
    (found,) = of(report_of(folder), "log.exploration")
    assert found.file == "lr_sweep_seed7.log" and "seed 7 is not claimed" in found.message


@pytest.mark.fires("log.truncated")
@pytest.mark.quiet("log.exploration")
def test_a_claimed_seeds_only_log_cut_short_is_an_error(corpus, tmp_path):
    folder = copy(corpus, TTT, tmp_path)
    _stopped_log(folder, "train_seed314.log", "train_seed314.log")
    (found,) = of(report_of(folder), "log.truncated")
    assert found.file == "train_seed314.log"


@pytest.mark.fires("log.reproduction")
@pytest.mark.quiet("seeds.duplicate")
def test_a_seed_repeated_with_the_same_config_is_a_reproduction(corpus, tmp_path):
    folder = copy(corpus, TTT, tmp_path)
    (folder / "reruns").mkdir()
    sub_line(folder / "train_seed42.log", r"^legal_ttt_exact val_loss:2.79650282 val_bpb:1.08261339",
             "legal_ttt_exact val_loss:2.79660282 val_bpb:1.08265339", target=folder / "reruns" / "train_seed42_b.log")
    (found,) = of(report_of(folder), "log.reproduction")
    assert found.file == "reruns/train_seed42_b.log" and "train_seed42.log" in found.message


def _ablation(corpus: Path, tmp_path: Path) -> Path:
    folder = copy(corpus, TTT, tmp_path)
    sub_line(folder / "train_seed42.log", r"^  qk_gain_init: 4.0$", "  qk_gain_init: 5.0",
             target=folder / "train_seed42_qk5.log")
    return folder


@pytest.mark.fires("log.ablation")
@pytest.mark.quiet("seeds.duplicate", "log.extra_logs.unknown")
def test_extra_logs_marks_an_ablation(corpus, tmp_path):
    folder = _ablation(corpus, tmp_path)
    edit_json(folder / "submission.json", extra_logs={"train_seed42_qk5.log": "ablation"})
    (found,) = of(report_of(folder), "log.ablation")
    assert found.file == "train_seed42_qk5.log"


@pytest.mark.fires("seeds.duplicate", "log.extra_logs.unknown")
def test_an_unmarked_log_of_a_seed_with_another_config_is_a_duplicate(corpus, tmp_path):
    folder = _ablation(corpus, tmp_path)
    edit_json(folder / "submission.json", extra_logs={"ablations/qk5.log": "ablation"})
    report = report_of(folder)
    assert of(report, "seeds.duplicate")[0].evidence["seed"] == 42
    assert of(report, "log.extra_logs.unknown")[0].evidence["log"] == "ablations/qk5.log"


# ---------------------------------------------------------------- logged code sizes


@pytest.mark.fires("code.logged_size.trailing_newline", "code.logged_size.mismatch")
def test_a_trailing_newline_alone_is_no_size_mismatch(corpus):
    # 2026-04-01 ships train_gpt.py without its last newline: seed 42 logged and embedded 68,207 bytes.
    # Seeds 1337 and 2025 embed the same source but log 68,246 bytes: that stays a warning.
    report = report_of(corpus / TRACK / VOCAB)
    (newline,) = of(report, "code.logged_size.trailing_newline")
    assert newline.file == "train_seed42.log" and newline.evidence["logged"] == 68207
    assert sorted(f.file for f in of(report, "code.logged_size.mismatch")) == ["train_seed1337.log",
                                                                              "train_seed2025.log"]


@pytest.mark.quiet("code.logged_size.trailing_newline", "code.logged_size.mismatch", "code.embedded.differs")
def test_logged_sizes_equal_to_the_shipped_script_stay_quiet(corpus):
    report_of(corpus / TRACK / FP16)


def _stub(corpus: Path, tmp_path: Path) -> Path:
    """The baseline with its script moved to train_gpt_decode.py and a 74-byte train_gpt.py that execs it."""
    folder = copy(corpus, BASELINE, tmp_path)
    (folder / "train_gpt.py").rename(folder / "train_gpt_decode.py")
    stub = 'exec(open(__file__.replace("train_gpt.py","train_gpt_decode.py")).read())\n'
    (folder / "train_gpt.py").write_text(stub, encoding="utf-8")
    assert len(stub) == 74
    return folder


@pytest.mark.fires("code.sibling.counted")
@pytest.mark.quiet("code.logged_size.mismatch", "code.bytes_code.mismatch")
def test_a_stub_that_execs_its_sibling_is_compared_through_the_sibling(corpus, tmp_path):
    report = report_of(_stub(corpus, tmp_path))
    assert report.measured["code_bytes"] == 74 + 47642


@pytest.mark.fires("code.logged_size.mismatch")
def test_a_stub_whose_log_names_other_code_is_reported(corpus, tmp_path):
    folder = _stub(corpus, tmp_path)
    sub_line(folder / "train.log", r"^Code size: 47642 bytes$", "Code size: 47000 bytes")
    (found,) = of(report_of(folder), "code.logged_size.mismatch")
    assert found.evidence["logged"] == 47000


# ---------------------------------------------------------------- hardware


@pytest.mark.fires("log.hardware.not_track")
def test_h200_in_nvidia_smi_contradicts_a_stated_8xh100(corpus, tmp_path):
    # 2026-03-18 LowerLR ran on 8xH200 (its README says so; its log's nvidia-smi lists them).
    folder = copy(corpus, LOWER_LR, tmp_path)
    edit_json(folder / "submission.json", hardware="8xH100 80GB SXM")
    (found,) = of(report_of(folder), "log.hardware.not_track")
    assert found.line == 1208 and set(found.evidence["gpus"]) == {"NVIDIA H200"}


@pytest.mark.quiet("log.hardware.not_track")
def test_h100_logs_under_a_stated_8xh100_are_quiet(corpus, tmp_path):
    folder = copy(corpus, FP16, tmp_path)
    edit_json(folder / "submission.json", hardware="8xH100 80GB SXM")
    assert all(len(log.run.gpus) == 8 for log in read_record(folder).logs)
    report_of(folder)


# ---------------------------------------------------------------- byte count of the claimed metric


@pytest.mark.fires("data.bytes.small_mismatch")
@pytest.mark.quiet("data.bytes.small_mismatch_unclaimed")
def test_claim_at_four_decimals_keeps_the_byte_gap_of_its_exact_twin(corpus, tmp_path):
    # Claimed at 4 decimals, 2026-03-19's headline matches `final_sliding_window_eval`; its `_exact` twin
    # shows the 132-byte gap of the same evaluation.
    folder = copy(corpus, MIXED, tmp_path)
    text = (folder / "submission.json").read_text(encoding="utf-8")
    text = text.replace('"val_loss": 1.96369923', '"val_loss": 1.9637').replace('"val_bpb": 1.16301431',
                                                                              '"val_bpb": 1.1630')
    (folder / "submission.json").write_text(text, encoding="utf-8")
    (found,) = of(report_of(folder), "data.bytes.small_mismatch")
    assert found.evidence["label"] == "final_sliding_window_eval_exact"
    assert found.evidence["lines"][0]["targets"] == 54 and "54 targets" in found.message


@pytest.mark.fires("data.bytes.small_mismatch_unclaimed")
@pytest.mark.quiet("data.bytes.small_mismatch")
def test_diagnostic_lines_no_claim_uses_stay_info(corpus):
    report_of(corpus / TRACK / VARLEN)
