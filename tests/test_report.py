"""Reporters and the `golfkit verify` command: formats, the JSON contract, exit codes."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_helpers import assert_usage_error
from click.testing import CliRunner
from verify_records import submission, write_record

from golfkit.cli import main
from golfkit.errors import GolfkitError
from golfkit.report import render
from golfkit.verify.api import verify_paths


@pytest.fixture
def records(tmp_path):
    good = write_record(tmp_path / "a")
    sub = submission()
    sub["val_bpb"] = 1.0
    bad = write_record(tmp_path / "b", sub=sub)
    return good, bad


@pytest.mark.fires("claim.val_bpb.not_in_logs", "claim.val_bpb.matched")
def test_json_contract(records):
    data = json.loads(render(verify_paths(list(records)), "json"))
    first, second = data["records"]
    assert set(first) == {"path", "verdict", "findings", "claims", "measured"}
    assert (first["verdict"], second["verdict"]) == ("pass", "fail")
    for finding in second["findings"]:
        assert set(finding) == {"id", "severity", "message", "file", "line", "evidence"}
    assert any(f["id"] == "claim.val_bpb.not_in_logs" and f["severity"] == "error" for f in second["findings"])
    assert second["claims"]["val_bpb"] == 1.0


def test_text_groups_by_severity(records):
    text = render(verify_paths(list(records)), "text")
    assert text.count("PASS  ") == 1 and text.count("FAIL  ") == 1
    assert "  errors:" in text and "[claim.val_bpb.not_in_logs]" in text
    assert "2 record(s): 1 pass, 1 fail" in text


def test_github_annotations(records):
    out = render(verify_paths(list(records)), "github")
    line = next(x for x in out.splitlines() if x.startswith("::error "))
    assert "title=claim.val_bpb.not_in_logs" in line and "file=" in line


def test_markdown_summary(records):
    out = render(verify_paths(list(records)), "markdown")
    assert out.startswith("## golfkit verify") and "| record | verdict |" in out and "❌ fail" in out


def test_unknown_format():
    with pytest.raises(GolfkitError):
        render([], "yaml")


@pytest.mark.fires("claim.val_bpb.not_in_logs")
def test_cli_exit_codes(records, tmp_path):
    good, bad = records
    runner = CliRunner()
    assert runner.invoke(main, ["verify", str(good)]).exit_code == 0
    result = runner.invoke(main, ["verify", "--json", str(good), str(bad)])
    assert result.exit_code == 1 and json.loads(result.output)["records"][1]["verdict"] == "fail"
    assert_usage_error(runner.invoke(main, ["verify", str(tmp_path / "nope")]))


def test_cli_walks_a_tree_and_formats(records, tmp_path):
    result = CliRunner().invoke(main, ["verify", "--format", "markdown", str(tmp_path)])
    assert result.exit_code == 1 and result.output.count("`") >= 4


@pytest.mark.fires("stats.against.summary", "stats.against.below_margin")
@pytest.mark.quiet("stats.against.too_few_seeds")
def test_cli_against_auto(tmp_path):
    old = write_record(tmp_path / "repo")
    sub = submission()
    new = old.parent / "newer"
    new.parent.mkdir(exist_ok=True)
    shutil.copytree(old, new)
    (new / "submission.json").write_text(json.dumps(sub))
    result = CliRunner().invoke(main, ["verify", "--json", "--against", "auto", str(new)])
    stats = json.loads(result.output)["records"][0]["measured"]["against"]
    assert stats["against"].endswith("synthetic") and "p_value" in stats
