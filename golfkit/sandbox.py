"""Containment for submitted code: every path that runs a record's code (probe, eval --trust-code,
verify --probes/--rerun --trust-code) runs it through `run_contained`.

Confined (the default) means bubblewrap (`bwrap`): new mount, PID, IPC, UTS and network namespaces
(and a user namespace when golfkit itself is not root); a root built from read-only binds of only
what the interpreter needs (the system's /usr and libraries, the Python prefixes, whatever the caller
names); a fresh /proc, a minimal /dev; /tmp and the working folders are folders of golfkit's own
temporary directory, the only writable places. The project, the home folders, the host /tmp (so no
host Unix socket), /etc beyond the dynamic loader's files: none of it exists inside. Run as root,
golfkit drops the code to the unprivileged uid 65534 (`setpriv`) after the mounts; the sandbox
dies with golfkit, and when its first process ends the kernel ends every other one (a PID namespace),
daemons and forks included.

Limits: per process (prlimit: address space, CPU time, file size, no core files, process count) and
on the whole process tree, which forking cannot escape: a cgroup (v1 or v2) with a memory and a pids
limit where one can be made, and in any case a watcher thread that sums the tree's resident memory,
counts its processes and kills the sandbox past either bound or past the wall-clock limit.

Results come back over a pipe the parent created (`channel_fd`), never through a file the code
could write; what the code prints is kept as a bounded tail. The Python-level socket guard some
children install is a diagnostic, not a boundary: the network namespace is.

No sandbox, no run: when bwrap or the namespaces are missing, `SandboxUnavailable` (exit 2) names
the package, unless the caller asked to run unconfined (the reports then say so at their top).
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from golfkit.errors import GolfkitError

INSIDE_ROOT = "/sandbox"
RO_ROOT = "/sandbox/ro"  # where `binds` targets go
NOBODY = 65534
OUTPUT_TAIL_BYTES = 8000
POLL_S = 0.05
TASK_MARGIN = 64  # threads of the interpreter (torch's pools) on top of the processes bound
PAGE = os.sysconf("SC_PAGE_SIZE")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`), or pass --unconfined to run "
                "the record's code without containment on a machine you can afford to lose")
UNCONFINED_NOTICE = ("the record's code ran UNCONFINED (--unconfined): no sandbox, so it could read and write "
                     "anything this user can; trust these results only as far as you trust the code")
_counter = itertools.count()


class SandboxUnavailable(GolfkitError):
    """bubblewrap or the kernel's namespaces are missing: submitted code is not run."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one contained run. `memory_mb` bounds the whole process tree's resident memory;
    each process's address space is bounded by `address_space_mb` (virtual: torch alone maps a few GB)."""

    wall_s: float = 300.0
    memory_mb: int = 4096
    address_space_mb: int | None = None  # default: memory_mb + 4096
    cpu_s: int | None = None  # default: wall_s + 1
    file_bytes: int = 512 << 20
    processes: int = 256  # tasks (threads count) of the sandbox user, and the pids cgroup

    def address_space(self) -> int:
        return (self.address_space_mb or self.memory_mb + 4096) << 20

    def cpu(self) -> int:
        return self.cpu_s or int(self.wall_s) + 1


@dataclass
class Outcome:
    """How a contained run ended. `status`: exited (see returncode), timeout, memory (the tree's bound),
    processes (the process bound), overflow (the channel sent more than allowed), or signal."""

    status: str
    returncode: int | None
    seconds: float
    output_tail: str
    channel: bytes
    confined: bool
    peak_memory_mb: float = 0.0
    peak_processes: int = 0
    cgroup: str | None = None
    detail: str = ""

    def describe(self) -> dict[str, object]:
        return {"status": self.status, "returncode": self.returncode, "seconds": round(self.seconds, 3),
                "confined": self.confined, "peak_memory_mb": round(self.peak_memory_mb, 1),
                "peak_processes": self.peak_processes, "tree_limit": self.cgroup or "watcher"}


