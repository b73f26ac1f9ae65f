"""Hostile input: bad JSON, binary and huge logs, symlinks out, decompression bombs, fuzzing."""

from __future__ import annotations

import base64
import builtins
import io
import json
import lzma
import os
import shutil
import socket
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from hostile import assert_contained, run_capped
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from verify_records import write_record

from golfkit.cli import main
from golfkit.errors import GolfkitError
from golfkit.verify import api
from golfkit.verify.api import verify_paths
from golfkit.verify.checks import CHECKS
from golfkit.verify.logparse import parse_log_bytes, parse_log_text
from golfkit.verify.record import read_record
from golfkit.verify.submission import load_submission_bytes, normalise


def found(folder) -> set[str]:
    (report,) = verify_paths([folder])
    return {f.id for f in report.findings}


def make_unreadable(monkeypatch: pytest.MonkeyPatch, path) -> None:
    """Opening `path` fails as if it had no read permission (chmod 000 does not stop root, who runs CI)."""
    denied = os.path.abspath(path)
    real_os_open, real_open = os.open, io.open

    def refuse(file) -> None:
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == denied:
            raise PermissionError(13, "Permission denied", str(file))

    def os_open(file, *args, **kw):
        refuse(file)
        return real_os_open(file, *args, **kw)

    def open_(file, *args, **kw):
        refuse(file)
        return real_open(file, *args, **kw)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(builtins, "open", open_)


@pytest.mark.parametrize("name", [
    pytest.param("README.md", marks=pytest.mark.fires("files.readme.unreadable")),
    pytest.param("train_seed42.log", marks=pytest.mark.fires("log.unreadable")),
    pytest.param("train_gpt.py", marks=pytest.mark.fires("code.script.unreadable")),
])
def test_unreadable_file_is_a_finding(tmp_path, monkeypatch, name):
    folder = write_record(tmp_path)
    make_unreadable(monkeypatch, folder / name)
    (report,) = verify_paths([folder])
    assert report.verdict == "fail"
    assert [f.file for f in report.findings if f.id.endswith(".unreadable")] == [name]


@pytest.mark.parametrize("name, size", [
    pytest.param("README.md", (1 << 20) + 1, marks=pytest.mark.fires("files.readme.too_large")),
    pytest.param("train_gpt.py", (8 << 20) + 1, marks=pytest.mark.fires("code.script.too_large")),
])
def test_oversized_readme_or_script_is_not_read(tmp_path, name, size):
    folder = write_record(tmp_path)
    os.truncate(folder / name, size)  # sparse: nothing is written
    assert any(f.id.endswith(".too_large") and f.file == name for f in verify_paths([folder])[0].findings)


@pytest.mark.fires("files.too_many")
def test_a_folder_of_thousands_of_files_is_cut_short(tmp_path):
    folder = write_record(tmp_path)
    (folder / "cache").mkdir()
    for i in range(2001):
        (folder / "cache" / f"{i}.bin").touch()
    assert "files.too_many" in found(folder)


@pytest.mark.fires("log.seed.conflict")
def test_log_named_for_one_seed_that_ran_another(tmp_path):
    folder = write_record(tmp_path)
    path = folder / "train_seed42.log"
    path.write_text(path.read_text().replace("seed:42", "seed:7"))
    assert "log.seed.conflict" in found(folder)


@pytest.mark.fires("log.copy")
@pytest.mark.quiet("seeds.duplicate")
def test_byte_copy_of_a_log_is_counted_once(tmp_path):
    folder = write_record(tmp_path)
    (folder / "logs").mkdir()
    (folder / "logs" / "train_seed42.log").write_bytes((folder / "train_seed42.log").read_bytes())
    (report,) = verify_paths([folder])
    assert report.verdict == "pass" and "log.copy" in {f.id for f in report.findings}


@pytest.mark.fires("files.symlink.outside", "files.readme.unreadable", "files.submission.invalid",
                   "log.unreadable", "code.script.too_large")
def test_each_check_reports_the_read_problems_of_its_prefix(tmp_path, monkeypatch):
    # The reader records problems as data; the check registered for a prefix turns its own into findings.
    folder = write_record(tmp_path / "r")
    (tmp_path / "outside.log").write_text("x\n")
    (folder / "train_seed7.log").symlink_to(tmp_path / "outside.log")
    (folder / "submission.json").write_text("{")
    (folder / "helper.py").touch()
    os.truncate(folder / "helper.py", (8 << 20) + 1)
    make_unreadable(monkeypatch, folder / "README.md")
    make_unreadable(monkeypatch, folder / "train_seed42.log")
    evidence = read_record(folder)
    ids = []
    for prefix, check in CHECKS:
        found = [f.id for f in check(evidence)]
        assert all(ident.startswith(prefix) for ident in found), (prefix, found)
        ids += found
    assert {"files.symlink.outside", "files.readme.unreadable", "files.submission.invalid", "log.unreadable",
            "code.script.too_large"} <= set(ids)


