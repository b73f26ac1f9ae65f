"""README claims are claims: its headline numbers and per-seed tables against submission.json and the
logs at their printed precision; what the headline is (a mean, not the best seed); a record on one
seed; bytes_total as model + bytes_code and as the largest seed's total; per-seed values without logs.

Built on real folders of the corpus (tests/_corpus.py), or on copies of them changed to show a case.
"""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from hostile import assert_contained, run_capped

from golfkit.verify.api import verify_paths
from golfkit.verify.readme import parse_readme

TRACK = "track_10min_16mb"
TTT = "2026-04-08_SP8192_ParallelResid_ScoreFirstTTT"
VOCAB = "2026-04-01_Vocab4096_MLPMult4_WD085"
XSA = "2026-03-20_11L_XSA4_EMA_Int6_MLP3x_WD04_1.1271"
RECONCILING = (VOCAB, XSA, "2026-04-05_SP8192_GPTQ-Embeddings_SDClip_Loop45x2", "2026-04-13_VarLenAttn_PhasingTTT2000",
               "2026-04-18_PR1626_CaseOps_Taper", "2026-03-18_FP16Embed_WD3600")
QUASI = ("track_non_record_16mb", "2026-03-18_Quasi10Bfrom50B_SP1024_9x512_KV4_4h_pgut3")


def copy(corpus: Path, name: str, tmp_path: Path) -> Path:
    folder = tmp_path / TRACK / name  # in its track folder, as in a repository
    shutil.copytree(corpus / TRACK / name, folder)
    return folder


def report_of(folder: Path):
    (report,) = verify_paths([folder])
    return report


def of(report, ident: str) -> list:
    return [f for f in report.findings if f.id == ident]


def edit_json(path: Path, **changes) -> None:
    """Set keys of a submission JSON; numbers keep the decimals they are written with (Decimal in, out)."""
    data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    data.update(changes)
    text = json.dumps(data, default=lambda number: f"@@{number}@@")
    path.write_text(re.sub(r'"@@([-0-9.eE+]+)@@"', r"\1", text), encoding="utf-8")


# ---------------------------------------------------------------- parsing


def test_headlines_and_seed_tables_are_read_as_printed(corpus):
    readme = parse_readme((corpus / TRACK / TTT / "README.md").read_text(encoding="utf-8"))
    assert readme.claims_record
    assert [(h.unit, str(h.number), h.line, h.mean_of) for h in readme.headlines] == [
        ("val_bpb", "1.0822", 1, 3), ("val_bpb", "1.0822", 3, 3)]
    (table,) = readme.tables
    assert [row.seed for row in table.rows] == [42, 314, 999]
    assert [(c.kind, str(c.number) if c.number else c.bytes) for c in table.rows[1].cells] == [
        ("val_bpb", "1.0854"), ("val_bpb", "1.0822"), ("total", 15991486)]
    assert table.mean is not None and str(table.mean.cells[0].number) == "1.0822"


def test_escaped_and_non_record_titles():
    readme = parse_readme("# Notable Non-Record Submission: 1.1239 BPB\n\n**val_bpb: 1.1239** (sliding, seed=42)\n")
    assert not readme.claims_record
    assert {(h.unit, str(h.number), h.mean_of) for h in readme.headlines} == {("val_bpb", "1.1239", None)}
    plain = parse_readme("| Seed | val\\_loss | val\\_bpb |\n|---|---|---|\n| **7** | 2.1 | **1.2345** |\n")
    assert [(c.kind, str(c.number)) for c in plain.tables[0].rows[0].cells] == [("val_loss", "2.1"),
                                                                               ("val_bpb", "1.2345")]


# ---------------------------------------------------------------- per-seed tables


