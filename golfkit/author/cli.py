"""`golfkit new` and `golfkit plot`: argument parsing only; the work is in golfkit.author."""

from __future__ import annotations

from pathlib import Path

import click

from golfkit.verify.cli import StatusLine

GREEDY_OPTIONS = ("--logs", "--artifact", "--code", "--data")


class GreedyListCommand(click.Command):
    """Lets `--logs a.log b.log c.log` take every value up to the next option, as shells expand globs.

    The arguments are rewritten to `--logs a.log --logs b.log ...` before click parses them.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        current: str | None = None
        for index, arg in enumerate(args):
            if arg == "--":
                rewritten.extend(args[index:])
                break
            if arg in GREEDY_OPTIONS:
                current = arg
                rewritten.append(arg)
                continue
            if arg.startswith("-"):
                current = None
            elif current is not None and rewritten[-1] != current:
                rewritten.append(current)
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command(cls=GreedyListCommand)
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--logs", "logs", multiple=True, required=True, type=EXISTING_FILE,
              help="Training log of each seed (several values allowed).")
@click.option("--code", "code", multiple=True, required=True, type=EXISTING_FILE,
              help="The script that ran (train_gpt.py), and any file it imports; their bytes are bytes_code.")
@click.option("--artifact", "artifacts", multiple=True, type=EXISTING_FILE,
              help="Model artifact(s), matched to seeds by the model size each log printed.")
@click.option("--data", "data_files", multiple=True, type=EXISTING_FILE,
              help="Tokenizer (.model) and validation shards to ship; with both, data.val_bytes is counted.")
@click.option("--author", required=True, help="Author name for submission.json.")
@click.option("--github-id", required=True, help="GitHub user name for submission.json.")
@click.option("--name", default=None, help="Record name (default: the folder's slug).")
@click.option("--blurb", default="", help="One paragraph: what the record does.")
@click.option("--metric", "metric_label", default=None,
              help="Final metric line the record claims (default: the last one of each log, _exact form).")
@click.option("--hardware", default=None, help="Hardware, when the logs do not say (nvidia-smi or cpu line).")
@click.option("--variant", default=None,
              help="Name of the validation variant (default: the known one with the logged token count, else custom).")
@click.option("--no-plot", is_flag=True, help="Do not draw curves.png.")
def new(folder: Path, logs: tuple[Path, ...], code: tuple[Path, ...], artifacts: tuple[Path, ...],
        data_files: tuple[Path, ...], author: str, github_id: str, name: str | None, blurb: str,
        metric_label: str | None, hardware: str | None, variant: str | None, no_plot: bool) -> None:
    """Make the record folder FOLDER (records/track_*/YYYY-MM-DD_slug) from a finished run.

    Copies the script, logs, artifacts and data files, writes submission.json with every number
    taken from the logs and files, and a README with the results table; then verifies the folder.
    """
    from golfkit.author.new_record import new_record
    from golfkit.report import exit_code, render
    from golfkit.verify.api import verify_paths

    record = new_record(
        folder, list(logs), code=list(code), artifacts=list(artifacts), data_files=list(data_files),
        author=author, github_id=github_id, name=name, blurb=blurb, metric_label=metric_label,
        hardware=hardware, variant=variant, with_plot=not no_plot,
    )
    click.echo(f"wrote {record.path}: val_bpb {record.submission['val_bpb']} over "
               f"{len(record.submission['seeds'])} seed(s)")
    for note in record.notes:
        click.echo(f"note: {note}")
    reports = verify_paths([record.path])
    click.echo(render(reports, "text"))
    click.echo(f"next: golfkit check {record.path}  (verify, the byte budget, a re-run of the artifacts, the "
               "statistics against the track's best; add --probes --trust-code for the probes)")
    click.get_current_context().exit(exit_code(reports))


@click.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="PNG to write (required: golfkit never writes into a record folder unasked).")
@click.option("--force", is_flag=True, help="Overwrite an existing PNG.")
def plot(folder: Path, out: Path | None, force: bool) -> None:
    """Draw the training and validation curves of each seed of the record FOLDER, and the final val_bpb of
    each seed with their mean, into the PNG --out. Several logs of one seed (a training run and the
    evaluation of a built artifact, re-evaluations) are one seed. Needs the plot extra (matplotlib)."""
    from golfkit.author.plot import plot_record

    click.echo(f"wrote {plot_record(folder, out, force)}")


@click.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--against", metavar="DIR|auto|none", default="auto", show_default=True,
              help="Compare seed statistics with this record folder, the best record of the same track (auto), or "
                   "nothing (none).")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Folder of fineweb_val_*.bin to re-run the artifacts on (default: the record's own shards).")
@click.option("--tokenizer", type=click.Path(path_type=Path), default=None,
              help="SentencePiece model for the re-run (default: the record's *.model).")
@click.option("--no-rerun", is_flag=True, help="Do not re-run the shipped artifacts (the slowest part).")
@click.option("--probes", is_flag=True, help="Also run the legality probes on the record's own evaluator "
              "(needs --trust-code and bubblewrap).")
@click.option("--trust-code", is_flag=True, help="Allow running the record's own code, in golfkit's bubblewrap sandbox.")
@click.option("--unconfined", is_flag=True, help="With --trust-code where bubblewrap is missing: run it without the "
              "sandbox. Only on a machine you can afford to lose.")
@click.option("--json", "as_json", is_flag=True, help="Print the report, the steps and what to do next as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="List every info finding.")
def check(folder: Path, against: str, data: Path | None, tokenizer: Path | None, no_rerun: bool, probes: bool,
          trust_code: bool, unconfined: bool, as_json: bool, verbose: bool) -> None:
    """Everything golfkit can establish about the record FOLDER, in one run, before the pull request: verify,
    the byte budget of every seed (code, loader, model), the statistics against the best record of the track,
    a re-run of each shipped artifact on shipped data, the proof of a shipped wrapper, and (when asked) the
    sandboxed probes. Ends with what was checked, what could not be and why, and what to do next.

    Exit 0: no error; 1: errors; 2: bad input."""
    import json
    import sys

    from golfkit.author.check import CheckOptions, check_record, render_text

    options = CheckOptions(against=None if against.lower() == "none" else against, rerun=not no_rerun, data=data,
                           tokenizer=tokenizer, probes=probes, trust_code=trust_code, unconfined=unconfined)
    progress = StepProgress(sys.stderr)
    try:
        result = check_record(folder, options, progress=progress)
    finally:
        progress.clear()
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=1, default=str))
    else:
        click.echo(render_text(result, verbose=verbose))
    click.get_current_context().exit(1 if result.failed else 0)


class StepProgress(StatusLine):
    """`[check] <what it is doing>` on one line of a terminal's stderr, redrawn in place (nothing on a pipe)."""

    def __call__(self, what: str) -> None:
        self.show(f"[check] {what} ...")
