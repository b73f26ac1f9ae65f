"""`golfkit ci` on hostile pull requests, in real git repositories built in tmp_path: what is verified is
exactly what the commit holds, whatever the pull request's `.gitattributes`, the machine's git config or
a hand-made tree (links, `..` entries, submodules, huge blobs) say.

Each pull request adds the example record (records/track_non_record_16mb/2026-11-22_golfkit_reference_cpu,
which passes verify) plus the hostile part; `run_ci` reads it back through git plumbing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from hostile import assert_contained, run_capped

from golfkit.ci import git, pipeline
from golfkit.ci.pipeline import run_ci
from golfkit.ci.shape import safe_parts
from golfkit.cli import main
from golfkit.errors import GolfkitError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "records" / "track_non_record_16mb" / "2026-11-22_golfkit_reference_cpu"
NEW = "records/track_non_record_16mb/2026-05-01_hostile"
CRASH = ["Traceback (most recent call last):", '  File "train_gpt.py", line 1, in <module>',
         "torch.OutOfMemoryError: CUDA out of memory"]


def run_git(repo: Path, *args: str, input: bytes | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          input=input).stdout.decode().strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A records repository: `main` holds a README; branch `pr` is checked out."""
    repo = tmp_path / "records-repo"
    repo.mkdir()
    run_git(repo, "init", "-q", "-b", "main")
    run_git(repo, "config", "user.name", "Test")
    run_git(repo, "config", "user.email", "test@example.com")
    (repo / "README.md").write_text("# records\n")
    run_git(repo, "add", ".")
    run_git(repo, "commit", "-q", "-m", "base")
    run_git(repo, "checkout", "-q", "-b", "pr")
    return repo


def add_example(repo: Path, rel: str = NEW) -> Path:
    shutil.copytree(EXAMPLE, repo / rel)
    return repo / rel


def commit(repo: Path) -> str:
    run_git(repo, "add", "-A", ".")
    run_git(repo, "commit", "-q", "-m", "pr")
    return run_git(repo, "rev-parse", "HEAD")


def crashed_log(folder: Path) -> str:
    """The claimed seed's own log, ending in a traceback after its last line (a stopped log no claim
    uses would read as an exploration, info; this one the claims depend on)."""
    path = folder / "train_seed42.log"
    path.write_text(path.read_text().rstrip("\n") + "\n" + "\n".join(CRASH) + "\n")
    return "train_seed42.log"


def huge_log(folder: Path) -> str:
    """A 20 MB log (sparse in the working tree; git stores it compressed to a few kilobytes)."""
    with open(folder / "train_seed9.log", "wb") as out:
        out.truncate(20_000_000)
    return "train_seed9.log"


def record_outcome(result) -> list[tuple[str, str, frozenset]]:
    """What verify said about each record folder: path, verdict, and its findings as (id, severity, file)."""
    return [(r.path, r.verdict, frozenset((f.id, f.severity.value, f.file) for f in r.findings))
            for r in result.records]


def shape_ids(result) -> set[str]:
    return {f.id for f in result.shape.findings}


@pytest.fixture
def seen(monkeypatch) -> dict:
    """What verify was given: every entry under the temporary tree when verify ran (path -> bytes, or
    'link' / 'dir'), and that tree's root. Filled by a spy around pipeline.verify_paths."""
    snapshot: dict = {}
    real = pipeline.verify_paths

    def spy(paths, *args, **kwargs):
        (folder,) = paths
        root = Path(folder).parents[2]  # <tmp>/tree/records/track_*/<name>
        snapshot["root"] = root
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            snapshot[rel] = "link" if path.is_symlink() else "dir" if path.is_dir() else path.read_bytes()
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(pipeline, "verify_paths", spy)
    return snapshot


