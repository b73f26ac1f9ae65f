"""`golfkit check RECORD`: verify + the byte budget from the files + the re-run + the wrapper proof + probes, in
one run with a summary; and `golfkit ci --check`, which runs the same parts on a pull request.

Built on copies of the example record (3 seeds, version-1 artifacts, data shipped); the slow parts (re-runs,
probes) run in tests/test_participant_path.py on a tiny record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import assert_no_crash, assert_usage_error
from click.testing import CliRunner

from golfkit.author import check as check_mod
from golfkit.author.check import CheckOptions, check_record, render_text
from golfkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "records" / "track_non_record_16mb" / "2026-11-22_golfkit_reference_cpu"
FAST = CheckOptions(rerun=False)


@pytest.fixture
def record(tmp_path: Path) -> Path:
    folder = tmp_path / "records" / "track_non_record_16mb" / "2026-11-22_example_copy"
    shutil.copytree(EXAMPLE, folder)
    return folder


def ids(result) -> set[str]:
    return {f.id for f in result.report.findings}


def as_v2(artifact: Path) -> str:
    """Rewrite a version-1 artifact as a version-2 one (ANS-coded parts); returns the decoder it needs."""
    from golfkit.artifact.container import read_artifact
    from golfkit.packing.pipeline import build_in_memory

    state = read_artifact(artifact).state_dict()
    built = build_in_memory(state, [], "ans", read_artifact(artifact).meta, min_numel=256)
    assert built.version == 2
    artifact.write_bytes(built.blob)
    return built.loader


@pytest.mark.fires("check.budget.seed")
@pytest.mark.quiet("check.budget.over_cap", "check.budget.claim_differs", "check.loader.missing")
def test_a_sound_record_passes_with_every_seed_counted(record: Path):
    result = check_record(record, FAST)
    assert not result.failed
    budgets = [f for f in result.report.findings if f.id == "check.budget.seed"]
    assert sorted(f.evidence["seed"] for f in budgets) == [42, 1337, 2025]
    for f in budgets:  # code + model, from the files: what each seed's log printed as its total
        sub = json.loads((record / "submission.json").read_text())
        assert f.evidence["total_bytes"] == sub["seed_results"][str(f.evidence["seed"])]["bytes_total"]
    steps = {s.name: s for s in result.steps}
    assert steps["verify"].checked and steps["budget"].checked
    assert not steps["rerun"].checked and "--no-rerun" in steps["rerun"].detail
    assert not steps["probes"].checked and "--probes --trust-code" in steps["probes"].detail
    assert not steps["wrapper"].checked and "plain source" in steps["wrapper"].detail
    assert not steps["against"].checked and "no other record" in steps["against"].detail
    text = render_text(result)
    assert "checked:" in text and "not checked:" in text and "next:" in text
    assert "golfkit check: PASS" in text.splitlines()[-1]


@pytest.mark.quiet("check.budget.seed")
def test_a_record_without_artifacts_says_the_budget_was_not_counted(record: Path):
    for artifact in record.glob("*.ptz"):
        artifact.unlink()
    result = check_record(record, FAST)
    steps = {s.name: s for s in result.steps}
    assert not steps["budget"].checked and "ships no artifact" in steps["budget"].detail
    assert "nothing to re-run" not in steps["rerun"].detail  # --no-rerun: not asked


@pytest.mark.fires("check.budget.over_cap")
def test_a_seed_over_the_cap_is_an_error(record: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(check_mod, "SIZE_CAP_BYTES", 555_000)  # between the seeds' totals
    result = check_record(record, FAST)
    over = [f for f in result.report.findings if f.id == "check.budget.over_cap"]
    assert sorted(f.evidence["seed"] for f in over) == [42, 2025]
    assert result.failed


@pytest.mark.fires("check.budget.claim_differs")
def test_a_claimed_total_that_is_not_the_files_is_flagged(record: Path):
    sub = json.loads((record / "submission.json").read_text())
    sub["seed_results"]["42"]["bytes_total"] += 1
    (record / "submission.json").write_text(json.dumps(sub, indent=2))
    result = check_record(record, FAST)
    [differs] = [f for f in result.report.findings if f.id == "check.budget.claim_differs"]
    assert differs.evidence["seed"] == 42 and differs.evidence["claimed"] == differs.evidence["total_bytes"] + 1


@pytest.mark.fires("check.loader.missing")
def test_a_version_2_artifact_without_its_decoder_is_an_error(record: Path):
    as_v2(record / "final_model_seed42.int8.ptz")
    result = check_record(record, FAST)
    [missing] = [f for f in result.report.findings if f.id == "check.loader.missing"]
    assert missing.file == "final_model_seed42.int8.ptz" and "artifact_loader.py" in missing.message
    assert result.failed


@pytest.mark.quiet("check.loader.missing")
def test_a_version_2_artifact_with_its_decoder_shipped_is_counted(record: Path):
    loader = as_v2(record / "final_model_seed42.int8.ptz")
    (record / "artifact_loader.py").write_text(loader)
    result = check_record(record, FAST)
    [seed42] = [f for f in result.report.findings if f.id == "check.budget.seed" and f.evidence["seed"] == 42]
    script = (record / "train_gpt.py").stat().st_size
    assert seed42.evidence["code_bytes"] == script + len(loader.encode())  # the decoder counts as code


def test_check_command_exit_codes_and_json(record: Path):
    runner = CliRunner()
    ok = runner.invoke(main, ["check", str(record), "--no-rerun", "--json"])
    assert_no_crash(ok)
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.output)
    assert doc["record"]["verdict"] == "pass" and {s["name"] for s in doc["steps"]} >= {"verify", "budget", "rerun"}
    assert doc["next"]
    (record / "train_seed42.log").unlink()
    bad = runner.invoke(main, ["check", str(record), "--no-rerun"])
    assert_no_crash(bad)
    assert bad.exit_code == 1 and "golfkit check: FAIL" in bad.output and "fix the" in bad.output


def test_check_refuses_bad_input_in_one_line(tmp_path: Path, record: Path):
    runner = CliRunner()
    assert_usage_error(runner.invoke(main, ["check", str(tmp_path / "nowhere")]), "nowhere", "not a folder")
    assert_usage_error(runner.invoke(main, ["check", str(record.parent)]), "is not a record folder but holds 1", "golfkit verify")
    (tmp_path / "empty").mkdir()
    assert_usage_error(runner.invoke(main, ["check", str(tmp_path / "empty")]), "no record folder found")
    assert_usage_error(runner.invoke(main, ["check", str(record), "--probes"]), "--trust-code")
    assert_usage_error(runner.invoke(main, ["check", str(record), "--unconfined"]), "--trust-code")


def test_against_auto_compares_with_the_best_other_record_of_the_track(record: Path):
    other = record.parent / "2026-11-20_another_copy"
    shutil.copytree(record, other)
    result = check_record(record, FAST)
    steps = {s.name: s for s in result.steps}
    assert steps["against"].checked and "2026-11-20_another_copy" in steps["against"].detail


def git(repo: Path, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.mark.fires("check.budget.seed")
def test_ci_check_runs_the_same_parts_on_a_pull_request(tmp_path: Path, record: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ci@example.com")
    git(repo, "config", "user.name", "ci")
    (repo / "README.md").write_text("records\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "pr")
    target = repo / "records" / "track_non_record_16mb" / record.name
    shutil.copytree(record, target)
    (target / "fineweb_val_000000.bin").unlink()  # nothing to re-run: the slow part stays out of this test
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a record")
    runner = CliRunner()
    plain = runner.invoke(main, ["ci", "--repo", str(repo), "--base", "main", "--head", "pr", "--format", "json"])
    full = runner.invoke(main, ["ci", "--repo", str(repo), "--base", "main", "--head", "pr", "--check",
                                "--format", "json"])
    for result in (plain, full):
        assert_no_crash(result)
        assert result.exit_code == 0, result.output
    found = {f["id"] for r in json.loads(full.output)["records"] for f in r["findings"]}
    assert "check.budget.seed" in found
    assert "check.budget.seed" not in {f["id"] for r in json.loads(plain.output)["records"] for f in r["findings"]}
    assert_usage_error(runner.invoke(main, ["ci", "--repo", str(repo), "--base", "main", "--probes"]), "--check")


def test_a_shipped_wrapper_is_proved(record: Path):
    import base64
    import lzma

    payload = base64.b85encode(lzma.compress(b"import os\nprint(os.getcwd())\n")).decode()
    (record / "train_gpt.py").write_text(f"import lzma as L,base64 as B\nexec(L.decompress(B.b85decode({payload!r})))\n")
    result = check_record(record, FAST)
    steps = {s.name: s for s in result.steps}
    assert steps["wrapper"].checked and "decodes without running and compiles" in steps["wrapper"].detail
    assert "minify.proof.layers" in ids(result)
    broken = base64.b85encode(lzma.compress(b"def broken(:\n")).decode()
    (record / "train_gpt.py").write_text(f"import lzma as L,base64 as B\nexec(L.decompress(B.b85decode({broken!r})))\n")
    result = check_record(record, FAST)
    assert "minify.proof.does_not_compile" in ids(result) and result.failed
    assert "does not decode and compile" in {s.name: s for s in result.steps}["wrapper"].detail
