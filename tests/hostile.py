"""Run golfkit on hostile input the way issue 13 demands: in a child process, under a memory cap and a
time limit, and measure what it did (exit status, output, peak resident memory).

    result = run_capped(["verify", str(folder)])
    assert_contained(result)            # no traceback, no hang, peak RSS under 1 GB, exit 0/1/2

The cap on the address space is a safety net for the machine (torch alone maps a few GB of virtual
memory, so it is set well above the RSS bound); the RSS bound is what the assertion checks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PEAK_RSS_BOUND_MB = 1024
ADDRESS_SPACE_CAP_MB = 8192
DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class CappedRun:
    args: tuple[str, ...]
    returncode: int | None  # None: killed at the time limit
    stdout: str
    stderr: str
    peak_rss_mb: float
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def run_capped(args: list[str], *, cwd: str | Path | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
               address_space_mb: int = ADDRESS_SPACE_CAP_MB, env: dict[str, str] | None = None,
               stdin: bytes = b"") -> CappedRun:
    """`python -m golfkit ARGS` in a child with RLIMIT_AS and a wall-clock limit, and its own peak RSS.

    A process exec'd from this one inherits its memory high-water mark (Linux carries the old mm's peak
    across exec, and subprocess spawns through vfork), so a test process holding 600 MB would report
    600 MB for `golfkit --help`. The launcher therefore forks once more, from its own small memory,
    execs golfkit in that grandchild and reports the grandchild's wait4 peak over a pipe."""
    full_env = dict(os.environ, **(env or {}))
    start = time.monotonic()
    cap = address_space_mb << 20
    peak_r, peak_w = os.pipe()
    launcher = (
        "import os, resource, signal, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))\n"
        "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
        "fd = int(sys.argv[1])\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.close(fd)\n"
        "    os.execv(sys.executable, [sys.executable, '-m', 'golfkit', *sys.argv[2:]])\n"
        "_, status, usage = os.wait4(pid, 0)\n"
        "os.write(fd, str(usage.ru_maxrss).encode())\n"
        "os.close(fd)\n"
        "if os.WIFSIGNALED(status):\n"
        "    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)\n"
        "    os.kill(os.getpid(), os.WTERMSIG(status))\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", launcher, str(peak_w), *args], cwd=cwd, env=full_env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, pass_fds=(peak_w,))
    os.close(peak_w)
    chunks: dict[str, list[bytes]] = {"out": [], "err": [], "peak": []}
    readers = [threading.Thread(target=_drain, args=(proc.stdout, chunks["out"]), daemon=True),
               threading.Thread(target=_drain, args=(proc.stderr, chunks["err"]), daemon=True),
               threading.Thread(target=_drain, args=(os.fdopen(peak_r, "rb"), chunks["peak"]), daemon=True)]
    for t in readers:
        t.start()
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    try:
        proc.wait(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for t in readers:
        t.join(10)
    seconds = time.monotonic() - start
    out, err = b"".join(chunks["out"]), b"".join(chunks["err"])
    peak_kb = int(b"".join(chunks["peak"]) or b"0")
    return CappedRun(tuple(args), None if timed_out else proc.returncode,
                     out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), peak_kb / 1024, seconds)


def _drain(stream, into: list[bytes]) -> None:
    into.extend(iter(lambda: stream.read(65536), b""))


def assert_contained(run: CappedRun, *, codes: tuple[int, ...] = (0, 1, 2),
                     rss_bound_mb: float = PEAK_RSS_BOUND_MB) -> None:
    """No hang, no traceback, an expected exit status, peak memory under the bound."""
    assert not run.timed_out, f"golfkit {' '.join(run.args)} hung past its time limit ({run.seconds:.0f} s)"
    assert "Traceback (most recent call last)" not in run.stderr + run.stdout, run.stderr[-3000:]
    assert run.returncode in codes, (run.returncode, run.stderr[-2000:])
    assert run.peak_rss_mb < rss_bound_mb, f"peak RSS {run.peak_rss_mb:.0f} MB >= {rss_bound_mb} MB"
