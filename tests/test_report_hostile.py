"""Hostile strings in every report format: names, messages, claims and notices that come from a record
cannot draw a line, colour a terminal, inject Markdown or HTML, or end a workflow command (issue 13)."""

from __future__ import annotations

import json
import re

import pytest
from hostile import assert_contained, run_capped
from verify_records import write_record

from golfkit.findings import error, warning
from golfkit.report import RecordReport, render, visible

# What an attacker puts in a file name (no "/" or NUL, which a name cannot hold) or a message.
FAKE_PASS = "\x1b[2K\r\x1b[32mPASS  records/fake  (0 errors, 0 warnings)\x1b[0m"
HOSTILE = [
    FAKE_PASS,
    "a\nPASS  injected line\r\n",
    "\u202etxt.exe\u202c and \u2066isolate\u2069 \u200f",
    "\x9b31m C1 CSI \x85 NEL \x7f DEL \x00 NUL \x07 BEL \u2028 LS",
    "# Heading\n## two <h1>big</h1> <a href='https://evil.example'>x</a> <img src=x onerror=alert(1)>",
    "[link](https://evil.example) ![img](https://evil.example/i.png) <https://evil.example> www.evil.example",
    "``` `` ` code `break` out ``` | pipe | \\| ~~strike~~ *em* _u_ &amp; &#60; <!-- c -->",
    "` leading and trailing `",
    "trailing backslash \\",
]
CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def report_of(value: str) -> RecordReport:
    """A record whose path, file name, message, claim and notice all hold `value`."""
    findings = [error("check.failed", f"{value} could not run", file=value, line=3),
                warning("log.not_utf8", f"{value} is not valid UTF-8", file=f"logs/{value}.log")]
    return RecordReport.of(value, findings, {"val_bpb": value}, {}, [f"notice: {value}"])


def rendered(fmt: str, value: str) -> str:
    return render([report_of(value), report_of("plain")], fmt)


# ---------------------------------------------------------------------------------------------- text


@pytest.mark.fires("check.failed", "log.not_utf8")
@pytest.mark.parametrize("value", HOSTILE)
def test_text_shows_controls_as_escapes(value):
    out = rendered("text", value)
    assert not CONTROLS.search(out), repr(out)
    assert len(out.splitlines()) == len(rendered("text", "benign").splitlines())
    assert [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))] == [
        f"FAIL  {visible(value)}  (1 errors, 1 warnings)", "FAIL  plain  (1 errors, 1 warnings)"]
    assert f"[check.failed] {visible(value)} could not run  ({visible(value)}:3)" in out


@pytest.mark.fires("check.failed", "log.not_utf8")
def test_text_escapes_are_the_visible_ones():
    out = rendered("text", FAKE_PASS + "\n\u202e")
    assert "\\x1b[2K\\r\\x1b[32mPASS  records/fake  (0 errors, 0 warnings)\\x1b[0m\\n\\u202e" in out


# ---------------------------------------------------------------------------------------------- markdown

ESCAPABLE = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")  # CommonMark: any ASCII punctuation
SYNTAX = set("<>[]()!*_#|&`\\~")


def code_spans(line: str) -> tuple[list[str], str]:
    """CommonMark code spans of a line (content, one padding space stripped) and the rest of the line with
    each span as `§` and each backslash-escaped character dropped: the markup a renderer would act on."""
    spans, rest, i = [], [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] in ESCAPABLE:
            i += 2
            continue
        if line[i] != "`":
            rest.append(line[i])
            i += 1
            continue
        opener = len(line[i:]) - len(line[i:].lstrip("`"))
        close = next((m.start() for m in re.finditer("`+", line[i + opener:]) if len(m.group()) == opener), None)
        if close is None:
            rest.append(line[i:i + opener])
            i += opener
            continue
        content = line[i + opener:i + opener + close]
        if content.startswith(" ") and content.endswith(" ") and content.strip():
            content = content[1:-1]
        spans.append(content)
        rest.append("§")
        i += opener + close + opener
    return spans, "".join(rest)


def markup(md: str) -> list[str]:
    """Per line, the Markdown syntax characters outside code spans and escapes (words dropped)."""
    return ["".join(ch for ch in code_spans(line)[1] if ch in SYNTAX or ch == "§") for line in md.splitlines()]