@pytest.mark.fires("files.submission.invalid")
@pytest.mark.quiet("files.submission.missing")
def test_malformed_json_is_a_finding(tmp_path):
    folder = write_record(tmp_path)
    (folder / "submission.json").write_text('{"val_bpb": 1.2,,}')
    assert "files.submission.invalid" in found(folder)


@pytest.mark.fires("files.submission.invalid")
def test_huge_json_is_refused(tmp_path):
    folder = write_record(tmp_path)
    (folder / "submission.json").write_text('{"x": "' + "a" * (2 << 20) + '"}')
    assert "files.submission.invalid" in found(folder)


@pytest.mark.fires("files.submission.invalid")
def test_deeply_nested_json_does_not_crash(tmp_path):
    folder = write_record(tmp_path)
    (folder / "submission.json").write_text("[" * 100000 + "]" * 100000)
    assert "files.submission.invalid" in found(folder)


@pytest.mark.fires("log.binary")
def test_binary_log(tmp_path):
    folder = write_record(tmp_path)
    (folder / "train_extra.log").write_bytes(os.urandom(4096) + b"\x00" * 100)
    assert "log.binary" in found(folder)


@pytest.mark.fires("log.not_utf8")
@pytest.mark.quiet("log.binary")
def test_non_utf8_log(tmp_path):
    folder = write_record(tmp_path)
    path = folder / "train_seed42.log"
    path.write_bytes(b"\xff\xfe odd bytes\n" + path.read_bytes())
    ids = found(folder)
    assert "log.not_utf8" in ids and "claim.seed_val_bpb.matched" in ids


@pytest.mark.fires("log.too_large")
def test_one_gigabyte_log_is_read_from_its_tail(tmp_path):
    folder = write_record(tmp_path)
    path = folder / "train_seed42.log"
    tail = path.read_bytes()
    with path.open("wb") as handle:  # sparse: no gigabyte is written to disk
        handle.seek((1 << 30) - len(tail))
        handle.write(tail)
    (report,) = verify_paths([folder])
    ids = {f.id for f in report.findings}
    assert "log.too_large" in ids and "claim.seed_val_bpb.matched" in ids


@pytest.mark.fires("files.symlink.outside")
def test_symlink_out_of_the_folder_is_not_followed(tmp_path):
    secret = tmp_path / "secret.log"
    secret.write_text("final_int8_zlib_roundtrip val_loss:1.0 val_bpb:1.0\n")
    folder = write_record(tmp_path / "r")
    (folder / "train_seed7.log").symlink_to(secret)
    (report,) = verify_paths([folder])
    assert "files.symlink.outside" in {f.id for f in report.findings}
    assert all(log["path"] != "train_seed7.log" for log in report.measured["logs"])


@pytest.mark.fires("code.wrapper.undecodable")
@pytest.mark.quiet("code.wrapper.decoded")
def test_wrapper_decoding_past_64_mib_is_undecodable(tmp_path):
    folder = write_record(tmp_path)
    bomb = base64.b85encode(lzma.compress(b"#" * (80 << 20))).decode()
    (folder / "train_gpt.py").write_text(f"import lzma as L,base64 as B\nexec(L.decompress(B.b85decode({bomb!r})))\n")
    assert "code.wrapper.undecodable" in found(folder)


@pytest.mark.fires("code.bytes_code.mismatch")
def test_wrapper_bomb_is_refused_without_running(tmp_path):
    folder = write_record(tmp_path)
    bomb = base64.b85encode(lzma.compress(b"#" * (80 << 20))).decode()
    marker = tmp_path / "ran"
    (folder / "train_gpt.py").write_text(
        f"import lzma as L,base64 as B\nopen({str(marker)!r},'w')\nexec(L.decompress(B.b85decode({bomb!r})))\n")
    (folder / "helper.py").write_text(f"open({str(marker)!r}, 'w')\n")
    ids = found(folder)
    assert not marker.exists()
    assert "code.bytes_code.mismatch" in ids