@pytest.mark.fires("readme.seed_value.not_in_log")
@pytest.mark.quiet("readme.headline.not_in_logs", "readme.headline.differs")
def test_readme_seed_numbers_that_match_no_log(corpus):
    # 2026-04-08's table gives seeds 314 and 999 sliding scores (1.0854, 1.0849) that their logs do not print
    # (1.08465147, 1.08461423), and seed 42's artifact size for all three seeds.
    report = report_of(corpus / TRACK / TTT)
    found = {(f.evidence["seed"], f.evidence["column"].strip("* "), f.evidence["readme"])
             for f in of(report, "readme.seed_value.not_in_log")}
    assert found == {(314, "Sliding BPB", "1.0854"), (314, "Artifact", "15,991,486"),
                     (999, "Sliding BPB", "1.0849"), (999, "Artifact", "15,991,486")}


@pytest.mark.parametrize("name", RECONCILING)
@pytest.mark.quiet("readme.seed_value.not_in_log", "readme.headline.not_in_logs", "readme.headline.differs")
def test_readmes_that_agree_with_their_logs_are_quiet(corpus, name):
    report_of(corpus / TRACK / name)


@pytest.mark.fires("readme.seed_value.not_in_log")
def test_a_readme_seed_with_no_log(corpus, tmp_path):
    folder = copy(corpus, VOCAB, tmp_path)
    (folder / "train_seed2025.log").unlink()
    found = of(report_of(folder), "readme.seed_value.not_in_log")
    assert [f.evidence["seed"] for f in found] == [2025] and "no log of seed 2025" in found[0].message


# ---------------------------------------------------------------- headlines


@pytest.mark.fires("readme.headline.not_in_logs")
@pytest.mark.quiet("readme.headline.differs")
def test_a_readme_headline_no_log_prints(corpus, tmp_path):
    folder = copy(corpus, VOCAB, tmp_path)
    readme = folder / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8").replace("1.09785", "1.09685"), encoding="utf-8")
    found = of(report_of(folder), "readme.headline.not_in_logs")
    assert {(f.line, f.evidence["readme"]) for f in found} == {(1, "1.09685")}


def _best_seed_headline(corpus: Path, tmp_path: Path) -> Path:
    """2026-04-08 with its headline val_bpb set to its best seed's (999), while the README says 3-seed mean."""
    folder = copy(corpus, TTT, tmp_path)
    edit_json(folder / "submission.json", val_bpb=Decimal("1.08169930"))
    return folder


@pytest.mark.fires("claim.val_bpb.best_seed_as_mean", "readme.headline.differs")
def test_the_best_seed_presented_as_the_mean(corpus, tmp_path):
    report = report_of(_best_seed_headline(corpus, tmp_path))
    (found,) = of(report, "claim.val_bpb.best_seed_as_mean")
    assert "the best seed's" in found.message and found.evidence["said_at"] == "README.md line 1"
    assert round(found.evidence["mean"], 8) == 1.08217956
    differs = of(report, "readme.headline.differs")
    assert differs and differs[0].evidence["match"]["how"] == "mean"


@pytest.mark.fires("claim.val_bpb.best_seed_as_mean")
def test_a_blurb_that_says_mean_of_the_best_seed(corpus, tmp_path):
    folder = copy(corpus, XSA, tmp_path)
    data = json.loads((folder / "submission.json").read_text(encoding="utf-8"), parse_float=Decimal)
    edit_json(folder / "submission.json", blurb=data["blurb"] + " Score: mean of 3 seeds.")
    (found,) = of(report_of(folder), "claim.val_bpb.best_seed_as_mean")
    assert found.evidence["said_at"] == "submission.json's blurb"


@pytest.mark.quiet("claim.val_bpb.best_seed_as_mean", "readme.headline.differs", "readme.headline.not_in_logs")
def test_the_best_seed_said_to_be_the_best_seed_is_quiet(corpus):
    # 11L XSA: headline = seed 1337, the best; the README says "Submitted: seed 1337 (best)".
    report_of(corpus / TRACK / XSA)


# ---------------------------------------------------------------- a record on one seed


@pytest.mark.fires("claim.record.one_seed")
def test_a_record_claim_on_one_seed(corpus, tmp_path):
    folder = copy(corpus, XSA, tmp_path)
    for seed in ("42", "2025"):
        (folder / f"train_seed{seed}.log").unlink()
    (found,) = of(report_of(folder), "claim.record.one_seed")
    assert found.evidence["seeds"] == [1337]


