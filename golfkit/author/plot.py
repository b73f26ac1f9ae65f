"""Training and validation curves of a record's seed runs, and their final scores, as one PNG.

Drawing takes plain lists of points (`RunCurves`), so it does not care where they came from;
`plot_record` takes them from the logs of a record folder. matplotlib is an optional extra (`pip install 'golfkit[plot]'`).
"""

from __future__ import annotations

import io
import statistics
from pathlib import Path

from golfkit.author.curves import RunCurves, record_curves
from golfkit.errors import GolfkitError
from golfkit.verify.record import read_record
from golfkit.writes import refuse_existing, write_file

CURVES_FILE = "curves.png"
PLOT_EXTRA_HINT = "install the plot extra: pip install 'golfkit[plot]' (it adds matplotlib)"


def matplotlib_available() -> bool:
    """Whether the optional plot extra is installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def draw(runs: list[RunCurves], out: Path, title: str, force: bool = False) -> Path:
    """Draws training loss and validation bpb against step for every run, and the final val_bpb
    of each run with their mean, into the PNG `out` (an existing `out` only with `force`). Returns `out`."""
    refuse_existing(out, force)
    if not runs:
        raise GolfkitError(f"nothing to plot for {title}: no run has step or final metric lines")
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        raise GolfkitError(f"golfkit plot needs matplotlib, which is not installed: {PLOT_EXTRA_HINT}") from None

    fig, (ax_train, ax_val, ax_final) = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    for run in runs:
        if run.train_loss:
            steps, values = zip(*run.train_loss)
            ax_train.plot(steps, values, label=run.label, linewidth=1)
        if run.val_bpb:
            steps, values = zip(*run.val_bpb)
            ax_val.plot(steps, values, marker="o", markersize=3, label=run.label, linewidth=1)
    ax_train.set(title="training loss", xlabel="step", ylabel="train_loss (nats/token)")
    ax_val.set(title="validation", xlabel="step", ylabel="val_bpb")
    for ax in (ax_train, ax_val):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no points in the logs", ha="center", va="center", transform=ax.transAxes)

    finals = [(run.label, run.final_val_bpb) for run in runs if run.final_val_bpb is not None]
    ax_final.set(title="final val_bpb", ylabel="val_bpb")
    if finals:
        labels, values = zip(*finals)
        ax_final.scatter(range(len(values)), values, zorder=3)
        for i, value in enumerate(values):
            ax_final.annotate(f"{value:.5f}", (i, value), textcoords="offset points", xytext=(0, 6),
                              ha="center", fontsize=8)
        mean = statistics.fmean(values)
        ax_final.axhline(mean, color="tab:red", linestyle="--", label=f"mean {mean:.5f}")
        ax_final.set_xticks(range(len(labels)), labels)
        ax_final.set_xlim(-0.5, len(values) - 0.5)
        spread = (max(values) - min(values)) or abs(mean) * 1e-3 or 1e-3
        ax_final.set_ylim(min(values) - spread, max(values) + spread)
        ax_final.legend(fontsize=8)
    else:
        ax_final.text(0.5, 0.5, "no final metric in the logs", ha="center", va="center",
                      transform=ax_final.transAxes)
    ax_final.grid(alpha=0.3)
    fig.suptitle(title)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_file(out, png.getvalue(), force=force)
    return out


def plot_record(folder: Path, out: Path, force: bool = False) -> Path:
    """Draws the curves of every seed of the record `folder` into `out` (where the person asked: never into
    the record by default); an existing `out` is replaced only with `force`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GolfkitError(f"{folder}: not a folder; give a record folder (the one holding the logs)")
    if out is None:
        raise GolfkitError(f"say where to write the picture: golfkit plot {folder} -o curves.png")
    refuse_existing(out, force)
    evidence = read_record(folder)
    runs = record_curves(evidence)
    return draw(runs, out, title=folder.name, force=force)