@pytest.mark.fires("code.wrapper.decoded", "code.sibling.counted", "code.sibling.data_file")
@pytest.mark.quiet("code.wrapper.undecodable")
def test_wrapper_is_decoded_and_its_siblings_found(tmp_path):
    folder = write_record(tmp_path)
    inner = "import helper\nprint(open('notes.bin','rb').read())\n"
    payload = base64.b85encode(lzma.compress(inner.encode())).decode()
    (folder / "train_gpt.py").write_text(f"import lzma as L,base64 as B\nexec(L.decompress(B.b85decode({payload!r})))\n")
    (folder / "helper.py").write_text("X = 1\n")
    (folder / "notes.bin").write_bytes(b"1234")
    (report,) = verify_paths([folder])
    ids = {f.id for f in report.findings}
    assert {"code.wrapper.decoded", "code.sibling.counted", "code.sibling.data_file"} <= ids


def test_missing_path_is_a_golfkit_error(tmp_path):
    try:
        verify_paths([tmp_path / "nope"])
    except GolfkitError as exc:
        assert "no such file" in str(exc)
    else:
        raise AssertionError("expected GolfkitError")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.text(max_size=60),
    st.sampled_from(["final_int8_zlib_roundtrip_exact val_loss:2.0 val_bpb:1.2", "step:5/10 val_loss:3 val_bpb:2",
                     "=" * 100, "Running Python 3", "Hyperparameters:", "  seed: 3", "seed:4",
                     "stopping_early: wallclock_cap train_time:600100ms step:5/10", "Total submission size x: 9 bytes",
                     "Traceback (most recent call last):", "val_tokens: 12", "1776142348.135 val_loss:1 val_bpb:1"]),
), max_size=40))
def test_log_parser_never_crashes(lines):
    log = parse_log_text("\n".join(lines), "train_seed1.log")
    assert log.runs and log.seed == 1


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_log_bytes_never_crash(data):
    parse_log_bytes(data, "x.log")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["val_bpb", "val_loss", "seeds", "seed_results", "track", "artifact_bytes", "code_bytes",
                         "mean_val_bpb", "data", "name", "42", "x"]), inner, max_size=5),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_normaliser_never_crashes(value):
    data = json.dumps(value).encode()
    try:
        normalise(load_submission_bytes(data, "submission.json"), "submission.json")
    except GolfkitError:
        pass


# ---------------------------------------------------------------------------------------------- regular files only


@pytest.mark.fires("files.not_regular")
@pytest.mark.quiet("files.symlink.inside", "files.symlink.outside")
def test_a_socket_among_the_files_is_a_finding_and_never_opened(tmp_path):
    folder = write_record(tmp_path)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(folder / "train_seed7.log"))
        (report,) = verify_paths([folder])
    (finding,) = [f for f in report.findings if f.id == "files.not_regular"]
    assert finding.file == "train_seed7.log" and "socket" in finding.message and report.verdict == "fail"
    assert all(log["path"] != "train_seed7.log" for log in report.measured["logs"])


