"""`golfkit ci`: check a records pull request (a git range) and verify the record folder it adds.

    git range -> changes -> shape findings (pr.shape.*)
              -> each new folder's tree at head (ls-tree) -> screened (links, paths, sizes)
              -> blobs written byte for byte (cat-file --batch) to a temporary folder
              -> verify -> findings with repo-relative paths
              -> reports (text | json | github annotations | markdown step summary)

The folders are verified as committed at head, read from git's objects with plumbing commands (not
from the working tree, not through `git archive`), so neither uncommitted files nor the pull
request's own `.gitattributes` (export-ignore, export-subst, eol, filters) can change what is verified.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from golfkit.ci import git
from golfkit.ci.shape import Shape, check_shape, record_folder, safe_parts, screen_tree
from golfkit.errors import GolfkitError
from golfkit.facts import folder_name_problem
from golfkit.findings import Finding, Severity, error
from golfkit.report import RecordReport, render
from golfkit.verify.api import verify_paths

# The shape report is about the whole repository: its path is the root, so that reporters, which join a
# finding's file to its report's path, point annotations at repository paths.
SHAPE_REPORT_PATH = "."
# Above this, a folder is not written out or verified: records are a script, logs and a <16 MB artifact.
MAX_RECORD_BYTES = 256 << 20
# ... nor above this many entries (verify itself reads at most 2000 files of a folder).
MAX_RECORD_FILES = 10_000
# One file above this is refused before its bytes are read: twice the 16 MB cap on code + artifact,
# room for the largest data file a record has reason to ship.
MAX_FILE_BYTES = 32 << 20


@dataclass
class CiResult:
    """What `golfkit ci` found: the range, its shape, and a verify report per new record folder."""

    base: str
    head: str
    merge_base: str
    shape: Shape
    records: list[RecordReport] = field(default_factory=list)

    @property
    def reports(self) -> list[RecordReport]:
        """The shape as a report of its own, then one report per verified folder: what reporters render."""
        verdict = "fail" if any(f.severity == Severity.ERROR for f in self.shape.findings) else "pass"
        shape = RecordReport(path=SHAPE_REPORT_PATH, verdict=verdict, findings=list(self.shape.findings),
                             claims={}, measured={"base": self.base, "head": self.head,
                                                  "merge_base": self.merge_base,
                                                  "new_folders": self.shape.new_folders})
        return [shape, *self.records]

    @property
    def findings(self) -> list[Finding]:
        return [f for report in self.reports for f in report.findings]

    @property
    def failed(self) -> bool:
        return any(f.severity == Severity.ERROR for f in self.findings)


def run_ci(repo: Path, base: str, head: str = "HEAD", extra_checks: Sequence = (), against_auto: bool = False) -> CiResult:
    """Checks the pull request `head` into `base` in the git repository `repo`.

    The pull request is everything `head` adds after its merge base with `base`. Raises GolfkitError
    when a ref is unknown or git fails; findings (shape and verify) are returned, never raised.
    `extra_checks` run on each new folder after verify's own (`golfkit ci --check`: golfkit.author.check);
    `against_auto` compares its statistics with the best record of its track in `repo`'s working tree.
    """
    repo = Path(repo)
    base_id, head_id = git.resolve(repo, base), git.resolve(repo, head)
    fork = git.merge_base(repo, base_id, head_id)
    changes = git.changes(repo, fork, head_id)
    candidates = {folder for change in changes if (folder := record_folder(change.path))}
    existing = {folder for folder in candidates if git.exists(repo, fork, folder)}
    shape = check_shape(changes, existing)
    result = CiResult(base_id, head_id, fork, shape)
    with tempfile.TemporaryDirectory(prefix="golfkit-ci-") as tmp:
        for folder in shape.new_folders:
            written = _write_folder(repo, head_id, folder, Path(tmp) / "tree", shape)
            if written is None:
                continue
            # written is <tmp>/tree/records/track_*/<name>: verify takes it as one record, even empty
            against = best_other_record(repo, folder) if against_auto else None
            reports = verify_paths([written], against=against, extra_checks=extra_checks)
            result.records.extend(_in_repo(report, folder, written) for report in reports)
    return result


def _write_folder(repo: Path, head: str, folder: str, root: Path, shape: Shape) -> Path | None:
    """Writes the plain files of the new `folder` as committed at `head` under `root` and returns
    where; None when the folder is not verified (too large, or a path that would leave `root`).
    What is refused is added to the shape's findings (once per id and path)."""
    parts = safe_parts(folder)
    if parts is None:
        _add(shape, error("pr.shape.unsafe_path", f"{folder} is not a plain folder path (an empty, `.` or `..` "
                          "component): it was not verified; rebuild the commit from a normal checkout", file=folder))
        return None
    entries = git.tree_entries(repo, head, folder, limit=MAX_RECORD_FILES)
    size = sum(entry.size or 0 for entry in entries)
    if size > MAX_RECORD_BYTES or len(entries) > MAX_RECORD_FILES:
        what = (f"more than {MAX_RECORD_FILES:,} files" if len(entries) > MAX_RECORD_FILES
                else f"{size:,} bytes, over golfkit ci's limit of {MAX_RECORD_BYTES:,}")
        _add(shape, error(
            "pr.shape.too_large",
            f"{folder} holds {what}: a record ships its script, logs and artifact, not training data; "
            "it was not verified",
            file=folder, evidence={"bytes": size, "limit": MAX_RECORD_BYTES, "files": len(entries),
                                   "files_limit": MAX_RECORD_FILES},
        ))
        return None
    files, refused = screen_tree(folder, entries, MAX_FILE_BYTES)
    dest = root.joinpath(*parts)
    dest.mkdir(parents=True, exist_ok=True)
    failed = git.write_blobs(repo, [(entry, dest.joinpath(*rel)) for entry, rel in files], root)
    refused += [error("pr.shape.unsafe_path", f"{entry.path} could not be written as a file of {folder} ({why}): "
                      "it was not verified; rebuild the commit from a normal checkout",
                      file=entry.path, evidence={"reason": why}) for entry, why in failed]
    for finding in refused:
        _add(shape, finding)
    return dest


