"""The shape of a records pull request: exactly one new folder under `records/track_*/`, only added
plain files inside it, a `YYYY-MM-DD_slug` name, no `.gitattributes`, and nothing else in the
repository touched; then which entries of the new folder's tree may be written out for verify.

Pure: takes the list of changes and which candidate folders already existed at the base, or the
folder's tree entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from golfkit.ci.git import SUBMODULE_MODE, SYMLINK_MODE, Change, TreeEntry
from golfkit.facts import RECORDS_DIR, folder_name_problem, is_track_folder
from golfkit.findings import Finding, error


@dataclass
class Shape:
    """What the pull request adds: the new record folders (repo-relative) and what is wrong with it."""

    new_folders: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def record_folder(path: str) -> str | None:
    """`records/track_x/<name>` for a path inside such a folder, else None."""
    parts = path.split("/")
    if len(parts) >= 4 and parts[0] == RECORDS_DIR and is_track_folder(parts[1]) and parts[2]:
        return "/".join(parts[:3])
    return None


def check_shape(changes: Iterable[Change], existing: set[str]) -> Shape:
    """Findings on a pull request's changes; `existing` holds the candidate folders present at the base."""
    shape = Shape()
    added_to: dict[str, list[str]] = {}
    for change in changes:
        if is_gitattributes(change.path):
            shape.findings.append(
                error(
                    "pr.shape.gitattributes",
                    f"{change.path} is {_verb(change)}: git attributes change what a checkout or an archive of "
                    "the repository holds (line endings, filters, export-ignore) after golfkit verified the "
                    "committed bytes; a record needs none, remove it from the pull request",
                    file=change.path,
                    evidence={"status": change.status},
                )
            )
        folder = record_folder(change.path)
        if folder is None:
            shape.findings.append(
                error(
                    "pr.shape.outside_records",
                    f"{change.path} is {_verb(change)} outside a record folder: a records pull request "
                    "only adds files inside one new folder records/track_*/YYYY-MM-DD_slug/; "
                    "move this change to a separate pull request",
                    file=change.path,
                    evidence={"status": change.status},
                )
            )
            continue
        if change.status != "A" or folder in existing:
            shape.findings.append(
                error(
                    "pr.shape.modifies_existing",
                    f"{change.path} is {_verb(change)} in {folder}, which already exists in the base: "
                    "merged records are never changed; submit a new folder instead",
                    file=change.path,
                    evidence={"status": change.status, "folder": folder},
                )
            )
            continue
        if change.new_mode in (SYMLINK_MODE, SUBMODULE_MODE):
            kind = "a symbolic link" if change.new_mode == SYMLINK_MODE else "a submodule"
            shape.findings.append(
                error(
                    "pr.shape.not_a_file",
                    f"{change.path} is {kind}: a record holds plain files only; commit the file itself",
                    file=change.path,
                    evidence={"mode": change.new_mode},
                )
            )
        added_to.setdefault(folder, []).append(change.path)

    shape.new_folders = sorted(added_to)
    for folder in shape.new_folders:
        problem = folder_name_problem(folder.rsplit("/", 1)[1])
        if problem:
            shape.findings.append(
                error(
                    "pr.shape.bad_folder_name",
                    f"record folder name {folder.rsplit('/', 1)[1]!r} is not valid: {problem}; "
                    "rename it to YYYY-MM-DD_slug with no spaces (e.g. 2026-05-01_my_idea)",
                    file=added_to[folder][0],
                    evidence={"folder": folder},
                )
            )
    if len(shape.new_folders) > 1:
        shape.findings.append(
            error(
                "pr.shape.multiple_folders",
                f"the pull request adds {len(shape.new_folders)} record folders "
                f"({', '.join(shape.new_folders)}): submit one record per pull request",
                file=added_to[shape.new_folders[1]][0],
                evidence={"folders": shape.new_folders},
            )
        )
    if not shape.new_folders:
        shape.findings.append(
            error(
                "pr.shape.no_record",
                "the pull request adds no new record folder: add one folder under "
                "records/track_*/YYYY-MM-DD_slug/ with README.md, submission.json, logs and train_gpt.py",
            )
        )
    return shape


def is_gitattributes(path: str) -> bool:
    """Whether git reads `path` as an attributes file (case-insensitively: so does a checkout on macOS or Windows)."""
    return path.rsplit("/", 1)[-1].lower() == ".gitattributes"


def safe_parts(path: str) -> tuple[str, ...] | None:
    """The components of a relative path from a git tree, or None when writing it could leave its
    folder: absolute, empty, `.` or `..` components (git's own tree checks can be bypassed, so a tree
    may hold any of them)."""
    parts = path.split("/")
    if not path or any(part in ("", ".", "..") or "\0" in part for part in parts):
        return None
    return tuple(parts)


def screen_tree(folder: str, entries: Iterable[TreeEntry],
                max_file_bytes: int) -> tuple[list[tuple[TreeEntry, tuple[str, ...]]], list[Finding]]:
    """Which entries of the new `folder` at head are written out for verify, as (entry, path parts
    inside the folder), and findings on the rest: links and submodules (`pr.shape.not_a_file`,
    nothing written, not followed), paths that would leave the folder (`pr.shape.unsafe_path`) and
    files over `max_file_bytes` (`pr.shape.file_too_large`, refused by the size git records,
    before their bytes are read)."""
    files: list[tuple[TreeEntry, tuple[str, ...]]] = []
    findings: list[Finding] = []
    prefix = folder + "/"
    for entry in entries:
        parts = safe_parts(entry.path[len(prefix):]) if entry.path.startswith(prefix) else None
        if parts is None:
            findings.append(error(
                "pr.shape.unsafe_path",
                f"{entry.path} is not a plain path inside {folder} (absolute, or with an empty, `.` or `..` "
                "component): git itself refuses to check such a tree out; it was not written or verified, "
                "rebuild the commit from a normal checkout",
                file=entry.path, evidence={"mode": entry.mode},
            ))
        elif entry.mode in (SYMLINK_MODE, SUBMODULE_MODE) or entry.kind != "blob":
            kind = {SYMLINK_MODE: "a symbolic link", SUBMODULE_MODE: "a submodule"}.get(entry.mode, entry.kind)
            findings.append(error(
                "pr.shape.not_a_file",
                f"{entry.path} is {kind}: a record holds plain files only; commit the file itself",
                file=entry.path, evidence={"mode": entry.mode},
            ))
        elif (entry.size or 0) > max_file_bytes:
            findings.append(error(
                "pr.shape.file_too_large",
                f"{entry.path} is {entry.size:,} bytes, over golfkit ci's limit of {max_file_bytes:,} for one "
                "file (the artifact of a record is under 16 MB); it was not read or verified",
                file=entry.path, evidence={"bytes": entry.size, "limit": max_file_bytes},
            ))
        else:
            files.append((entry, parts))
    return files, findings


def _verb(change: Change) -> str:
    return {"A": "added", "D": "deleted", "M": "modified", "T": "changed in type"}.get(change.status, "changed")
