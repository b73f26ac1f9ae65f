"""Run the probe child in a box: its own process group, limits on CPU time, address space and file size,
a scrubbed environment, no network (a network namespace where `unshare` allows one, and a socket guard
inside the child in any case), and a wall-clock timeout after which the whole group is killed.

Parent and child exchange JSON files only; whatever the child prints is kept as a tail for the report.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHILD = Path(__file__).with_name("child.py")
OUTPUT_TAIL = 4000
MAX_FILE_BYTES = 512 << 20


@dataclass(frozen=True)
class SandboxResult:
    """How the child ended. `status` is the child's own (ok, error, setup, memory, network) when it wrote a
    result, else timeout, cpu, killed or crashed; `result` is its JSON document when there is one."""

    status: str
    result: dict[str, Any] | None
    returncode: int | None
    seconds: float
    output_tail: str
    isolated_network: bool


@functools.lru_cache(maxsize=1)
def can_unshare_network() -> bool:
    """True when `unshare -rn` works here (unprivileged user and network namespaces)."""
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        return subprocess.run([exe, "-rn", "true"], check=False, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def scrubbed_env(workdir: Path, extra: dict[str, str]) -> dict[str, str]:
    """Only what the child needs: no tokens, no proxies, no CUDA, one thread."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",
        "CUDA_VISIBLE_DEVICES": "",
    }
    env.update(extra)
    return env


def run_child(request: dict[str, Any], workdir: Path, env: dict[str, str], timeout_s: float,
              memory_mb: int) -> SandboxResult:
    """Write `request`, run the child on it inside `workdir`, and read back its result."""
    request_path = workdir / "probe_request.json"
    result_path = workdir / "probe_result.json"
    log_path = workdir / "probe_output.txt"
    # The child sets these limits on itself first thing, before it imports anything of the record's.
    limits = {"cpu_s": int(timeout_s) + 1, "memory_mb": memory_mb, "file_bytes": MAX_FILE_BYTES}
    request = dict(request, result_path=str(result_path), limits=limits)
    request_path.write_text(json.dumps(request))
    argv = [sys.executable, "-I", str(CHILD), str(request_path)]
    isolated = can_unshare_network()
    if isolated:
        argv = [shutil.which("unshare") or "unshare", "-rn", *argv]
    start = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=workdir, env=scrubbed_env(workdir, env), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
    seconds = time.monotonic() - start
    tail = _tail(log_path)
    result = _read_result(result_path)
    rc = proc.returncode
    if result is not None and "status" in result:
        status = result["status"]
    elif timed_out:
        status = "timeout"
    elif rc is not None and rc < 0 and -rc == signal.SIGXCPU:
        status = "cpu"
    elif rc is not None and rc < 0 and -rc == signal.SIGKILL:
        status = "killed"
    elif "MemoryError" in tail or "can't allocate memory" in tail:
        status = "memory"
    else:
        status = "crashed"
    return SandboxResult(status, result, rc, seconds, tail, isolated)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - OUTPUT_TAIL))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
