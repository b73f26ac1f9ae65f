"""Every command of README.md runs as written.

The README's fenced `bash` blocks are run in order, each as one bash script, in a scratch folder holding
`templates/` (the project's) and a git repository (branch `main`) of a copy of `records/`: the folder a
participant works in, in a clone of a records repository. A block preceded by the comment
`<!-- not run by tests/test_readme.py: REASON -->` is not run (installs, the test suite itself, a
10-minute regeneration); each says why. The README's own inputs are CPU-sized (a tiny trainer run)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from golfkit.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP = re.compile(r"<!-- not run by tests/test_readme\.py: (?P<why>[^>]*\S)\s*-->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")


def blocks(text: str) -> list[tuple[str, str | None]]:
    """(script, why it is not run or None) for every ```bash block, in order."""
    found, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and m.group(1):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if m.group(1) == "bash":
                before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
                skip = SKIP.match(before)
                found.append(("\n".join(lines[i + 1:end]), skip.group("why") if skip else None))
            i = end
        i += 1
    return found


def commands(script: str) -> list[str]:
    """The script's command lines, continuation lines joined."""
    return [line.strip() for line in script.replace("\\\n", " ").splitlines() if line.strip()]


def test_readme_blocks_are_known_commands_and_say_why_when_not_run():
    text = README.read_text()
    found = blocks(text)
    assert len(found) >= 8
    assert "FIELD" not in text  # no file outside the project is cited
    for script, why in found:
        assert why is None or len(why) > 10
        for line in commands(script):
            for name in re.findall(r"(?:^|&& )golfkit (\w+)", line):
                assert name in COMMANDS, line
            if "train_gpt.py" in line and line.split("#")[0].rstrip().endswith("train_gpt.py") and "python " in line:
                assert "OMP_NUM_THREADS=1" in line, line  # the trainer on a busy CPU, as docs/trainer.md says
    assert [why for _, why in found if why]  # the heavy ones are marked, not silently dropped


@pytest.fixture
def scratch(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    work = tmp_path / "work"
    work.mkdir()
    (work / "templates").symlink_to(ROOT / "templates")
    shutil.copytree(ROOT / "records", work / "records")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "GIT_AUTHOR_NAME": "Ada L", "GIT_AUTHOR_EMAIL": "ada@example.com", "GIT_COMMITTER_NAME": "Ada L",
           "GIT_COMMITTER_EMAIL": "ada@example.com", "OMP_NUM_THREADS": "1"}
    for args in (["init", "-q", "-b", "main"], ["add", "records"], ["commit", "-qm", "records"]):
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)
    return work, env


@pytest.mark.slow
def test_every_readme_command_runs_as_written(scratch):
    if shutil.which("bwrap") is None:
        pytest.skip("the README's probe commands need bubblewrap (apt-get install -y bubblewrap; .ci/run installs it)")
    work, env = scratch
    for script, why in blocks(README.read_text()):
        if why is not None:
            continue
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env, capture_output=True,
                              text=True, timeout=900, check=False)
        assert proc.returncode == 0, f"README block failed (exit {proc.returncode}):\n{script}\n---\n" \
                                     f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    record = work / "records" / "track_non_record_16mb" / "2026-12-01_my_run"
    assert (record / "artifact_loader.py").is_file() and (work / "curves.png").is_file()