@pytest.mark.fires("check.failed", "log.not_utf8")
@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_escapes_html_headings_links_pipes_and_backticks(value):
    out = rendered("markdown", value)
    assert not CONTROLS.search(out), repr(out)
    # The same document shape as with a plain name: nothing the value holds acts as Markdown.
    assert markup(out) == markup(rendered("markdown", "benign"))
    spans = [span for line in out.splitlines() for span in code_spans(line)[0]]
    table_spans = [span for line in out.splitlines() if line.startswith("| ") for span in code_spans(line)[0]]
    shown = visible(value)
    assert shown.replace("|", "\\|") in table_spans  # the path cell (GFM unescapes \| in a cell)
    assert shown in spans and f"{shown}:3" in spans and f"logs/{shown}.log" in spans  # heading, places


def test_markdown_parser_of_this_test_sees_injection():
    # The check above can fail: an unescaped value changes the markup it compares.
    raw = "## golfkit verify\n- **error** `x`: <h1>big</h1> [l](u) `a` (`f`)\n"
    assert markup(raw) != markup("## golfkit verify\n- **error** `x`: big l u a (`f`)\n")
    assert code_spans("``a`b`` x `c`") == (["a`b", "c"], "§ x §")


# ---------------------------------------------------------------------------------------------- github


@pytest.mark.fires("check.failed", "log.not_utf8")
@pytest.mark.parametrize("value", HOSTILE)
def test_github_annotations_stay_one_command_per_line(value):
    out = rendered("github", value)
    assert not CONTROLS.search(out), repr(out)
    lines = out.splitlines()
    assert len(lines) == len(rendered("github", "benign").splitlines())
    assert all(line.startswith("::") for line in lines)
    error_line = next(line for line in lines if line.startswith("::error "))
    props, message = error_line[len("::error "):].split("::", 1)
    assert props.count(",") == 2 and props.count(":") == 0  # file=, line=, title= and no more
    assert "\n" not in message and "\r" not in message


@pytest.mark.fires("check.failed")
def test_github_percent_encodes_as_the_runner_decodes():
    report = RecordReport.of("r,1:%", [error("check.failed", "50% done\r\nnext", file="a,b:c.log")], {}, {})
    line = render([report], "github").splitlines()[0]
    assert line == "::error file=r%2C1%3A%25/a%2Cb%3Ac.log,title=check.failed::50%25 done%0D%0Anext"


# ---------------------------------------------------------------------------------------------- json


@pytest.mark.fires("check.failed", "log.not_utf8")
@pytest.mark.parametrize("value", HOSTILE)
def test_json_keeps_every_string_exact(value):
    data = json.loads(rendered("json", value))
    first = data["records"][0]
    assert first["path"] == value and first["claims"]["val_bpb"] == value
    assert [f["file"] for f in first["findings"]] == [value, f"logs/{value}.log"]
    assert data["notices"] == [f"notice: {value}", "notice: plain"]


# ---------------------------------------------------------------------------------------------- end to end

NAME = "\x1b[2K\r\x1b[32mPASS  fake\x1b[0m\n# Injected <h1>x<br> [l](https:\\\\e.example) `` ` |.log"


def hostile_record(tmp_path):
    """A record whose folder and one log carry escapes, a newline, HTML and Markdown in their names."""
    folder = write_record(tmp_path)
    hostile = folder.with_name("rec\x1b[31m<b>|`")
    folder.rename(hostile)
    # a log that is an error whatever its role (a traceback alone now reads as an unclaimed exploration)
    (hostile / NAME).write_bytes(b"\x00\x01 binary, not a log\n")
    return hostile


@pytest.mark.parametrize("fmt", ["text", "markdown", "github", "json"])
def test_verify_of_a_hostile_record_is_escaped_end_to_end(tmp_path, fmt):
    folder = hostile_record(tmp_path)
    run = run_capped(["verify", "--format", fmt, str(folder)], timeout_s=120)
    assert_contained(run, codes=(1,))
    out = run.stdout
    if fmt == "json":  # exact: the names come back as they are
        (record,) = json.loads(out)["records"]
        assert record["path"] == str(folder) and NAME in {f["file"] for f in record["findings"]}
        return
    assert not CONTROLS.search(out), repr(out)
    lines = out.splitlines()
    if fmt == "text":
        assert [line for line in lines if line.startswith(("PASS", "FAIL"))] == [
            f"FAIL  {visible(folder)}  (1 errors, 0 warnings)"]
        assert f"[log.binary] {visible(NAME)} holds binary data" in out
    elif fmt == "markdown":
        assert [line for line in lines if line.startswith("#")] == ["## golfkit verify", f"### `` {visible(folder)} ``"]
        assert all("<" not in shape and "[" not in shape for shape in markup(out))
        assert visible(NAME) in {span for line in lines for span in code_spans(line)[0]}
    else:
        assert len(lines) == 2 and all(line.startswith("::") for line in lines)
        assert lines[0].startswith("::error file=") and "%0A# Injected" in lines[0]
