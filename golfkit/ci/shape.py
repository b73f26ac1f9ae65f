"""The shape of a records pull request: exactly one new folder under `records/track_*/`, only added
plain files inside it, a `YYYY-MM-DD_slug` name, and nothing else in the repository touched.

Pure: takes the list of changes and which candidate folders already existed at the base.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from golfkit.ci.git import SUBMODULE_MODE, SYMLINK_MODE, Change
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


def _verb(change: Change) -> str:
    return {"A": "added", "D": "deleted", "M": "modified", "T": "changed in type"}.get(change.status, "changed")