@dataclass
class Box:
    """The folders of one contained run, made under a private temporary directory: `work` (the
    record's working copy), `data` (golfkit's inputs and scratch), both writable; `inputs`, read-only
    inside (the request, golfkit's child program). Inside the sandbox they sit under /sandbox;
    `inside(path)` maps a host path to the path the code sees."""

    root: Path
    confined: bool
    work: Path = field(init=False)
    data: Path = field(init=False)
    inputs: Path = field(init=False)
    tmp: Path = field(init=False)

    def __post_init__(self) -> None:
        self.work, self.data, self.inputs, self.tmp = (self.root / n for n in ("work", "data", "in", "tmp"))
        for d in (self.work, self.data, self.inputs, self.tmp):
            d.mkdir(mode=0o755)

    def inside(self, path: Path | str) -> str:
        path = Path(path)
        if not self.confined:
            return str(path)
        rel = path.relative_to(self.root)
        return f"{INSIDE_ROOT}/{rel}" if str(rel) != "." else INSIDE_ROOT

    def hand_over(self) -> None:
        """Make the writable folders the sandbox user's (when golfkit runs as root and drops to 65534)."""
        if self.confined and os.geteuid() == 0:
            for top in (self.work, self.data, self.tmp):
                for path in [top, *top.rglob("*")]:
                    os.lchown(path, NOBODY, NOBODY)


def unavailable_reason() -> str | None:
    """Why confined runs are impossible here (None when bwrap works)."""
    return _probe_bwrap()