def _add(shape: Shape, finding: Finding) -> None:
    """Adds `finding` to the shape unless one of its id already points at its path."""
    if not any(f.id == finding.id and f.file == finding.file for f in shape.findings):
        shape.findings.append(finding)


def best_other_record(repo: Path, folder: str) -> Path | None:
    """The record with the lowest claimed val_bpb among the other folders of `folder`'s track in the working
    tree of `repo` (what `verify --against auto` compares with), or None."""
    from golfkit.verify.api import _auto_against

    where = Path(repo) / folder
    if not where.parent.is_dir():
        return None
    best = _auto_against(where)
    return Path(best.root) if best is not None else None


def verify_changed_files(files: list[Path], repo: Path = Path("."), extra_checks: Sequence = ()) -> list[RecordReport]:
    """Verifies each record folder (in the working tree) that holds one of `files`: the pre-commit hook.

    A file outside any records/track_*/<folder>/ is ignored; a folder with a bad name gets
    `pr.shape.bad_folder_name` on top of its verify findings.
    """
    repo = Path(repo).resolve()
    folders: list[str] = []
    for file in files:
        try:
            rel = Path(file).resolve().relative_to(repo).as_posix()
        except ValueError:
            raise GolfkitError(f"{file} is outside the repository {repo}: run the hook from the repository root")
        folder = record_folder(rel)
        if folder is not None and folder not in folders and (repo / folder).is_dir():
            folders.append(folder)
    reports = []
    for folder in folders:
        for report in verify_paths([repo / folder], extra_checks=extra_checks):
            report = _in_repo(report, folder, repo / folder)
            problem = folder_name_problem(folder.rsplit("/", 1)[1])
            if problem:
                report = dataclasses.replace(report, verdict="fail", findings=[error(
                    "pr.shape.bad_folder_name",
                    f"record folder name {folder.rsplit('/', 1)[1]!r} is not valid: {problem}; "
                    "rename it to YYYY-MM-DD_slug with no spaces",
                    file=folder,
                ), *report.findings])
            reports.append(report)
    return reports


def _in_repo(report: RecordReport, folder: str, where: Path) -> RecordReport:
    """The report under its repository path `folder`; finding files stay relative to the record
    (reporters join them to the report's path), absolute ones under `where` (the folder verify
    read: an export in a temporary folder, or the working tree) are made relative too."""
    def relative(file: str | None) -> str | None:
        if file and Path(file).is_absolute():
            try:
                return Path(file).relative_to(where).as_posix()
            except ValueError:
                return file
        return file

    findings = [dataclasses.replace(f, file=relative(f.file)) for f in report.findings]
    return dataclasses.replace(report, path=folder, findings=findings)


def step_summary(result: CiResult) -> str:
    """The markdown written to $GITHUB_STEP_SUMMARY: the range, then verify's markdown report."""
    from golfkit.report import notices
    from golfkit.report.markdown import code_span, escape_text

    verdict = "failed" if result.failed else "passed"
    # folder names come from the pull request: code spans that no backtick in a name can close
    folders = ", ".join(code_span(f) for f in result.shape.new_folders) or "none"
    warn = "".join(f"> **Warning:** {escape_text(n)}\n\n" for n in notices(result.reports))
    head = (f"{warn}## golfkit ci: {verdict}\n\n"
            f"Pull request {code_span(result.merge_base[:12] + '..' + result.head[:12])} "
            f"(base {code_span(result.base[:12])}); "
            f"new record folder(s): {folders}. The row `.` is the shape of the pull request "
            "(one new folder under records/track_*/, nothing else changed); the others are verify's.\n\n")
    body = render(result.reports, "markdown")
    return head + (body[len(warn):] if warn and body.startswith(warn) else body)


def render_result(result: CiResult, fmt: str) -> str:
    """The result in one of verify's formats: text, json, github or markdown."""
    if fmt == "markdown":
        return step_summary(result)
    return render(result.reports, fmt)
