"""The few git facts `golfkit ci` needs, read with plain `git` plumbing commands (no git library).

A pull request is the range merge-base(base, head)..head: what the head adds on top of the
branch it wants to join, as GitHub shows it.

Everything is read from git's object store: `diff --raw` for the changes, `ls-tree` for the files of
a folder at a commit and `cat-file --batch` for their bytes. None of these reads `.gitattributes`,
runs a filter (smudge, textconv, lfs), converts line endings or applies `export-ignore` /
`export-subst`, so the bytes verified are the blobs that merge. Replace refs are ignored
(`--no-replace-objects`) and paths are never pathspec patterns (`--literal-pathspecs`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from golfkit.errors import GolfkitError

# Modes git records for things that are not plain files.
SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"
# Options before every git command: objects as committed, paths taken literally.
GIT_OPTIONS = ("--no-replace-objects", "--literal-pathspecs")
# An `ls-tree` record longer than this (a path of tens of kilobytes) is refused rather than buffered.
MAX_TREE_RECORD = 64 << 10
CHUNK = 1 << 20


@dataclass(frozen=True)
class Change:
    """One path the range touches. `status` is git's letter: A added, M modified, D deleted, T type."""

    status: str
    path: str
    old_mode: str
    new_mode: str


@dataclass(frozen=True)
class TreeEntry:
    """One entry of `git ls-tree -r --long`: `kind` is blob or commit (a submodule), `size` None for a
    submodule, `path` repository-relative as the tree holds it (undecodable bytes kept by surrogateescape)."""

    mode: str
    kind: str
    sha: str
    size: int | None
    path: str


def _argv(repo: Path, *args: str) -> list[str]:
    return ["git", *GIT_OPTIONS, "-C", str(repo), *args]


def git(repo: Path, *args: str) -> bytes:
    """Runs `git -C repo args...` and returns its stdout; a failure is a GolfkitError."""
    try:
        done = subprocess.run(_argv(repo, *args), capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise GolfkitError("git is not installed or not on PATH: install git to use `golfkit ci`") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1] if message else f"exit code {done.returncode}"
        raise GolfkitError(f"git {' '.join(args)} failed in {repo}: {detail}")
    return done.stdout


def resolve(repo: Path, ref: str) -> str:
    """The commit id that `ref` names in `repo`."""
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    except GolfkitError:
        raise GolfkitError(
            f"{ref!r} is not a commit in {repo}: fetch it first "
            "(in GitHub Actions, actions/checkout with fetch-depth: 0)"
        ) from None


def merge_base(repo: Path, base: str, head: str) -> str:
    """The commit where `head` left `base`; the pull request is everything after it."""
    try:
        return git(repo, "merge-base", base, head).decode().strip()
    except GolfkitError:
        raise GolfkitError(
            f"{base[:12]} and {head[:12]} share no history in {repo}: "
            "fetch the full history of both (fetch-depth: 0)"
        ) from None


def changes(repo: Path, base: str, head: str) -> list[Change]:
    """Every path that differs between commits `base` and `head`, renames split into delete + add."""
    raw = git(repo, "diff", "--raw", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", base, head)
    fields = raw.split(b"\0")
    out = []
    i = 0
    while i + 1 < len(fields) and fields[i]:
        # ":oldmode newmode oldsha newsha status" then the path
        old_mode, new_mode, _, _, status = fields[i].decode().lstrip(":").split(" ")
        path = fields[i + 1].decode("utf-8", "surrogateescape")
        out.append(Change(status[0], path, old_mode, new_mode))
        i += 2
    return out


def exists(repo: Path, commit: str, path: str) -> bool:
    """Whether `path` (a file or a folder) exists at `commit`."""
    done = subprocess.run(_argv(repo, "cat-file", "-e", f"{commit}:{path}"), capture_output=True, check=False)
    return done.returncode == 0


def tree_entries(repo: Path, commit: str, folder: str, limit: int) -> list[TreeEntry]:
    """The files, links and submodules under `folder` at `commit` (`git ls-tree -r -z --long`), read as
    a stream: at most `limit` + 1 entries are kept (more means "over the limit"; the rest is not read)."""
    proc = subprocess.Popen(_argv(repo, "ls-tree", "-r", "-z", "--long", "--full-tree", commit, "--", folder),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    entries: list[TreeEntry] = []
    pending = b""
    finished = False
    try:
        while len(entries) <= limit:
            chunk = proc.stdout.read1(CHUNK)
            if not chunk:
                finished = True
                break
            *records, pending = (pending + chunk).split(b"\0")
            entries += (_tree_entry(record) for record in records)
            if len(pending) > MAX_TREE_RECORD:
                raise GolfkitError(f"git ls-tree of {folder} at {commit[:12]} lists an entry over "
                                   f"{MAX_TREE_RECORD:,} bytes: the tree is not one a record can hold")
    finally:
        if not finished:
            proc.kill()  # over the limit (or refused): the rest is not read
        _, err = proc.communicate()
    if finished and proc.returncode != 0:
        raise GolfkitError(f"git ls-tree of {folder} at {commit[:12]} failed in {repo}: "
                           f"{err.decode('utf-8', 'replace').strip()}")
    return entries[:limit + 1]


def _tree_entry(record: bytes) -> TreeEntry:
    meta, _, path = record.partition(b"\t")
    mode, kind, sha, size = meta.decode("ascii", "replace").split()
    return TreeEntry(mode, kind, sha, int(size) if size.isdigit() else None,
                     path.decode("utf-8", "surrogateescape"))


def write_blobs(repo: Path, blobs: Iterable[tuple[TreeEntry, Path]], root: Path) -> list[tuple[TreeEntry, str]]:
    """Writes each blob byte for byte to its path (under `root`) through one `git cat-file --batch`.

    A file is created new (never over an existing one, never through a link) after checking that its
    folder resolves inside `root`; a path that cannot be written is returned as (entry, reason) and its
    blob is not read. The size git reports must be the size `ls-tree` gave (the caller bounded it).
    """
    failed: list[tuple[TreeEntry, str]] = []
    proc = None
    inside = os.path.realpath(root) + os.sep
    try:
        for entry, target in blobs:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if not (os.path.realpath(target.parent) + os.sep).startswith(inside):
                    raise OSError(f"{target.parent} resolves outside {root}")
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o755 if entry.mode == "100755" else 0o644)
            except OSError as exc:
                failed.append((entry, exc.strerror or str(exc)))
                continue
            with os.fdopen(fd, "wb") as out:
                if proc is None:
                    proc = subprocess.Popen(_argv(repo, "cat-file", "--batch"), stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                _copy_blob(proc, entry, out)
    finally:
        if proc is not None:
            proc.stdin.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    return failed


def _copy_blob(proc: subprocess.Popen, entry: TreeEntry, out) -> None:
    proc.stdin.write(entry.sha.encode("ascii") + b"\n")
    proc.stdin.flush()
    header = proc.stdout.readline(256).split()
    if header[1:] != [b"blob", str(entry.size).encode()]:
        raise GolfkitError(f"git cat-file --batch gave {b' '.join(header).decode('ascii', 'replace')!r} for "
                           f"{entry.path} ({entry.sha}), not a blob of {entry.size} bytes: is the repository intact?")
    left = entry.size
    while left:
        chunk = proc.stdout.read(min(left, CHUNK))
        if not chunk:
            raise GolfkitError(f"git cat-file --batch stopped {left} bytes before the end of {entry.path}")
        out.write(chunk)
        left -= len(chunk)
    proc.stdout.read(1)  # the newline after each object