@pytest.mark.parametrize("hide", [crashed_log, huge_log], ids=["log_with_traceback", "20MB_log"])
@pytest.mark.fires("pr.shape.gitattributes")
@pytest.mark.quiet("pr.shape.file_too_large", "pr.shape.unsafe_path")
def test_export_ignore_hides_nothing(tmp_path: Path, hide):
    """The same pull request with and without `<file> export-ignore` fails with the same findings."""
    outcomes = {}
    for attributes in (False, True):
        repo = tmp_path / f"attributes_{attributes}"
        repo.mkdir()
        run_git(repo, "init", "-q", "-b", "main")
        run_git(repo, "config", "user.name", "Test")
        run_git(repo, "config", "user.email", "test@example.com")
        (repo / "README.md").write_text("# records\n")
        run_git(repo, "add", ".")
        run_git(repo, "commit", "-q", "-m", "base")
        run_git(repo, "checkout", "-q", "-b", "pr")
        folder = add_example(repo)
        name = hide(folder)
        if attributes:
            (folder / ".gitattributes").write_text(f"{name} export-ignore\n")
        commit(repo)
        result = run_ci(repo, "main")
        assert result.failed
        assert ("pr.shape.gitattributes" in shape_ids(result)) == attributes
        outcomes[attributes] = record_outcome(result)
    (path, verdict, found), = outcomes[True]
    assert verdict == "fail" and path == NEW
    assert {i for i, severity, _ in found if severity == "error"} & {"log.traceback", "log.binary"}
    assert outcomes[True] == outcomes[False]


@pytest.mark.fires("pr.shape.gitattributes")
def test_no_filter_or_smudge_runs(repo: Path, tmp_path: Path, seen: dict):
    """A smudge filter in the machine's git config, assigned by the pull request's .gitattributes and
    by .git/info/attributes, never runs; what verify reads is the committed bytes."""
    folder = add_example(repo)
    (folder / ".gitattributes").write_text("* filter=x\n")
    commit(repo)
    marker = tmp_path / "SMUDGE_RAN"
    run_git(repo, "config", "filter.x.smudge", f"touch {marker}; cat")
    run_git(repo, "config", "filter.x.required", "true")
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text("* filter=x\n")
    result = run_ci(repo, "main")
    assert not marker.exists()
    assert shape_ids(result) == {"pr.shape.gitattributes"}
    assert [r.verdict for r in result.records] == ["pass"]
    assert seen[f"{NEW}/train_gpt.py"] == (EXAMPLE / "train_gpt.py").read_bytes()


@pytest.mark.quiet("pr.shape.gitattributes")
def test_line_endings_ident_and_export_subst_change_no_byte(repo: Path, seen: dict):
    """The machine's attributes (eol=crlf, ident, export-subst) would rewrite files on export; the
    bytes verify reads are the blobs, and the record passes."""
    folder = add_example(repo)
    (folder / "notes.txt").write_text("$Id$\n$Format:%H$\nline two\n")
    commit(repo)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text("* text eol=crlf ident export-subst\n")
    result = run_ci(repo, "main")
    assert not result.failed, [f.message for f in result.findings if f.severity.value == "error"]
    assert seen[f"{NEW}/notes.txt"] == b"$Id$\n$Format:%H$\nline two\n"
    for path in EXAMPLE.iterdir():
        assert seen[f"{NEW}/{path.name}"] == path.read_bytes(), path.name


@pytest.mark.quiet("pr.shape.gitattributes", "pr.shape.file_too_large", "pr.shape.unsafe_path",
                   "pr.shape.not_a_file", "pr.shape.too_large", "pr.shape.no_record")
def test_the_example_record_passes_quietly(repo: Path, seen: dict):
    add_example(repo)
    commit(repo)
    result = run_ci(repo, "main")
    assert not result.failed and shape_ids(result) == set()
    assert sorted(k for k, v in seen.items() if k != "root" and v != "dir") == \
        sorted(f"{NEW}/{p.name}" for p in EXAMPLE.iterdir())


@pytest.mark.fires("pr.shape.gitattributes", "pr.shape.outside_records")
def test_a_root_gitattributes_is_named_too(repo: Path):
    add_example(repo)
    (repo / ".gitattributes").write_text("*.log export-ignore\n")
    commit(repo)
    result = run_ci(repo, "main")
    assert shape_ids(result) == {"pr.shape.gitattributes", "pr.shape.outside_records"}
    assert {f.file for f in result.shape.findings} == {".gitattributes"}


