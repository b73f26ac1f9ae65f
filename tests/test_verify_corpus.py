"""Conformance over the real record folders in ../shared/corpus (skipped when absent)."""

from __future__ import annotations

import csv
import os
import shutil
import time
from pathlib import Path

import pytest

from golfkit.findings import Severity
from golfkit.verify.api import verify_paths

CORPUS = Path(os.environ.get("GOLFKIT_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="real-record corpus not present")
TRACK = "track_10min_16mb"


def report_of(folder: Path):
    (report,) = verify_paths([folder])
    return report


def ids(report, prefix: str = "") -> list[str]:
    return [f.id for f in report.findings if f.id.startswith(prefix) and f.severity != Severity.INFO]


def with_standin_script(folder: Path, tmp_path: Path) -> Path:
    """A copy of `folder` with train_gpt.py replaced by a stand-in of the size MANIFEST.tsv lists."""
    copy = tmp_path / TRACK / folder.name
    shutil.copytree(folder, copy)
    rel = f"{TRACK}/{folder.name}"
    with (CORPUS / "MANIFEST.tsv").open() as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["folder"] == rel and row["file"] == "train_gpt.py":
                (copy / "train_gpt.py").write_bytes(b"#" * (int(row["bytes"]) - 1) + b"\n")
    return copy


def test_whole_corpus_verifies_quickly_without_crashing():
    start = time.perf_counter()
    reports = verify_paths([CORPUS])
    assert len(reports) == 12
    assert time.perf_counter() - start < 10
    for report in reports:
        assert report.verdict in ("pass", "fail")


def test_naive_baseline_claims_reconcile():
    report = report_of(CORPUS / TRACK / "2026-03-17_NaiveBaseline")
    assert ids(report, "claim.") == []
    assert ids(report, "size.") == []
    matched = report.measured["claims_matched"]
    assert matched["val_bpb"]["label"] == "final_int8_zlib_roundtrip_exact"
    assert matched["val_loss"]["family"] == "roundtrip"


def test_lower_lr_bytes_code_is_not_the_shipped_file(tmp_path):
    report = report_of(with_standin_script(CORPUS / TRACK / "2026-03-18_LowerLR", tmp_path))
    found = [f for f in report.findings if f.id == "code.bytes_code.mismatch"]
    assert found and found[0].evidence["claimed"] == 50919 and found[0].evidence["shipped"] == 47642


def test_2026_04_08_seed_bytes_do_not_match_two_logs():
    report = report_of(CORPUS / TRACK / "2026-04-08_SP8192_ParallelResid_ScoreFirstTTT")
    found = [f for f in report.findings if f.id == "size.seed_bytes.mismatch"]
    assert sorted(f.evidence["seed"] for f in found) == ["314", "999"]
    assert ids(report, "claim.") == []


def test_mixed_quant_reconciles_with_the_last_of_three_runs():
    report = report_of(CORPUS / TRACK / "2026-03-19_MixedQuant_Int6Int8_SlidingWindow")
    assert ids(report, "claim.") == []
    matched = report.measured["claims_matched"]["val_bpb"]
    assert matched["line"] == 529 and matched["family"] == "sliding"
    assert report.measured["logs"][0]["runs"] == 3


def test_copies_and_seed_labels_are_recognised():
    xsa = report_of(CORPUS / TRACK / "2026-03-20_11L_XSA4_EMA_Int6_MLP3x_WD04_1.1271")
    assert "log.copy" in {f.id for f in xsa.findings}
    caseops = report_of(CORPUS / TRACK / "2026-04-18_PR1626_CaseOps_Taper")
    assert "log.seed.conflict" in ids(caseops)


def test_seed_means_reconcile_across_formats():
    for name in ("2026-04-01_Vocab4096_MLPMult4_WD085", "2026-04-05_SP8192_GPTQ-Embeddings_SDClip_Loop45x2",
                 "2026-04-13_VarLenAttn_PhasingTTT2000", "2026-04-18_PR1626_CaseOps_Taper"):
        report = report_of(CORPUS / TRACK / name)
        assert ids(report, "claim.") == [], name
        assert ids(report, "seeds.") == [], name


def test_non_record_track_skips_time_limits():
    folder = CORPUS / "track_non_record_16mb" / "2026-03-18_Quasi10Bfrom50B_SP1024_9x512_KV4_4h_pgut3"
    report = report_of(folder)
    assert ids(report, "time.") == [] and ids(report, "claim.") == []