@pytest.mark.fires("files.not_regular")
def test_a_device_node_is_a_finding_and_never_opened(tmp_path):
    folder = write_record(tmp_path)
    try:
        os.mknod(folder / "zero.log", 0o644 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero's numbers
    except PermissionError:
        pytest.skip("mknod needs root (CI runs as root)")
    (report,) = verify_paths([folder])
    (finding,) = [f for f in report.findings if f.id == "files.not_regular"]
    assert finding.file == "zero.log" and "character device" in finding.message


@pytest.mark.quiet("files.not_regular", "files.symlink.inside")
def test_regular_files_only_stays_quiet_on_a_clean_record(tmp_path):
    (report,) = verify_paths([write_record(tmp_path)])
    assert report.verdict == "pass"


def test_fifos_in_a_record_never_hang_verify(tmp_path):
    # In a child with a time limit: were a FIFO opened for reading, verify would wait for a writer forever.
    folder = write_record(tmp_path)
    (folder / "logs").mkdir()
    for name in ("train_seed7.log", "notes.txt", "logs/train.txt", "helper.py"):
        os.mkfifo(folder / name)
    run = run_capped(["verify", "--json", str(folder)], timeout_s=60)
    assert_contained(run, codes=(1,))
    (record,) = json.loads(run.stdout)["records"]
    flagged = {f["file"]: f["message"] for f in record["findings"] if f["id"] == "files.not_regular"}
    assert set(flagged) == {"train_seed7.log", "notes.txt", "logs/train.txt", "helper.py"}
    assert all("FIFO" in message for message in flagged.values())


@pytest.mark.fires("files.symlink.inside")
@pytest.mark.quiet("files.symlink.outside", "log.copy")
def test_a_symlink_inside_the_folder_is_reported_and_not_followed(tmp_path):
    folder = write_record(tmp_path)
    (folder / "again_seed42.log").symlink_to("train_seed42.log")
    (folder / "logs").symlink_to(".", target_is_directory=True)
    (folder / "gone.log").symlink_to("never-there.log")
    (folder / "pipe").symlink_to("fifo")
    os.mkfifo(folder / "fifo")
    (report,) = verify_paths([folder])
    inside = {f.file: f.evidence["target"] for f in report.findings if f.id == "files.symlink.inside"}
    assert inside == {"again_seed42.log": "train_seed42.log", "logs": ".", "gone.log": "never-there.log",
                      "pipe": "fifo"}
    assert [f.file for f in report.findings if f.id == "files.not_regular"] == ["fifo"]
    assert sorted(log["path"] for log in report.measured["logs"]) == [
        "train_seed1337.log", "train_seed2025.log", "train_seed42.log"]


@pytest.mark.fires("files.symlink.outside")
@pytest.mark.quiet("files.symlink.inside")
def test_a_symlink_out_of_the_folder_is_reported_once(tmp_path):
    folder = write_record(tmp_path / "r")
    (folder / "zero.log").symlink_to("/dev/zero")
    (folder / "up").symlink_to(tmp_path, target_is_directory=True)
    (report,) = verify_paths([folder])
    assert sorted(f.file for f in report.findings if f.id.startswith("files.symlink")) == ["up", "zero.log"]


# ---------------------------------------------------------------------------------------------- one record fails


def three_records(tmp_path):
    """Three clean records side by side in one track folder (a, b, c)."""
    first = write_record(tmp_path)
    track = first.parent
    for name in ("a", "b", "c"):
        shutil.copytree(first, track / name)
    shutil.rmtree(first)
    return track


@pytest.mark.fires("verify.record.failed")
@pytest.mark.parametrize("failure", [RuntimeError("boom"), MemoryError(), RecursionError("too deep"),
                                     ValueError("Exceeds the limit (4300 digits) " + "9" * 5000),
                                     GolfkitError("b: cannot open record folder (Permission denied)")])
def test_one_record_that_raises_does_not_stop_the_others(tmp_path, monkeypatch, failure):
    track = three_records(tmp_path)
    real = api.read_record

    def read(folder):
        if folder.name == "b":
            raise failure
        return real(folder)

    monkeypatch.setattr(api, "read_record", read)
    reports = verify_paths([track])
    assert [(Path(r.path).name, r.verdict) for r in reports] == [("a", "pass"), ("b", "fail"), ("c", "pass")]
    (finding,) = reports[1].findings
    assert finding.id == "verify.record.failed" and str(track / "b") in finding.message
    assert finding.evidence["exception"] == type(failure).__name__
    assert len(finding.message) < 600 and "the other records were verified" in finding.message
    if not isinstance(failure, GolfkitError):
        assert type(failure).__name__ in finding.message and "golfkit bug" in finding.message


@pytest.mark.fires("verify.record.failed")
def test_a_check_that_raises_fails_its_record_only(tmp_path, monkeypatch):
    track = three_records(tmp_path)
    real = api.run_checks

    def checks(evidence):
        if evidence.root.name == "c":
            raise KeyError("seed")
        return real(evidence)

    monkeypatch.setattr(api, "run_checks", checks)
    result = CliRunner().invoke(main, ["verify", "--json", str(track)])
    assert result.exit_code == 1, result.output
    records = json.loads(result.output)["records"]
    assert [r["verdict"] for r in records] == ["pass", "pass", "fail"]
    assert records[2]["findings"][0]["message"].startswith(f"{track / 'c'}: verify stopped on this record (KeyError")


@pytest.mark.fires("check.failed")
@pytest.mark.quiet("verify.record.failed")
def test_an_extra_check_that_raises_keeps_the_built_in_findings(tmp_path):
    def exploding(evidence):
        raise ZeroDivisionError("division by zero")

    (report,) = verify_paths([write_record(tmp_path)], extra_checks=[exploding])
    failed = [f for f in report.findings if f.id == "check.failed"]
    assert len(failed) == 1 and "exploding stopped (ZeroDivisionError" in failed[0].message
    assert any(f.id == "claim.val_bpb.matched" for f in report.findings)


@pytest.mark.quiet("verify.record.failed")
def test_records_that_read_fine_get_no_failure_finding(tmp_path):
    reports = verify_paths([three_records(tmp_path)])
    assert [r.verdict for r in reports] == ["pass", "pass", "pass"]
