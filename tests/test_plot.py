"""`golfkit plot`: curves of every seed log of a record, and the final scores with their mean."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest
from cli_helpers import assert_usage_error
from click.testing import CliRunner

from golfkit.author import plot
from golfkit.author.curves import RunCurves, record_curves
from golfkit.cli import main
from golfkit.errors import GolfkitError
from golfkit.verify.logparse import parse_log_text

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def seed_log(seed: int, final: str) -> str:
    lines = [f"seed:{seed}"]
    for step in (0, 100, 200):
        lines.append(f"step:{step}/200 train_loss:{5 - step / 100:.4f} train_time:{step * 10}ms step_avg:10.00ms")
        lines.append(f"step:{step}/200 val_loss:{4 - step / 100:.4f} val_bpb:{2 - step / 400:.4f} train_time:{step * 10}ms")
    lines += [f"final_int8_zlib_roundtrip val_loss:2.0000 val_bpb:{final[:6]} eval_time:10ms",
              f"final_int8_zlib_roundtrip_exact val_loss:2.00000000 val_bpb:{final}"]
    return "\n".join(lines) + "\n"


def test_record_curves_take_every_point_and_the_exact_final_score():
    logs = [parse_log_text(seed_log(7, "1.50000012"), "train_seed7.log"),
            parse_log_text("nothing to see\n", "notes.log")]
    [curves] = record_curves(logs)
    assert curves.label == "seed 7"
    assert curves.train_loss == [(0, 5.0), (100, 4.0), (200, 3.0)]
    assert curves.val_bpb == [(0, 2.0), (100, 1.75), (200, 1.5)]
    assert curves.final_val_bpb == 1.50000012


def test_plot_record_writes_a_png_where_asked_only(tmp_path: Path):
    record = tmp_path / "record"
    record.mkdir()
    for seed, final in ((1, "1.50000000"), (2, "1.52000000")):
        (record / f"train_seed{seed}.log").write_text(seed_log(seed, final))
    out = plot.plot_record(record, tmp_path / "curves.png")
    assert out == tmp_path / "curves.png"
    assert out.read_bytes()[:8] == PNG_MAGIC
    result = CliRunner().invoke(main, ["plot", str(record)])  # no default inside the record folder
    assert_usage_error(result, "-o curves.png")
    assert sorted(p.name for p in record.iterdir()) == ["train_seed1.log", "train_seed2.log"]


def eval_log(seed: int, final: str) -> str:
    """The script's evaluation of a built artifact: the same seed, no step lines, its own final score."""
    return (f"seed:{seed}\nSerialized model artifact: 1000 bytes\n"
            f"final_artifact_roundtrip val_loss:2.0000 val_bpb:{final[:6]} eval_time:10ms\n"
            f"final_artifact_roundtrip_exact val_loss:2.00000000 val_bpb:{final}\n")


def test_six_logs_of_three_seeds_are_three_seeds(tmp_path: Path):
    from golfkit.verify.record import read_record

    for seed in (1, 2, 3):
        (tmp_path / f"train_seed{seed}.log").write_text(eval_log(seed, f"1.4{seed}000000"))
        (tmp_path / f"train_seed{seed}_training.log").write_text(seed_log(seed, f"1.5{seed}000000"))
    curves = record_curves(read_record(tmp_path))
    assert [c.label for c in curves] == ["seed 1", "seed 2", "seed 3"]
    for seed, c in zip((1, 2, 3), curves):
        assert c.final_val_bpb == float(f"1.4{seed}")  # the seed log's score (the evaluated artifact)
        assert c.train_loss == [(0, 5.0), (100, 4.0), (200, 3.0)]  # the curve of its training run


def test_plot_cli_writes_where_asked(tmp_path: Path):
    (tmp_path / "train_seed3.log").write_text(seed_log(3, "1.40000000"))
    out = tmp_path / "pictures" / "run.png"
    result = CliRunner().invoke(main, ["plot", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_a_folder_without_curves_is_a_usable_error(tmp_path: Path):
    (tmp_path / "train.log").write_text("just words\n")
    result = CliRunner().invoke(main, ["plot", str(tmp_path), "-o", str(tmp_path / "c.png")])
    assert result.exit_code == 2
    assert "nothing to plot" in result.output
    with pytest.raises(GolfkitError, match="not a folder"):
        plot.plot_record(tmp_path / "missing", tmp_path / "x.png")


def test_without_matplotlib_plot_says_which_extra_to_install(tmp_path: Path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert not plot.matplotlib_available()
    with pytest.raises(GolfkitError, match=r"golfkit\[plot\]"):
        plot.draw([RunCurves("seed 1", [(0, 1.0)], [], 1.0)], tmp_path / "x.png", "t")
    assert not (tmp_path / "x.png").exists()