@functools.lru_cache(maxsize=1)
def _probe_bwrap() -> str | None:
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is missing, so golfkit cannot drop the code to an unprivileged uid"
    try:
        proc = subprocess.run([*_bwrap_argv([], [], None), "/bin/true" if Path("/bin/true").exists() else "true"],
                              check=False, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not run ({exc})"
    if proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"bwrap cannot create namespaces here ({why[-1] if why else f'exit {proc.returncode}'})"
    return None


def require(unconfined: bool) -> None:
    """Raise SandboxUnavailable unless a confined run is possible or the user chose to run unconfined."""
    if unconfined:
        return
    reason = unavailable_reason()
    if reason is not None:
        raise SandboxUnavailable(f"cannot run the record's code contained: {reason}; {INSTALL_HINT}")


def python_roots() -> list[Path]:
    """What the interpreter needs: its prefixes (a virtual environment and the Python it was made from)."""
    roots = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    roots.add(Path(sys.prefix))  # the venv's own path too: its python symlink and pyvenv.cfg live there
    return sorted(roots)


def _bwrap_argv(readonly: list[Path], devices: list[str], box: Box | None,
                binds: list[tuple[Path, str]] = ()) -> list[str]:
    argv = [shutil.which("bwrap") or "bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "golfkit-sandbox"]
    root = os.geteuid() == 0
    if root:
        argv += ["--cap-add", "CAP_SETUID,CAP_SETGID"]  # for setpriv alone, which drops them at once
    else:
        argv += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    made: set[str] = set()

    def parents(target: str) -> None:
        parts = Path(target).parts
        for i in range(2, len(parts)):
            p = str(Path(*parts[:i]))
            if p not in made:
                made.add(p)
                argv.extend(["--perms", "0755", "--dir", p])

    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            argv.extend(["--symlink", os.readlink(d), d])
        elif os.path.isdir(d):
            argv.extend(["--ro-bind", d, d])
    for f in ETC_FILES:
        if os.path.exists(f):
            parents(f)
            argv.extend(["--ro-bind", f, f])
    argv += ["--proc", "/proc", "--dev", "/dev"]
    for dev in devices:
        argv.extend(["--dev-bind", dev, dev])
    for path in readonly:
        s = str(path)
        if s.startswith(INSIDE_ROOT) or not os.path.exists(s):
            continue
        parents(s)
        argv.extend(["--ro-bind", s, s])
    if box is not None:
        argv += ["--bind", str(box.tmp), "/tmp", "--perms", "0755", "--dir", INSIDE_ROOT,
                 "--bind", str(box.work), box.inside(box.work), "--bind", str(box.data), box.inside(box.data),
                 "--ro-bind", str(box.inputs), box.inside(box.inputs)]
        for source, target in binds:  # read-only inputs (artifacts, shards, tokenizers) under RO_ROOT
            parents(target)
            argv.extend(["--ro-bind", str(source), target])
        argv += ["--chdir", box.inside(box.work)]
    else:
        argv += ["--tmpfs", "/tmp"]
    argv.append("--")
    if root:
        argv += [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                 "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return argv


# ----------------------------------------------------------------------------- tree limits


class _Cgroup:
    """A memory and pids cgroup for one run (v2 unified, else v1), or nothing when none can be made."""

    def __init__(self, memory_bytes: int, processes: int) -> None:
        self.dirs: list[Path] = []
        self.kind: str | None = None
        name = f"golfkit-{os.getpid()}-{next(_counter)}"
        try:
            self._make(name, memory_bytes, processes)
        except OSError:
            self.remove()
            self.dirs, self.kind = [], None

    def _make(self, name: str, memory_bytes: int, processes: int) -> None:
        own = {}
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(","):
                own[c] = path
        unified = Path("/sys/fs/cgroup")
        if "" in own and (unified / "cgroup.controllers").exists():
            base = unified / own[""].lstrip("/")
            enabled = (base / "cgroup.subtree_control").read_text().split()
            if "memory" in enabled and "pids" in enabled:
                d = base / name
                d.mkdir()
                self.dirs = [d]
                (d / "memory.max").write_text(str(memory_bytes))
                (d / "memory.swap.max").write_text("0") if (d / "memory.swap.max").exists() else None
                (d / "pids.max").write_text(str(processes))
                self.kind = "cgroup v2"
                return
        mem, pids = unified / "memory", unified / "pids"
        if "memory" in own and "pids" in own and mem.is_dir() and pids.is_dir():
            dm = mem / own["memory"].lstrip("/") / name
            dp = pids / own["pids"].lstrip("/") / name
            dm.mkdir()
            self.dirs.append(dm)
            dp.mkdir()
            self.dirs.append(dp)
            (dm / "memory.limit_in_bytes").write_text(str(memory_bytes))
            (dp / "pids.max").write_text(str(processes))
            self.kind = "cgroup v1"

    def join_command(self) -> str:
        """Shell text that moves the shell itself into the cgroup before it execs the sandbox."""
        return "".join(f"echo $$ > {d / 'cgroup.procs'} && " for d in self.dirs)

    def memory_bytes(self) -> int | None:
        for d in self.dirs:
            for name in ("memory.current", "memory.usage_in_bytes"):
                try:
                    return int((d / name).read_text())
                except (OSError, ValueError):
                    continue
        return None

    def remove(self) -> None:
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _tree(pid: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def _memory_bytes(pids: list[int]) -> int:
    """The tree's proportional set size (shared pages split among their users, so forks of one
    interpreter are not counted once per fork), else its resident size."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) << 10
                        break
            continue
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open(f"/proc/{p}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
    return total


# ----------------------------------------------------------------------------- the run


def run_contained(argv: list[str], *, box: Box, env: dict[str, str], limits: Limits,
                  readonly: list[Path] = (), binds: list[tuple[Path, str]] = (), devices: list[str] = (),
                  channel_limit: int = 256 << 20, pass_channel: bool = True) -> Outcome:
    """Run `argv` in the sandbox (or, when `box.confined` is False, unconfined but still limited).

    `readonly` host paths appear read-only at the same path inside; `binds` maps host files or folders
    to read-only paths under RO_ROOT (unconfined, the command must use the host paths instead). The command finds the write end of the result pipe in the
    environment variable GOLFKIT_CHANNEL_FD.
    Whatever it writes there (at most `channel_limit` bytes) comes back as `Outcome.channel`."""
    limits_argv = [shutil.which("prlimit") or "prlimit", f"--as={limits.address_space()}",
                   f"--cpu={limits.cpu()}", f"--fsize={limits.file_bytes}", "--core=0"]
    if box.confined and os.geteuid() == 0:
        # tasks (threads included) of uid 65534, the sandbox's; above the watcher's bound on processes, so
        # that a fork storm meets the watcher (a finding) before it meets EAGAIN (a script that retries)
        limits_argv.append(f"--nproc={limits.processes + TASK_MARGIN}")
    limits_argv.append("--")
    cgroup = _Cgroup(limits.memory_mb << 20, limits.processes + TASK_MARGIN) if box.confined else None
    read_fd, write_fd = os.pipe() if pass_channel else (-1, -1)
    full_env = dict(env)
    if pass_channel:
        full_env["GOLFKIT_CHANNEL_FD"] = str(write_fd)
    if box.confined:
        box.hand_over()
        command = [*limits_argv, *_bwrap_argv(list(readonly), list(devices), box, list(binds)), *argv]
    else:
        command = [*limits_argv, *argv]
    if cgroup is not None and cgroup.dirs:
        command = ["/bin/sh", "-c", cgroup.join_command() + 'exec "$@"', "golfkit-sandbox", *command]
    start = time.monotonic()
    out_r, out_w = os.pipe()
    try:
        proc = subprocess.Popen(command, cwd=box.work, env=full_env, stdin=subprocess.DEVNULL, stdout=out_w,
                                stderr=out_w, start_new_session=True,
                                pass_fds=(write_fd,) if pass_channel else ())
    except OSError as exc:
        for fd in (read_fd, write_fd, out_r, out_w):
            if fd >= 0:
                os.close(fd)
        if cgroup is not None:
            cgroup.remove()
        raise GolfkitError(f"cannot start the contained run: {exc}") from None
    os.close(out_w)
    if pass_channel:
        os.close(write_fd)
    tail = _TailReader(out_r, OUTPUT_TAIL_BYTES)
    chan = _ChannelReader(read_fd, channel_limit) if pass_channel else None
    status, detail, peak_mem, peak_procs = "exited", "", 0, 0
    tree_bytes = limits.memory_mb << 20
    while proc.poll() is None:
        elapsed = time.monotonic() - start
        pids = _tree(proc.pid)
        mem = cgroup.memory_bytes() if cgroup is not None and cgroup.dirs else None
        mem = max(mem or 0, _memory_bytes(pids))
        peak_mem, peak_procs = max(peak_mem, mem), max(peak_procs, len(pids))
        if mem > tree_bytes:
            status, detail = "memory", f"the process tree held {mem >> 20} MB, over the {limits.memory_mb} MB bound"
        elif cgroup is not None and _cgroup_oom(cgroup):
            # the cgroup's OOM killer struck first (the tree never showed more than the bound): a child was
            # killed and the rest may sleep on until the wall clock, which must not read as a timeout
            status, detail = "memory", f"the process tree reached the {limits.memory_mb} MB cgroup bound"
        elif elapsed > limits.wall_s:
            status, detail = "timeout", f"stopped after {limits.wall_s:.0f} s of wall time"
        elif len(pids) > limits.processes:
            status, detail = "processes", f"{len(pids)} processes, over the bound of {limits.processes}"
        elif chan is not None and chan.overflow:
            status, detail = "overflow", f"the result channel passed {channel_limit >> 20} MB"
        if status != "exited":
            _kill(proc)
            break
        try:
            proc.wait(timeout=POLL_S)  # returns at once when the run ends; else the next look at the tree
        except subprocess.TimeoutExpired:
            pass
    proc.wait()
    seconds = time.monotonic() - start
    rc = proc.returncode
    if cgroup is not None:
        if status == "exited" and _cgroup_oom(cgroup):
            status, detail = "memory", f"the process tree reached the {limits.memory_mb} MB cgroup bound"
        cgroup.remove()
    if status == "exited" and rc is not None and rc < 0:
        status, detail = "signal", f"ended by signal {_signal_name(-rc)}"
    tail.join()
    channel = chan.join() if chan is not None else b""
    return Outcome(status, rc, seconds, tail.text(), channel, box.confined, peak_mem / (1 << 20), peak_procs,
                   (cgroup.kind if cgroup is not None else None), detail)


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)


def _cgroup_oom(cgroup: _Cgroup) -> bool:
    for d in cgroup.dirs:
        for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
            try:
                for line in (d / name).read_text().splitlines():
                    k, _, v = line.partition(" ")
                    if k == key and int(v) > 0:
                        return True
            except (OSError, ValueError):
                continue
    return False


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the sandbox's group; bwrap dies, and with it (die-with-parent, PID namespace) all inside."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class _TailReader:
    def __init__(self, fd: int, keep: int) -> None:
        self.fd, self.keep, self.buf = fd, keep, bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with os.fdopen(self.fd, "rb", buffering=0) as f:
            while chunk := f.read(65536):
                self.buf += chunk
                if len(self.buf) > 2 * self.keep:
                    del self.buf[:-self.keep]

    def join(self) -> None:
        self.thread.join(5)

    def text(self) -> str:
        return bytes(self.buf[-self.keep:]).decode("utf-8", "replace")


class _ChannelReader:
    def __init__(self, fd: int, limit: int) -> None:
        self.fd, self.limit, self.chunks, self.size, self.overflow = fd, limit, [], 0, False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with os.fdopen(self.fd, "rb", buffering=0) as f:
            while chunk := f.read(1 << 20):
                if self.size + len(chunk) > self.limit:
                    self.overflow = True
                    continue  # keep draining so the writer never blocks; the parent kills the run
                self.chunks.append(chunk)
                self.size += len(chunk)

    def join(self) -> bytes:
        self.thread.join(5)
        return b"".join(self.chunks)


def copy_regular_files(folder: Path, work: Path, max_bytes: int, max_files: int) -> list[str]:
    """Copy a record's small regular files (scripts and what they read) into `work`, the sandbox's working
    copy. Links, FIFOs, devices, hidden and large files are never opened; their names come back."""
    skipped: list[str] = []
    copied = 0
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(top) / d).is_symlink())
        for name in sorted(files):
            path = Path(top) / name
            rel = path.relative_to(folder)
            if name.startswith("."):
                continue
            if copied >= max_files:
                skipped.append(f"{rel} (more than {max_files} files)")
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                skipped.append(f"{rel} (a symlink or unreadable)")
                continue
            with os.fdopen(fd, "rb") as f:
                info = os.fstat(f.fileno())
                if not stat.S_ISREG(info.st_mode):
                    skipped.append(f"{rel} (not a regular file)")
                    continue
                if info.st_size > max_bytes:
                    skipped.append(f"{rel} (over {max_bytes >> 20} MB)")
                    continue
                data = f.read(max_bytes + 1)
            dest = work / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data[:max_bytes])
            copied += 1
    return skipped


def scrubbed_env(home: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Only what a child needs: no tokens, no proxies, no CUDA unless asked, one thread."""
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": "/tmp", "USER": "nobody", "LOGNAME": "nobody",
           "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.update(extra or {})
    return env


__all__ = ["INSIDE_ROOT", "RO_ROOT", "UNCONFINED_NOTICE", "Box", "Limits", "Outcome", "SandboxUnavailable", "copy_regular_files",
           "python_roots",
           "require", "run_contained", "scrubbed_env", "unavailable_reason"]
