"""The shape of a records pull request, read from real git repositories built in tmp_path."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from golfkit.ci import git
from golfkit.ci.shape import check_shape, record_folder, screen_tree
from golfkit.errors import GolfkitError
from golfkit.facts import folder_name_problem

OLD = "records/track_10min_16mb/2026-01-01_baseline"
NEW = "records/track_10min_16mb/2026-05-01_new_idea"


def run_git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def commit_files(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Writes (or, for None, deletes) files and commits them; returns the commit id."""
    for rel, text in files.items():
        path = repo / rel
        if text is None:
            run_git(repo, "rm", "-q", rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        run_git(repo, "add", rel)
    run_git(repo, "commit", "-q", "-m", message)
    return run_git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "records-repo"
    repo.mkdir()
    run_git(repo, "init", "-q", "-b", "main")
    run_git(repo, "config", "user.name", "Test")
    run_git(repo, "config", "user.email", "test@example.com")
    commit_files(repo, {"README.md": "records\n", f"{OLD}/README.md": "old\n", f"{OLD}/train.log": "x\n"}, "base")
    run_git(repo, "checkout", "-q", "-b", "pr")
    return repo


def shape_of(repo: Path):
    base = git.merge_base(repo, git.resolve(repo, "main"), git.resolve(repo, "HEAD"))
    changes = git.changes(repo, base, git.resolve(repo, "HEAD"))
    folders = {f for c in changes if (f := record_folder(c.path))}
    return check_shape(changes, {f for f in folders if git.exists(repo, base, f)})


def ids(shape) -> list[str]:
    return sorted(f.id for f in shape.findings)


@pytest.mark.quiet("pr.shape.outside_records", "pr.shape.modifies_existing", "pr.shape.multiple_folders",
                   "pr.shape.bad_folder_name", "pr.shape.not_a_file", "pr.shape.no_record", "pr.shape.gitattributes")
def test_one_new_folder_has_the_right_shape(repo: Path):
    commit_files(repo, {f"{NEW}/README.md": "r\n", f"{NEW}/sub/train_seed1.log": "l\n"}, "pr")
    shape = shape_of(repo)
    assert shape.findings == []
    assert shape.new_folders == [NEW]


@pytest.mark.fires("pr.shape.outside_records")
@pytest.mark.quiet("pr.shape.no_record", "pr.shape.modifies_existing")
def test_editing_the_root_readme_is_outside_records(repo: Path):
    commit_files(repo, {f"{NEW}/README.md": "r\n", "README.md": "records, edited\n"}, "pr")
    shape = shape_of(repo)
    assert ids(shape) == ["pr.shape.outside_records"]
    assert shape.findings[0].file == "README.md"
    assert shape.new_folders == [NEW]


@pytest.mark.fires("pr.shape.outside_records")
def test_a_loose_file_in_a_track_folder_is_outside_any_record(repo: Path):
    commit_files(repo, {f"{NEW}/README.md": "r\n", "records/track_10min_16mb/notes.txt": "n\n"}, "pr")
    assert ids(shape_of(repo)) == ["pr.shape.outside_records"]


@pytest.mark.fires("pr.shape.multiple_folders")
@pytest.mark.quiet("pr.shape.bad_folder_name", "pr.shape.outside_records")
def test_two_new_folders(repo: Path):
    other = "records/track_non_record_16mb/2026-05-02_other"
    commit_files(repo, {f"{NEW}/README.md": "r\n", f"{other}/README.md": "r\n"}, "pr")
    shape = shape_of(repo)
    assert ids(shape) == ["pr.shape.multiple_folders"]
    assert shape.findings[0].evidence["folders"] == sorted([NEW, other])


@pytest.mark.fires("pr.shape.bad_folder_name")
@pytest.mark.quiet("pr.shape.multiple_folders", "pr.shape.no_record")
def test_a_space_in_the_folder_name(repo: Path):
    spaced = "records/track_10min_16mb/2026-05-01_my idea"
    commit_files(repo, {f"{spaced}/README.md": "r\n"}, "pr")
    shape = shape_of(repo)
    assert ids(shape) == ["pr.shape.bad_folder_name"]
    assert "whitespace" in shape.findings[0].message
    assert shape.findings[0].file == f"{spaced}/README.md"


@pytest.mark.parametrize("status_files", [
    {f"{OLD}/train.log": "changed\n"},
    {f"{OLD}/train.log": None},
    {f"{OLD}/extra.txt": "added to a merged record\n"},
])
@pytest.mark.fires("pr.shape.modifies_existing")
@pytest.mark.quiet("pr.shape.outside_records", "pr.shape.multiple_folders")
def test_touching_a_merged_record(repo: Path, status_files):
    commit_files(repo, {f"{NEW}/README.md": "r\n", **status_files}, "pr")
    shape = shape_of(repo)
    assert ids(shape) == ["pr.shape.modifies_existing"]
    assert shape.findings[0].file == next(iter(status_files))
    assert shape.new_folders == [NEW]


@pytest.mark.fires("pr.shape.not_a_file")
def test_a_symlink_in_the_record(repo: Path):
    (repo / NEW).mkdir(parents=True)
    (repo / NEW / "README.md").write_text("r\n")
    (repo / NEW / "leak").symlink_to("/etc/passwd")
    run_git(repo, "add", NEW)
    run_git(repo, "commit", "-q", "-m", "pr")
    shape = shape_of(repo)
    assert ids(shape) == ["pr.shape.not_a_file"]
    assert shape.findings[0].file == f"{NEW}/leak"


@pytest.mark.fires("pr.shape.no_record", "pr.shape.outside_records")
def test_no_record_folder_at_all(repo: Path):
    commit_files(repo, {"docs/x.md": "x\n"}, "pr")
    assert ids(shape_of(repo)) == ["pr.shape.no_record", "pr.shape.outside_records"]


@pytest.mark.fires("pr.shape.modifies_existing")
@pytest.mark.quiet("pr.shape.no_record", "pr.shape.multiple_folders")
def test_renaming_a_merged_record_is_a_delete_and_an_add(repo: Path):
    run_git(repo, "mv", OLD, NEW)
    run_git(repo, "commit", "-q", "-m", "rename")
    shape = shape_of(repo)
    assert ids(shape) == ["pr.shape.modifies_existing", "pr.shape.modifies_existing"]


@pytest.mark.fires("pr.shape.not_a_file")
@pytest.mark.quiet("pr.shape.outside_records")
def test_a_submodule_in_the_record(repo: Path):
    commit_files(repo, {f"{NEW}/README.md": "r\n"}, "readme")
    commit_id = run_git(repo, "rev-parse", "HEAD").strip()
    run_git(repo, "update-index", "--add", "--cacheinfo", f"160000,{commit_id},{NEW}/vendored")
    run_git(repo, "commit", "-q", "-m", "pr")
    shape = shape_of(repo)
    assert ids(shape) == ["pr.shape.not_a_file"]
    assert shape.findings[0].file == f"{NEW}/vendored" and "a submodule" in shape.findings[0].message


@pytest.mark.parametrize("name, problem", [
    ("2026-05-01_idea", None),
    ("2026-03-20_11L_XSA4_EMA_Int6_MLP3x_WD04_1.1271", None),
    ("2026-05-01 idea", "does not start with a date"),
    ("2026-05-01_my\tidea", "whitespace"),
    ("2026-02-30_idea", "not a calendar date"),
    ("idea", "does not start with a date"),
    ("2026-05-01_", "does not start with a date"),
])
def test_folder_names(name: str, problem: str | None):
    found = folder_name_problem(name)
    assert (found is None) if problem is None else (problem in found)


def test_unknown_ref_is_a_usable_error(repo: Path):
    with pytest.raises(GolfkitError, match="fetch-depth"):
        git.resolve(repo, "no-such-branch")


def test_the_files_of_the_commit_are_written_byte_for_byte(repo: Path, tmp_path: Path):
    head = commit_files(repo, {f"{NEW}/README.md": "r\n", f"{NEW}/a/b.txt": "b\r\n"}, "pr")
    (repo / NEW / "README.md").write_text("uncommitted edit\n")
    entries = git.tree_entries(repo, head, NEW, limit=10)
    files, findings = screen_tree(NEW, entries, max_file_bytes=1 << 20)
    assert findings == [] and [parts for _, parts in files] == [("README.md",), ("a", "b.txt")]
    root = tmp_path / "tree"
    assert git.write_blobs(repo, [(entry, root.joinpath(*parts)) for entry, parts in files], root) == []
    assert (root / "README.md").read_bytes() == b"r\n"
    assert (root / "a" / "b.txt").read_bytes() == b"b\r\n"


@pytest.mark.fires("pr.shape.not_a_file", "pr.shape.file_too_large", "pr.shape.unsafe_path")
def test_screen_tree_refuses_links_submodules_big_files_and_odd_paths():
    def entry(path, mode="100644", kind="blob", size=10):
        return git.TreeEntry(mode, kind, "0" * 40, size, f"{NEW}/{path}")

    entries = [entry("ok.txt"), entry("leak", mode=git.SYMLINK_MODE), entry("sub", git.SUBMODULE_MODE, "commit", None),
               entry("big.bin", size=101), entry("../x"), entry("a/./b"), entry("edge.bin", size=100)]
    files, findings = screen_tree(NEW, entries, max_file_bytes=100)
    assert [parts for _, parts in files] == [("ok.txt",), ("edge.bin",)]
    assert [(f.id, f.file.rsplit("/", 1)[1]) for f in findings] == [
        ("pr.shape.not_a_file", "leak"), ("pr.shape.not_a_file", "sub"), ("pr.shape.file_too_large", "big.bin"),
        ("pr.shape.unsafe_path", "x"), ("pr.shape.unsafe_path", "b")]


@pytest.mark.parametrize("files", [
    {f"{NEW}/README.md": "r\n", f"{NEW}/.gitattributes": "*.log export-ignore\n"},
    {f"{NEW}/README.md": "r\n", f"{NEW}/sub/.GitAttributes": "* -text\n"},
])
@pytest.mark.fires("pr.shape.gitattributes")
@pytest.mark.quiet("pr.shape.outside_records", "pr.shape.modifies_existing")
def test_gitattributes_in_the_record(repo: Path, files):
    commit_files(repo, files, "pr")
    shape = shape_of(repo)
    assert ids(shape) == ["pr.shape.gitattributes"]
    assert shape.findings[0].file == list(files)[1]
    assert shape.new_folders == [NEW]


@pytest.mark.fires("pr.shape.gitattributes", "pr.shape.outside_records")
def test_changing_or_deleting_the_root_gitattributes(repo: Path):
    commit_files(repo, {".gitattributes": "* text=auto\n"}, "main has attributes")
    run_git(repo, "branch", "-f", "main", "HEAD")
    commit_files(repo, {f"{NEW}/README.md": "r\n", ".gitattributes": "*.log export-ignore\n"}, "pr")
    assert ids(shape_of(repo)) == ["pr.shape.gitattributes", "pr.shape.outside_records"]
    commit_files(repo, {".gitattributes": None}, "pr deletes it")
    shape = shape_of(repo)
    assert ids(shape) == ["pr.shape.gitattributes", "pr.shape.outside_records"]
    assert "deleted" in shape.findings[0].message


@pytest.mark.quiet("pr.shape.gitattributes")
def test_a_file_merely_named_like_attributes_is_quiet(repo: Path):
    commit_files(repo, {f"{NEW}/README.md": "r\n", f"{NEW}/gitattributes.txt": "x\n", f"{NEW}/x.gitattributes": "y\n"},
                 "pr")
    assert ids(shape_of(repo)) == []
