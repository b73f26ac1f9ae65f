"""Read a record folder once into `RecordEvidence`; find record folders under a path.

Reading is bounded (file count, depth, bytes per file), reads regular files only (a symlink, FIFO,
socket or device is listed from `lstat` and never opened or followed), and records every per-file
problem as a `ReadProblem` instead of raising; the checks report them.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from golfkit.errors import GolfkitError
from golfkit.facts import is_track_folder, main_script, normalise_track
from golfkit.files import MAX_SCRIPT_BYTES, TooLarge, read_bytes
from golfkit.verify.evidence import (
    FileEntry,
    LogEvidence,
    ReadProblem,
    RecordEvidence,
    ScriptEvidence,
    Submission,
)
from golfkit.verify.logparse import parse_log_file
from golfkit.verify.roles import assign_roles
from golfkit.verify.scripts import find_siblings, read_script
from golfkit.verify.submission import MAX_SUBMISSION_BYTES, load_submission_bytes, normalise

MAX_FILES = 2000
MAX_DEPTH = 4
MAX_README_BYTES = 1 << 20
SKIP_DIRS = {".git", "__pycache__", ".venv", "node_modules"}
NOT_LOGS = re.compile(r"^(requirements.*|readme.*|license.*|.*\.vocab|.*_specs?\..*)$", re.IGNORECASE)
LOG_NAME_HINT = re.compile(r"(log|train|seed|run|eval)", re.IGNORECASE)


def is_record_dir(path: Path) -> bool:
    """A folder holding a submission JSON, a train_gpt*.py or a *.log, or sitting in a track_* folder."""
    if is_track_folder(path.parent.name):
        return True
    try:
        names = [entry.name for entry in os.scandir(path) if entry.is_file(follow_symlinks=False)]
    except OSError:
        return False
    return any(n.startswith("submission") and n.endswith(".json") or n.startswith("train_gpt") and n.endswith(".py")
               or n.endswith(".log") for n in names)


def find_records(path: Path) -> list[Path]:
    """Record folders at or under `path`, sorted. Raises GolfkitError for a missing path."""
    if not path.exists():
        raise GolfkitError(f"{path}: no such file or folder; give a record folder or a folder of records")
    if not path.is_dir():
        raise GolfkitError(f"{path}: not a folder; give a record folder (the one holding submission.json)")
    if is_record_dir(path):
        return [path]
    found: list[Path] = []
    for current, dirs, _files in os.walk(path, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        here = Path(current)
        if here != path and is_record_dir(here):
            found.append(here)
            dirs[:] = []
    return sorted(found)


def read_record(root: Path) -> RecordEvidence:
    """Read one record folder. Raises GolfkitError only when the folder itself cannot be listed."""
    root = Path(root)
    problems: list[ReadProblem] = []
    entries = _list_files(root, problems)
    files = [FileEntry(rel, path.lstat().st_size) for rel, path in entries]
    top = {rel: path for rel, path in entries if "/" not in rel}

    submission, submission_problem = _read_submission(root, top)
    readme = _read_readme(top, problems)
    logs = _read_logs(entries, problems)
    scripts = _read_scripts(top, problems)
    script = _main_script(scripts, submission)
    if script is not None:
        ignore = {script.path, *(log.path for log in logs), *(n for n in top if n.lower().startswith("readme"))}
        ignore |= {n for n in top if n.startswith("submission") and n.endswith(".json")}
        sizes = {name: entry.bytes for name, entry in ((f.path, f) for f in files) if "/" not in name}
        script.siblings = find_siblings(script, sizes, ignore)
    evidence = RecordEvidence(
        root=root,
        track=_track_of(root, submission),
        files=files,
        readme=readme,
        submission=submission,
        submission_problem=submission_problem,
        logs=logs,
        scripts=scripts,
        script=script,
        problems=problems,
    )
    assign_roles(evidence)
    return evidence


def _list_files(root: Path, problems: list[ReadProblem]) -> list[tuple[str, Path]]:
    """The record's regular files (relative name, path), from `lstat` alone: a symlink (to anywhere),
    a FIFO, a socket or a device is recorded as a ReadProblem and never opened or followed."""
    try:
        root_real = root.resolve(strict=True)
    except OSError as exc:
        raise GolfkitError(f"{root}: cannot open record folder ({exc.strerror})") from None
    found: list[tuple[str, Path]] = []
    for current, dirs, names in os.walk(root, followlinks=False):
        here = Path(current)
        depth = len(here.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and depth < MAX_DEPTH)
        linked_dirs = [d for d in dirs if (here / d).is_symlink()]  # listed as folders, never walked
        for name in sorted(names) + linked_dirs:
            path = here / name
            rel = path.relative_to(root).as_posix()
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue  # gone since the listing
            if stat.S_ISLNK(mode):
                problems.append(_symlink_problem(path, rel, root_real))
                continue
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                problems.append(ReadProblem("not_regular", rel, _special_kind(mode)))
                continue
            if len(found) >= MAX_FILES:
                problems.append(ReadProblem("too_many_files", rel, limit=MAX_FILES))
                return found
            found.append((rel, path))
    return found


def _symlink_problem(path: Path, rel: str, root_real: Path) -> ReadProblem:
    """A symlink is never followed: `symlink_outside` when it leads out of the folder, else
    `symlink_inside` (detail: its target relative to the folder, or where it points when missing)."""
    target = Path(os.path.realpath(path))
    if not target.is_relative_to(root_real):
        return ReadProblem("symlink_outside", rel, str(target))
    return ReadProblem("symlink_inside", rel, target.relative_to(root_real).as_posix() or ".")


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"


def _read_submission(root: Path, top: dict[str, Path]) -> tuple[Submission | None, ReadProblem | None]:
    names = sorted(n for n in top if n.startswith("submission") and n.endswith(".json"))
    if not names:
        return None, None
    name = "submission.json" if "submission.json" in names else names[0]
    try:
        data = read_bytes(top[name], MAX_SUBMISSION_BYTES, "a submission JSON", name)
        submission = normalise(load_submission_bytes(data, name), name)
    except GolfkitError as exc:
        return None, ReadProblem("submission_invalid", name, str(exc))
    return submission, None


def _read_readme(top: dict[str, Path], problems: list[ReadProblem]) -> str | None:
    for name, path in top.items():
        if name.lower() in {"readme.md", "readme.txt", "readme"}:
            try:
                data = read_bytes(path, MAX_README_BYTES, "a README", name)
            except TooLarge:
                problems.append(ReadProblem("readme_too_large", name, limit=MAX_README_BYTES))
                return ""
            except GolfkitError as exc:
                problems.append(ReadProblem("readme_unreadable", name, str(exc)))
                return None
            return data.decode("utf-8", errors="replace")
    return None


def _is_log_name(rel: str) -> bool:
    name = rel.split("/")[-1]
    if NOT_LOGS.match(name):
        return False
    return name.endswith((".log", ".txt"))


def _read_logs(entries: list[tuple[str, Path]], problems: list[ReadProblem]) -> list[LogEvidence]:
    logs: list[LogEvidence] = []
    by_hash: dict[str, str] = {}
    for rel, path in entries:
        if not _is_log_name(rel):
            continue
        try:
            log = parse_log_file(path, rel)
        except GolfkitError as exc:
            problems.append(ReadProblem("log_unreadable", rel, str(exc)))
            continue
        has_events = any(run.metrics or run.steps or run.sizes for run in log.runs)
        if not has_events and not rel.endswith(".log") and not LOG_NAME_HINT.search(rel.split("/")[-1]):
            continue  # a .txt of notes, not a log
        if log.sha256 in by_hash:
            log.copy_of = by_hash[log.sha256]
        else:
            by_hash[log.sha256] = rel
        logs.append(log)
    return logs


def _read_scripts(top: dict[str, Path], problems: list[ReadProblem]) -> list[ScriptEvidence]:
    scripts = []
    for name, path in sorted(top.items()):
        if not name.endswith(".py"):
            continue
        try:
            data = read_bytes(path, MAX_SCRIPT_BYTES, "a Python script", name)
        except TooLarge:
            problems.append(ReadProblem("script_too_large", name, limit=MAX_SCRIPT_BYTES))
            continue
        except GolfkitError as exc:
            problems.append(ReadProblem("script_unreadable", name, str(exc)))
            continue
        scripts.append(read_script(path, name, data))
    return scripts


def _main_script(scripts: list[ScriptEvidence], submission: Submission | None) -> ScriptEvidence | None:
    """The script that `golfkit.facts.main_script` chooses (train_gpt.py, else by the claimed bytes_code)."""
    choice = main_script({s.path: s.bytes for s in scripts}, submission.bytes_code if submission else None)
    return next(s for s in scripts if s.path == choice.name) if choice else None


def _track_of(root: Path, submission: Submission | None) -> str | None:
    for part in reversed(root.resolve().parts):
        track = normalise_track(part) if is_track_folder(part.lower()) else None
        if track is not None:
            return track
    return submission.track if submission else None
