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
from golfkit.findings import error, info, warning
from golfkit.report import RecordReport, notices, render
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
    assert list(data) == ["notices", "records"] and data["notices"] == []
    first, second = data["records"]
    assert set(first) == {"path", "verdict", "findings", "claims", "measured", "notices"}
    assert first["notices"] == []
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


# ---------------------------------------------------------------------------------------------- notices

UNCONFINED = "the record's code ran unconfined (no sandbox on this machine)"


def noticed() -> list[RecordReport]:
    """Two records whose notices overlap: the union is [UNCONFINED, "second"], in that order."""
    first = RecordReport.of("a", [warning("log.not_utf8", "a.log is not valid UTF-8", file="a.log")], {}, {},
                            [UNCONFINED])
    second = RecordReport.of("b", [info("log.copy", "b.log is a copy")], {}, {}, ["second", UNCONFINED])
    return [first, second]


@pytest.mark.fires("log.not_utf8", "log.copy")
def test_notices_are_the_union_in_order():
    reports = noticed()
    assert notices(reports) == [UNCONFINED, "second"]
    assert notices([]) == [] and RecordReport.of("c", [], {}, {}).notices == []


@pytest.mark.fires("log.not_utf8", "log.copy")
def test_text_notices_come_first():
    lines = render(noticed(), "text").splitlines()
    assert lines[:3] == [f"NOTICE: {UNCONFINED}", "NOTICE: second", ""]
    assert lines[3].startswith("PASS  a") and sum(line.startswith("NOTICE") for line in lines) == 2


@pytest.mark.fires("log.not_utf8", "log.copy")
def test_markdown_notices_come_first():
    lines = render(noticed(), "markdown").splitlines()
    assert lines[0] == "> **Warning:** the record\\'s code ran unconfined \\(no sandbox on this machine\\)"
    assert lines[2] == "> **Warning:** second"
    assert lines.index("## golfkit verify") == 4


@pytest.mark.fires("log.not_utf8", "log.copy")
def test_github_notices_come_first():
    lines = render(noticed(), "github").splitlines()
    assert lines[:2] == [f"::warning title=golfkit::{UNCONFINED}", "::warning title=golfkit::second"]
    assert lines[2].startswith("::warning file=a/a.log,title=log.not_utf8::")


@pytest.mark.fires("log.not_utf8", "log.copy")
def test_json_notices_at_the_top_and_per_record():
    data = json.loads(render(noticed(), "json"))
    assert list(data) == ["notices", "records"] and data["notices"] == [UNCONFINED, "second"]
    assert [r["notices"] for r in data["records"]] == [[UNCONFINED], ["second", UNCONFINED]]


@pytest.mark.fires("claim.val_bpb.not_in_logs")
def test_no_notice_no_notice_lines(records):
    reports = verify_paths(list(records))
    assert render(reports, "text").startswith("PASS  ")
    assert render(reports, "markdown").startswith("## golfkit verify")
    assert "golfkit::" not in render(reports, "github")


@pytest.mark.fires("check.failed")
def test_notices_are_escaped_in_every_format():
    report = RecordReport.of("r", [error("check.failed", "x")], {}, {}, ["a\x1b[32mPASS\n<h1>b</h1>\r%"])
    assert render([report], "text").splitlines()[0] == "NOTICE: a\\x1b[32mPASS\\n<h1>b</h1>\\r%"
    assert render([report], "markdown").splitlines()[0] == (
        "> **Warning:** a\\\\x1b\\[32mPASS\\\\n\\<h1\\>b\\<\\/h1\\>\\\\r\\%")
    assert render([report], "github").splitlines()[0] == "::warning title=golfkit::a\\x1b[32mPASS%0A<h1>b</h1>%0D%25"
    assert json.loads(render([report], "json"))["notices"] == ["a\x1b[32mPASS\n<h1>b</h1>\r%"]
