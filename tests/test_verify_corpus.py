"""Conformance over the real record folders of the corpus (tests/_corpus.py: skipped, loudly, when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from golfkit.findings import Severity
from golfkit.verify.api import verify_paths

TRACK = "track_10min_16mb"


def report_of(folder: Path):
    (report,) = verify_paths([folder])
    return report


def ids(report, prefix: str = "") -> list[str]:
    return [f.id for f in report.findings if f.id.startswith(prefix) and f.severity != Severity.INFO]


@pytest.mark.quiet("verify.record.failed")
def test_whole_corpus_verifies_without_crashing(corpus):
    reports = verify_paths([corpus])  # its time: bench/bench_verify.py
    assert len(reports) == 12
    for report in reports:
        assert report.verdict in ("pass", "fail")


@pytest.mark.fires("claim.val_bpb.matched")
@pytest.mark.quiet("claim.val_bpb.not_in_logs", "claim.val_loss.not_in_logs", "size.seed_bytes.mismatch")
def test_naive_baseline_claims_reconcile(corpus):
    report = report_of(corpus / TRACK / "2026-03-17_NaiveBaseline")
    assert ids(report, "claim.") == []
    assert ids(report, "size.") == []
    matched = report.measured["claims_matched"]
    assert matched["val_bpb"]["label"] == "final_int8_zlib_roundtrip_exact"
    assert matched["val_loss"]["family"] == "roundtrip"


@pytest.mark.fires("code.bytes_code.mismatch")
def test_lower_lr_bytes_code_is_not_the_shipped_file(corpus):
    # The logs count the 50,919-byte script that ran; the folder ships the 47,642-byte baseline script.
    report = report_of(corpus / TRACK / "2026-03-18_LowerLR")
    found = [f for f in report.findings if f.id == "code.bytes_code.mismatch"]
    assert found and found[0].evidence["claimed"] == 50919 and found[0].evidence["shipped"] == 47642


@pytest.mark.fires("size.seed_bytes.mismatch")
@pytest.mark.quiet("claim.val_bpb.not_in_logs", "claim.seed_val_bpb.not_in_log")
def test_2026_04_08_seed_bytes_do_not_match_two_logs(corpus):
    report = report_of(corpus / TRACK / "2026-04-08_SP8192_ParallelResid_ScoreFirstTTT")
    found = [f for f in report.findings if f.id == "size.seed_bytes.mismatch"]
    assert sorted(f.evidence["seed"] for f in found) == ["314", "999"]
    assert ids(report, "claim.") == []


def test_mixed_quant_reconciles_with_the_last_of_three_runs(corpus):
    folder = corpus / TRACK / "2026-03-19_MixedQuant_Int6Int8_SlidingWindow"
    report = report_of(folder)
    assert ids(report, "claim.") == []
    matched = report.measured["claims_matched"]["val_bpb"]
    # The last sliding-window result the log prints (its embedded sources only quote the f-string, indented).
    lines = (folder / "train.log").read_text(encoding="utf-8").splitlines()
    last = max(n for n, line in enumerate(lines, 1) if line.startswith("final_sliding_window_eval_exact "))
    assert matched["line"] == last and matched["family"] == "sliding"
    assert report.measured["logs"][0]["runs"] == 3


@pytest.mark.fires("log.copy", "log.seed.conflict")
def test_copies_and_seed_labels_are_recognised(corpus):
    xsa = report_of(corpus / TRACK / "2026-03-20_11L_XSA4_EMA_Int6_MLP3x_WD04_1.1271")
    assert "log.copy" in {f.id for f in xsa.findings}
    caseops = report_of(corpus / TRACK / "2026-04-18_PR1626_CaseOps_Taper")
    assert "log.seed.conflict" in ids(caseops)


def test_seed_means_reconcile_across_formats(corpus):
    for name in ("2026-04-01_Vocab4096_MLPMult4_WD085", "2026-04-05_SP8192_GPTQ-Embeddings_SDClip_Loop45x2",
                 "2026-04-13_VarLenAttn_PhasingTTT2000", "2026-04-18_PR1626_CaseOps_Taper"):
        report = report_of(corpus / TRACK / name)
        assert ids(report, "claim.val_") == ids(report, "claim.seed") == [], name
        assert ids(report, "seeds.") == [], name


@pytest.mark.fires("time.not_checked")
@pytest.mark.quiet("time.train.over_limit", "time.eval.over_limit", "time.train.last_step_over")
def test_non_record_track_skips_time_limits(corpus):
    folder = corpus / "track_non_record_16mb" / "2026-03-18_Quasi10Bfrom50B_SP1024_9x512_KV4_4h_pgut3"
    report = report_of(folder)
    assert ids(report, "time.") == [] and ids(report, "claim.") == []
