"""The one way golfkit writes a file a person asked for: whole or not at all, never over an existing
file without `force`, and no temporary file left behind on any exit path.

How, on Linux:
- The bytes go to an anonymous file (`O_TMPFILE`) in the target folder, are synced, and only then
  linked into place through `/proc/self/fd`. A process killed before the link (SIGKILL included)
  leaves nothing: an anonymous file has no name to leave behind. Without `force` the link itself is
  the no-clobber check (it fails if the name exists, even one created a moment ago); with `force`
  the file is linked under a temporary name and renamed over the old one.
- Where `O_TMPFILE` is not supported (some file systems), the bytes go to a named temporary file
  `.NAME.PID.golfkit.tmp` beside the target. SIGTERM, SIGINT and SIGHUP during the write remove it
  before the process ends (by that signal, as it would have without golfkit); a SIGKILL cannot be
  caught, so every later write of NAME first removes such files whose process is gone.

Set GOLFKIT_TEST_WRITE_PAUSE=PATH to make a write stop, once its bytes are written and before they
are in place, create PATH and wait to be killed (tests use it to interrupt a write deterministically);
GOLFKIT_TEST_WRITE_NAMED=1 takes the named-temporary-file way.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from golfkit.errors import GolfkitError

TMP_SUFFIX = ".golfkit.tmp"
PAUSE_ENV = "GOLFKIT_TEST_WRITE_PAUSE"
NAMED_ENV = "GOLFKIT_TEST_WRITE_NAMED"
# Signals that end a process by default and can be caught: the write cleans up, then the signal goes on.
CAUGHT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


class Interrupted(BaseException):  # a signal, not an error: `except Exception` does not catch it
    """A catchable terminating signal arrived while a write was in progress."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def refuse_existing(path: str | Path, force: bool, flag: str = "--force") -> None:
    """Raise GolfkitError if `path` exists and `force` is off, or if it is anything but a regular file
    or a symlink (a folder, FIFO, device or socket is never replaced, with `force` or not)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise GolfkitError(f"{path}: cannot check it ({exc.strerror}); give another path to write") from None
    if stat.S_ISDIR(mode):
        raise GolfkitError(f"{path}: a folder is in the way; give the path of a file to write")
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise GolfkitError(f"{path}: not a regular file (a FIFO, device or socket); golfkit replaces only "
                           "regular files: give another path to write")
    if not force:
        raise GolfkitError(f"{path}: already exists; pass {flag} to overwrite it")


def write_file(path: str | Path, data: bytes | str, *, force: bool = False, encoding: str = "utf-8",
               flag: str = "--force") -> int:
    """Write `data` (str is encoded with `encoding`) to `path` atomically; returns the bytes written.

    Refuses an existing `path` without `force` (GolfkitError naming `flag`), a folder always, and a
    missing parent folder. An existing symlink at `path` is replaced by the file, its target untouched.
    """
    path = Path(path)
    blob = data.encode(encoding) if isinstance(data, str) else bytes(data)
    refuse_existing(path, force, flag)
    parent = path.parent
    if not parent.is_dir():
        raise GolfkitError(f"{parent}: no such folder to write {path.name} into; create it first")
    remove_stale(parent, path.name)
    try:
        with signals_interrupt():
            fd = None if os.environ.get(NAMED_ENV) else _anonymous(parent)
            if fd is None:
                _write_named(path, blob, force)
            else:
                _write_anonymous(fd, path, blob, force)
    except FileExistsError:
        raise GolfkitError(f"{path}: appeared while it was being written; pass {flag} to overwrite it") from None
    except IsADirectoryError:
        raise GolfkitError(f"{path}: a folder is in the way; give the path of a file to write") from None
    except OSError as exc:
        raise GolfkitError(f"{path}: cannot write ({exc.strerror or exc}); check the folder and the disk") from None
    return len(blob)


def _anonymous(parent: Path) -> int | None:
    """An unnamed file in `parent`, or None where the file system has no O_TMPFILE."""
    flags = getattr(os, "O_TMPFILE", 0)
    if not flags or not Path("/proc/self/fd").is_dir():
        return None
    try:
        return os.open(parent, flags | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError:
        return None  # EOPNOTSUPP, EISDIR (an old kernel), EINVAL: take the named way


def _write_anonymous(fd: int, path: Path, blob: bytes, force: bool) -> None:
    dir_fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        _write_all(fd, blob)
        _pause_for_tests()
        source = f"/proc/self/fd/{fd}"
        if not force:
            # The link is the no-clobber check: it fails if the name exists now.
            os.link(source, path.name, dst_dir_fd=dir_fd, follow_symlinks=True)
        else:
            tmp = _tmp_name(path.name)
            os.link(source, tmp, dst_dir_fd=dir_fd, follow_symlinks=True)
            try:
                os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=dir_fd)
        _sync_dir(dir_fd)
    finally:
        os.close(fd)
        os.close(dir_fd)


def _write_named(path: Path, blob: bytes, force: bool) -> None:
    tmp = path.with_name(_tmp_name(path.name))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        try:
            _write_all(fd, blob)
        finally:
            os.close(fd)
        _pause_for_tests()
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the name exists now
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _write_all(fd: int, blob: bytes) -> None:
    view = memoryview(blob)
    while view:
        view = view[os.write(fd, view[: 1 << 24]) :]
    os.fsync(fd)


def _sync_dir(dir_fd: int) -> None:
    with contextlib.suppress(OSError):
        os.fsync(dir_fd)


def _tmp_name(name: str) -> str:
    return f".{name}.{os.getpid()}{TMP_SUFFIX}"


def remove_stale(parent: str | Path, name: str) -> list[Path]:
    """Remove `.NAME.PID.golfkit.tmp` files in `parent` left by a killed golfkit (PID no longer runs)."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d{{1,10}}){re.escape(TMP_SUFFIX)}")
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if not found or _alive(int(found.group(1))):
            continue
        try:
            if stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While inside: SIGTERM, SIGINT and SIGHUP raise `Interrupted` (so `finally` blocks clean up);
    on the way out the signal is delivered again to the handler that was there before (by default,
    the process ends by that signal). Outside the main thread, nothing is changed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def interrupt(signum, frame):
        raise Interrupted(signum)

    for signum in CAUGHT_SIGNALS:
        current = signal.getsignal(signum)
        if current is signal.SIG_IGN or current is None:
            continue  # an ignored signal stays ignored
        previous[signum] = current
        signal.signal(signum, interrupt)
    try:
        yield
    except Interrupted as exc:
        _restore(previous)
        signal.raise_signal(exc.signum)
        raise  # the previous handler returned (it was a Python handler that did not exit)
    finally:
        _restore(previous)


def _restore(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _pause_for_tests() -> None:
    marker = os.environ.get(PAUSE_ENV)
    if not marker:
        return
    Path(marker).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
