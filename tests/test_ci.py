"""`golfkit ci` on real git repositories: a records tree, a base commit, then pull request commits.

The command run here is the one the workflow template runs (read from the YAML), so the template
and the tests cannot drift apart.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cli_helpers import assert_usage_error
from click.testing import CliRunner
from test_new import CODE, write_log

from golfkit.author.new_record import new_record
from golfkit.ci.pipeline import run_ci, verify_changed_files
from golfkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "templates" / "workflows" / "golfkit-ci.yml"
HOOKS = ROOT / "templates" / "pre-commit-hooks.yaml"
TRACK = "records/track_non_record_16mb"
NEW = f"{TRACK}/2026-05-01_tiny_run"
OLD = "records/track_10min_16mb/2026-01-01_baseline"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def made_record(tmp_path_factory) -> Path:
    """A record folder made by `golfkit new` from a three-seed run on a real tokenizer and shard."""
    from golfkit.data.shards import read_shard
    from golfkit.data.tokenizer import make_dataset

    scratch = tmp_path_factory.mktemp("run")
    dataset = make_dataset(scratch / "data", vocab_size=512, train_docs=300, val_docs=20, seed=3)
    targets = read_shard(dataset.val_shard).size - 1
    (scratch / "train_gpt.py").write_bytes(CODE)
    logs, artifacts = [], []
    for seed, loss, model in ((1337, "2.31000000", 250_001), (42, "2.32000000", 250_002)):
        logs.append(write_log(scratch / f"train_seed{seed}.log", seed, loss=loss, code=CODE, model_bytes=model,
                              tokens=targets, val_bytes=dataset.val_bytes))
        artifacts.append(scratch / f"final_model_seed{seed}.int8.ptz")
        artifacts[-1].write_bytes(bytes(model))
    folder = scratch / NEW
    new_record(folder, logs, code=[scratch / "train_gpt.py"], artifacts=artifacts,
               data_files=[dataset.tokenizer, dataset.val_shard], author="Ada", github_id="ada", with_plot=False)
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A records repository: main holds a README and one merged record; branch `pr` is checked out."""
    repo = tmp_path / "records-repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Test")
    git(repo, "config", "user.email", "test@example.com")
    (repo / "README.md").write_text("# records\n")
    (repo / OLD).mkdir(parents=True)
    (repo / OLD / "README.md").write_text("merged record\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "pr")
    return repo


def add_record(repo: Path, made: Path, rel: str = NEW) -> Path:
    shutil.copytree(made, repo / rel)
    return repo / rel


def commit(repo: Path, message: str = "pr") -> None:
    git(repo, "add", "-A", ".")
    git(repo, "commit", "-q", "-m", message)


def better_than_logged(folder: Path) -> None:
    """Claims a val_bpb 0.01 better than the logs show, the typo reviewers used to catch by hand."""
    submission = json.loads((folder / "submission.json").read_text())
    submission["val_bpb"] = round(submission["val_bpb"] - 0.01, 8)
    (folder / "submission.json").write_text(json.dumps(submission, indent=2))


def workflow_ci_step() -> dict:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["golfkit-ci"]["steps"]
    [step] = [s for s in steps if "golfkit ci" in s.get("run", "")]
    return step


def run_workflow_command(repo: Path, tmp_path: Path, monkeypatch) -> tuple[int, str, str]:
    """Runs the workflow's `golfkit ci` step as GitHub would for this pull request: (exit, stdout, summary)."""
    step = workflow_ci_step()
    event = {"github.event.pull_request.base.sha": git(repo, "rev-parse", "main").strip(),
             "github.event.pull_request.head.sha": git(repo, "rev-parse", "HEAD").strip()}
    env = {name: event[re.fullmatch(r"\$\{\{\s*(\S+)\s*\}\}", value).group(1)] for name, value in step["env"].items()}
    argv = [env.get(arg[1:], arg) if arg.startswith("$") else arg for arg in shlex.split(step["run"])]
    assert argv[:2] == ["golfkit", "ci"]
    summary = tmp_path / "step_summary.md"
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(main, argv[1:], env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    return result.exit_code, result.output, summary.read_text() if summary.exists() else ""


def error_ids(result) -> set[str]:
    return {f.id for f in result.findings if f.severity.value == "error"}


@pytest.mark.quiet("pr.shape.outside_records", "pr.shape.modifies_existing", "pr.shape.multiple_folders",
                   "pr.shape.bad_folder_name", "pr.shape.not_a_file", "pr.shape.no_record", "pr.shape.too_large",
                   "pr.shape.gitattributes", "pr.shape.file_too_large", "pr.shape.unsafe_path")
def test_a_good_pull_request_passes(repo: Path, made_record: Path, tmp_path: Path, monkeypatch):
    add_record(repo, made_record)
    commit(repo)
    result = run_ci(repo, "main")
    assert error_ids(result) == set()
    assert result.shape.new_folders == [NEW]
    assert [r.path for r in result.records] == [NEW]
    code, output, summary = run_workflow_command(repo, tmp_path, monkeypatch)
    assert code == 0, output
    assert "::error" not in output
    assert "passed" in summary and NEW in summary


@pytest.mark.fires("pr.shape.outside_records")
def test_editing_the_root_readme_fails(repo: Path, made_record: Path, tmp_path: Path, monkeypatch):
    add_record(repo, made_record)
    (repo / "README.md").write_text("# records\n\nmine is the best\n")
    commit(repo)
    assert error_ids(run_ci(repo, "main")) == {"pr.shape.outside_records"}
    code, output, summary = run_workflow_command(repo, tmp_path, monkeypatch)
    assert code == 1
    assert re.search(r"^::error file=README\.md[,:].*pr\.shape\.outside_records", output, re.MULTILINE), output
    assert "pr.shape.outside_records" in summary


@pytest.mark.fires("pr.shape.multiple_folders")
def test_two_folders_fail(repo: Path, made_record: Path, tmp_path: Path, monkeypatch):
    add_record(repo, made_record)
    add_record(repo, made_record, f"{TRACK}/2026-05-02_tiny_run_again")
    commit(repo)
    assert error_ids(run_ci(repo, "main")) == {"pr.shape.multiple_folders"}
    code, output, summary = run_workflow_command(repo, tmp_path, monkeypatch)
    assert code == 1
    assert re.search(r"^::error file=records/.*pr\.shape\.multiple_folders", output, re.MULTILINE), output
    assert "pr.shape.multiple_folders" in summary


@pytest.mark.fires("pr.shape.bad_folder_name")
def test_a_space_in_the_folder_name_fails(repo: Path, made_record: Path, tmp_path: Path, monkeypatch):
    add_record(repo, made_record, f"{TRACK}/2026-05-01_tiny run")
    commit(repo)
    assert "pr.shape.bad_folder_name" in error_ids(run_ci(repo, "main"))
    code, output, summary = run_workflow_command(repo, tmp_path, monkeypatch)
    assert code == 1
    assert re.search(r"^::error file=records/track_non_record_16mb/2026-05-01_tiny run/.*pr\.shape\.bad_folder_name",
                     output, re.MULTILINE), output
    assert "pr.shape.bad_folder_name" in summary


@pytest.mark.quiet("pr.shape.outside_records", "pr.shape.bad_folder_name", "pr.shape.too_large")
def test_claims_that_do_not_match_the_logs_fail(repo: Path, made_record: Path, tmp_path: Path, monkeypatch):
    better_than_logged(add_record(repo, made_record))
    commit(repo)
    result = run_ci(repo, "main")
    assert "claim.val_bpb.not_in_logs" in error_ids(result)
    assert not any(f.id.startswith("pr.shape") for f in result.findings)
    code, output, summary = run_workflow_command(repo, tmp_path, monkeypatch)
    assert code == 1
    assert re.search(rf"^::error file={re.escape(NEW)}/submission\.json.*claim\.val_bpb\.not_in_logs", output, re.MULTILINE), \
        output
    assert "claim.val_bpb.not_in_logs" in summary


@pytest.mark.fires("pr.shape.modifies_existing")
def test_modifying_a_merged_record_fails(repo: Path, made_record: Path):
    add_record(repo, made_record)
    (repo / OLD / "README.md").write_text("rewritten history\n")
    commit(repo)
    assert error_ids(run_ci(repo, "main")) == {"pr.shape.modifies_existing"}


def test_uncommitted_files_do_not_count(repo: Path, made_record: Path):
    folder = add_record(repo, made_record)
    commit(repo)
    (folder / "submission.json").write_text("{ not json")
    assert error_ids(run_ci(repo, "main")) == set()


def test_an_unknown_base_is_exit_2_in_one_line(repo: Path, monkeypatch):
    monkeypatch.chdir(repo)
    assert_usage_error(CliRunner().invoke(main, ["ci", "--base", "no-such-branch"]), "fetch-depth")
    result = CliRunner().invoke(main, ["ci"])  # click's own usage error: its usage lines, then the error
    assert result.exit_code == 2 and "give --base REF" in result.output


def test_workflow_template_is_pinned_and_runs_golfkit_ci():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True] == {"pull_request": None}  # pyyaml reads the key `on` as True
    steps = workflow["jobs"]["golfkit-ci"]["steps"]
    uses = [s["uses"] for s in steps if "uses" in s]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the merge base must be reachable
    runs = [s["run"] for s in steps if "run" in s]
    torch_index = next(i for i, r in enumerate(runs) if "torch==2.13.0" in r)
    assert "download.pytorch.org/whl/cpu" in runs[torch_index]
    # golfkit from one commit of its git repository (it is not on PyPI), refused until that commit is set
    golfkit_index = next(i for i, r in enumerate(runs) if "golfkit @ git+${GOLFKIT_REPOSITORY}@${GOLFKIT_COMMIT}" in r)
    assert torch_index < golfkit_index
    install = next(s for s in steps if s.get("run") == runs[golfkit_index])
    assert re.fullmatch(r"[0-9a-f]{40}", install["env"]["GOLFKIT_COMMIT"]) and "exit 1" in runs[golfkit_index]
    assert "golfkit==" not in WORKFLOW.read_text()
    assert shlex.split(workflow_ci_step()["run"]) == ["golfkit", "ci", "--base", "$BASE_SHA", "--head", "$HEAD_SHA"]


@pytest.mark.quiet("pr.shape.bad_folder_name")
def test_pre_commit_hook_verifies_the_folders_of_changed_files(repo: Path, made_record: Path, monkeypatch):
    [hook] = yaml.safe_load(HOOKS.read_text())
    folder = add_record(repo, made_record)
    files = [f"{NEW}/submission.json", f"{NEW}/README.md"]
    assert all(re.search(hook["files"], f) for f in files)
    assert not re.search(hook["files"], "README.md")
    argv = shlex.split(hook["entry"])
    assert argv[:2] == ["golfkit", "ci"]
    monkeypatch.chdir(repo)
    ok = CliRunner().invoke(main, [*argv[1:], *files])
    assert ok.exit_code == 0, ok.output
    better_than_logged(folder)
    bad = CliRunner().invoke(main, [*argv[1:], *files])
    assert bad.exit_code == 1
    assert "claim.val_bpb.not_in_logs" in bad.output
    assert [r.path for r in verify_changed_files([repo / "README.md"], repo)] == []


@pytest.mark.fires("pr.shape.bad_folder_name")
def test_pre_commit_hook_names_a_bad_folder_name(repo: Path, made_record: Path, monkeypatch):
    [hook] = yaml.safe_load(HOOKS.read_text())
    spaced = f"{TRACK}/2026-05-01_tiny run"
    add_record(repo, made_record, spaced)
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(main, [*shlex.split(hook["entry"])[1:], f"{spaced}/README.md"])
    assert result.exit_code == 1
    assert "pr.shape.bad_folder_name" in result.output and "whitespace" in result.output
    (report,) = verify_changed_files([repo / spaced / "README.md"], repo)
    assert report.verdict == "fail" and report.findings[0].id == "pr.shape.bad_folder_name"


@pytest.mark.fires("pr.shape.too_large")
@pytest.mark.quiet("pr.shape.modifies_existing")
def test_an_oversized_folder_is_reported_not_exported(repo: Path, made_record: Path, monkeypatch):
    from golfkit.ci import pipeline

    add_record(repo, made_record)
    commit(repo)
    monkeypatch.setattr(pipeline, "MAX_RECORD_BYTES", 10_000)
    result = run_ci(repo, "main")
    assert error_ids(result) == {"pr.shape.too_large"}
    assert result.records == []
