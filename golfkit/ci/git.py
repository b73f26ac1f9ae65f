"""The few git facts `golfkit ci` needs, read with plain `git` commands (no git library).

A pull request is the range merge-base(base, head)..head: what the head adds on top of the
branch it wants to join, as GitHub shows it.
"""

from __future__ import annotations

import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from golfkit.errors import GolfkitError

# Modes git records for things that are not plain files.
SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"


@dataclass(frozen=True)
class Change:
    """One path the range touches. `status` is git's letter: A added, M modified, D deleted, T type."""

    status: str
    path: str
    old_mode: str
    new_mode: str


def git(repo: Path, *args: str) -> bytes:
    """Runs `git -C repo args...` and returns its stdout; a failure is a GolfkitError."""
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
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
    raw = git(repo, "diff", "--raw", "-z", "--no-renames", "--no-ext-diff", base, head)
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
    done = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "-e", f"{commit}:{path}"], capture_output=True, check=False
    )
    return done.returncode == 0


def folder_bytes(repo: Path, commit: str, folder: str) -> int:
    """Total bytes of the files under `folder` at `commit`, read from git's index of blobs."""
    raw = git(repo, "ls-tree", "-r", "-l", "-z", commit, "--", folder)
    total = 0
    for entry in raw.split(b"\0"):
        if entry:
            size = entry.split(b"\t", 1)[0].split()[3]
            total += int(size) if size.isdigit() else 0
    return total


def export_folder(repo: Path, commit: str, folder: str, dest: Path) -> Path:
    """Writes the plain files of `folder` as they are at `commit` under `dest`; returns dest/folder.

    Links are left out (the shape check reports them) and the rest goes through tarfile's "data"
    filter: nothing lands outside `dest`, whatever the pull request contains. The tar is streamed
    through a file, not memory.
    """
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / ".golfkit-export.tar"
    with archive.open("wb") as out:
        done = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit, "--", folder],
                              stdout=out, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise GolfkitError(f"git archive of {folder} at {commit[:12]} failed in {repo}: "
                           f"{done.stderr.decode('utf-8', 'replace').strip()}")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        tar.extractall(dest, members=members, filter="data")
    archive.unlink()
    return dest / folder