@pytest.mark.fires("pr.shape.file_too_large")
def test_a_file_over_the_bound_is_refused_before_it_is_read(repo: Path, monkeypatch, seen: dict):
    name = huge_log(add_example(repo))
    commit(repo)
    monkeypatch.setattr(pipeline, "MAX_FILE_BYTES", 10_000_000)
    asked = []
    real = git.write_blobs
    monkeypatch.setattr(git, "write_blobs", lambda repo, blobs, root: real(repo, asked.extend(blobs) or asked, root))
    result = run_ci(repo, "main")
    [finding] = [f for f in result.shape.findings if f.id == "pr.shape.file_too_large"]
    assert finding.file == f"{NEW}/{name}" and finding.evidence["bytes"] == 20_000_000
    assert name not in {entry.path.rsplit("/", 1)[1] for entry, _ in asked}
    assert f"{NEW}/{name}" not in seen
    assert result.failed


@pytest.mark.fires("pr.shape.file_too_large", "files.log.missing")
def test_a_folder_left_empty_by_refusals_fails_with_findings_not_exit_2(repo: Path, monkeypatch):
    (repo / NEW).mkdir(parents=True)
    huge_log(repo / NEW)
    commit(repo)
    monkeypatch.setattr(pipeline, "MAX_FILE_BYTES", 1_000_000)
    monkeypatch.chdir(repo)
    done = CliRunner().invoke(main, ["ci", "--base", "main"])
    assert done.exit_code == 1, done.output
    assert "pr.shape.file_too_large" in done.output and "files.log.missing" in done.output


@pytest.mark.fires("pr.shape.too_large")
def test_too_many_files_are_not_written(repo: Path, monkeypatch, seen: dict):
    folder = add_example(repo)
    for i in range(6):
        (folder / f"extra_{i}.txt").write_text(f"{i}\n")
    commit(repo)
    monkeypatch.setattr(pipeline, "MAX_RECORD_FILES", 8)
    result = run_ci(repo, "main")
    assert shape_ids(result) == {"pr.shape.too_large"}
    assert "more than 8 files" in result.shape.findings[0].message
    assert result.records == [] and seen == {}


@pytest.mark.fires("pr.shape.not_a_file")
@pytest.mark.quiet("pr.shape.unsafe_path")
def test_links_are_reported_and_never_written(repo: Path, seen: dict):
    folder = add_example(repo)
    (folder / "leak").symlink_to("/etc/passwd")
    (folder / "up").symlink_to("../../../..")
    commit(repo)
    result = run_ci(repo, "main")
    links = [f for f in result.shape.findings if f.id == "pr.shape.not_a_file"]
    assert sorted(f.file for f in links) == [f"{NEW}/leak", f"{NEW}/up"]  # once each, not twice
    assert "link" not in seen.values()
    assert f"{NEW}/leak" not in seen and f"{NEW}/up" not in seen


@pytest.mark.fires("pr.shape.not_a_file")
def test_a_submodule_is_reported_not_followed(repo: Path, seen: dict):
    add_example(repo)
    commit(repo)
    other = run_git(repo, "rev-parse", "main")
    run_git(repo, "update-index", "--add", "--cacheinfo", f"160000,{other},{NEW}/vendored")
    run_git(repo, "commit", "-q", "-m", "submodule")
    result = run_ci(repo, "main")
    [finding] = [f for f in result.shape.findings if f.id == "pr.shape.not_a_file"]
    assert finding.file == f"{NEW}/vendored"
    assert f"{NEW}/vendored" not in seen


def hand_made_commit(repo: Path, record_extra: str, track_extra: str = "") -> str:
    """A commit on top of HEAD whose tree git's porcelain would never write: the example record plus
    `record_extra` lines (mktree format) in its folder, `track_extra` lines in its track folder."""
    evil_blob = run_git(repo, "hash-object", "-w", "--stdin", input=b"escaped\n")
    evil_tree = run_git(repo, "mktree", input=f"100644 blob {evil_blob}\tevil.txt\n".encode())
    listing = "".join(f"100644 blob {run_git(repo, 'hash-object', '-w', str(p))}\t{p.name}\n"
                      for p in sorted(EXAMPLE.iterdir()))
    record_extra, track_extra = (lines.format(blob=evil_blob, tree=evil_tree) for lines in (record_extra, track_extra))
    record = run_git(repo, "mktree", input=(listing + record_extra).encode())
    name = NEW.rsplit("/", 1)[1]
    track = run_git(repo, "mktree", input=(f"040000 tree {record}\t{name}\n" + track_extra).encode())
    records = run_git(repo, "mktree", input=f"040000 tree {track}\ttrack_non_record_16mb\n".encode())
    readme = run_git(repo, "rev-parse", "HEAD:README.md")
    root = run_git(repo, "mktree", input=f"100644 blob {readme}\tREADME.md\n040000 tree {records}\trecords\n".encode())
    head = run_git(repo, "commit-tree", root, "-p", "HEAD", "-m", "hand-made")
    run_git(repo, "update-ref", "refs/heads/pr", head)
    return head