@pytest.mark.quiet("claim.record.one_seed")
def test_a_record_claim_on_three_seeds_is_quiet(corpus):
    report_of(corpus / TRACK / XSA)


# ---------------------------------------------------------------- bytes_total


@pytest.mark.fires("claim.bytes_total.not_sum")
def test_bytes_total_that_is_not_model_plus_code(corpus, tmp_path):
    folder = copy(corpus, XSA, tmp_path)
    edit_json(folder / "submission.json", bytes_model_int6_zstd=15468000)
    (found,) = of(report_of(folder), "claim.bytes_total.not_sum")
    assert found.evidence["model"] == 15468000 and found.evidence["bytes_code"] == 66133


@pytest.mark.quiet("claim.bytes_total.not_sum")
def test_bytes_total_as_model_plus_code_is_quiet(corpus):
    report_of(corpus / TRACK / XSA)
    report_of(corpus.joinpath(*QUASI))


@pytest.mark.fires("claim.bytes_total.not_max")
def test_a_mean_bytes_total_is_not_the_largest_seed(corpus):
    (found,) = of(report_of(corpus / TRACK / VOCAB), "claim.bytes_total.not_max")
    assert found.evidence["largest"] == 15927782 and found.evidence["seed"] == "2025"
    assert "their mean" in found.message


@pytest.mark.quiet("claim.bytes_total.not_max")
def test_the_largest_seed_total_is_quiet(corpus, tmp_path):
    folder = copy(corpus, VOCAB, tmp_path)
    edit_json(folder / "submission.json", bytes_total=15927782)
    report_of(folder)


# ---------------------------------------------------------------- per-seed values without a log


@pytest.mark.fires("claim.seed.log_missing")
def test_per_seed_values_for_seeds_with_no_log(corpus, tmp_path):
    # "Best 5 of 7 runs": values for seeds 7 and 8 under another key, seed 5 listed; none has a log.
    folder = copy(corpus, TTT, tmp_path)
    edit_json(folder / "submission.json", seeds=[42, 314, 999, 5],
              seed_val_bpb={"42": Decimal("1.0826"), "314": Decimal("1.0822"), "7": Decimal("1.0801")},
              runs=[{"seed": 8, "val_bpb": Decimal("1.0799")}])
    found = {f.evidence["seed"]: f.evidence["where"] for f in of(report_of(folder), "claim.seed.log_missing")}
    assert found == {"5": "seeds", "7": "`seed_val_bpb`", "8": "`runs`"}


@pytest.mark.quiet("claim.seed.log_missing")
def test_every_claimed_seed_with_a_log_is_quiet(corpus):
    report_of(corpus / TRACK / TTT)


# ---------------------------------------------------------------- hostile READMEs


@pytest.mark.quiet("verify.record.failed")
def test_hostile_readme_shapes_are_read_within_bounds(corpus, tmp_path):
    # A title of a hundred headline numbers, a separator-like row of spaces after every table header (a
    # backtracking pattern took minutes on it), thousands of seed rows, a superscript seed: read within the
    # bounds, in a capped child.
    folder = copy(corpus, VOCAB, tmp_path)
    text = "# " + " ".join(f"val_bpb {1 + i / 10000:.4f}" for i in range(100)) + "\n"
    text += ("| a | b |\n|-" + " " * 1990 + "x\n") * 200
    text += "| Seed | val_bpb |\n|---|---|\n" + "".join(f"| {i} | 1.{i:04d} |\n" for i in range(3000)) + "| ² | 1.0 |\n"
    (folder / "README.md").write_text(text[: (1 << 20) - 1], encoding="utf-8")
    readme = parse_readme(text)
    assert len(readme.headlines) == 20 and len(readme.tables[0].rows) == 200
    run = run_capped(["verify", "--format", "json", str(folder)], timeout_s=120)
    assert_contained(run)
    (record,) = json.loads(run.stdout)["records"]
    found = [f for f in record["findings"] if f["id"] == "readme.seed_value.not_in_log"]
    assert len(found) == 200  # rows 0-199 kept: seed 42's 1.0042 is no value of its log, the others have no log