@pytest.mark.fires("pr.shape.unsafe_path")
def test_dot_dot_entries_are_refused(repo: Path, seen: dict):
    hand_made_commit(repo, record_extra="040000 tree {tree}\t..\n100644 blob {blob}\t.\n",
                     track_extra="040000 tree {tree}\t..\n")
    result = run_ci(repo, "main")
    unsafe = sorted(f.file for f in result.shape.findings if f.id == "pr.shape.unsafe_path")
    assert unsafe == ["records/track_non_record_16mb/..", f"{NEW}/.", f"{NEW}/../evil.txt"]
    assert not [k for k in seen if k.endswith("evil.txt")]
    assert not list(seen["root"].parent.rglob("evil.txt"))
    assert [r.path for r in result.records] == [NEW]
    assert result.failed


def test_write_blobs_never_writes_through_a_link(repo: Path, tmp_path: Path):
    folder = add_example(repo)
    head = commit(repo)
    [entry] = [e for e in git.tree_entries(repo, head, NEW, limit=100) if e.path.endswith("README.md")]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "README.md").write_text("mine\n")
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "link").symlink_to(outside / "README.md")
    (root / "sub" / "dir").symlink_to(outside)
    failed = git.write_blobs(repo, [(entry, root / "link"), (entry, root / "sub" / "dir" / "README.md"),
                                    (entry, root / "ok.md")], root)
    assert [e.path for e, _ in failed] == [entry.path, entry.path]
    assert (outside / "README.md").read_text() == "mine\n"
    assert (root / "ok.md").read_bytes() == (folder / "README.md").read_bytes()


def test_tree_entries_are_bounded_and_literal(repo: Path):
    folder = add_example(repo)
    (folder / "a*b").write_text("star\n")  # a pathspec pattern if it were not taken literally
    head = commit(repo)
    entries = git.tree_entries(repo, head, NEW, limit=100)
    assert {e.path.rsplit("/", 1)[1] for e in entries} == {p.name for p in folder.iterdir()}
    assert all(e.size == os.path.getsize(repo / e.path) for e in entries)
    assert len(git.tree_entries(repo, head, NEW, limit=3)) == 4  # one over the limit says "more"
    assert git.tree_entries(repo, head, f"{NEW}/a*", limit=10) == []
    with pytest.raises(GolfkitError, match="ls-tree .* failed"):
        git.tree_entries(repo, "0" * 40, NEW, limit=10)


@pytest.mark.parametrize("path, parts", [
    ("a/b.txt", ("a", "b.txt")),
    (".hidden", (".hidden",)),
    ("..a/b..", ("..a", "b..")),
    ("/etc/passwd", None),
    ("a/../../b", None),
    ("..", None),
    ("a/./b", None),
    ("a//b", None),
    ("", None),
])
def test_safe_parts(path: str, parts):
    assert safe_parts(path) == parts


def test_every_hostile_part_at_once_is_contained(repo: Path, tmp_path: Path):
    """`golfkit ci` in a child under the hostile suite's memory cap and time limit, on one pull request
    with all of the above: no traceback, exit 1, peak memory under the bound, no filter run."""
    folder = add_example(repo)
    hidden = [crashed_log(folder), huge_log(folder)]
    (folder / ".gitattributes").write_text("".join(f"{name} export-ignore\n" for name in hidden) + "* filter=x\n")
    (folder / "leak").symlink_to("/etc/passwd")
    commit(repo)
    marker = tmp_path / "SMUDGE_RAN"
    run_git(repo, "config", "filter.x.smudge", f"touch {marker}; cat")
    run = run_capped(["ci", "--repo", str(repo), "--base", "main", "--format", "json"], timeout_s=120)
    assert_contained(run, codes=(1,))
    assert not marker.exists()
    for ident in ("pr.shape.gitattributes", "pr.shape.not_a_file", "log.traceback", "log.binary"):
        assert ident in run.stdout, ident
