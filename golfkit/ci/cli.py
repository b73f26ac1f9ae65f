"""`golfkit new`, `golfkit ci` and `golfkit plot`: argument parsing only; the work is in the library."""

from __future__ import annotations

from pathlib import Path

import click

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
    from golfkit.ci.new import new_record
    from golfkit.report import render
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
    click.get_current_context().exit(1 if any(r.verdict == "fail" for r in reports) else 0)


@click.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PNG to write (default: FOLDER/curves.png).")
def plot(folder: Path, out: Path | None) -> None:
    """Draw the training and validation curves of every log in the record FOLDER, and the final
    val_bpb of each seed with their mean, into a PNG. Needs the plot extra (matplotlib)."""
    from golfkit.ci.plot import plot_record

    click.echo(f"wrote {plot_record(folder, out)}")


FORMATS = ("text", "json", "github", "markdown")


@click.command()
@click.option("--base", default=None, help="The branch or commit the pull request goes into.")
@click.option("--head", default="HEAD", show_default=True, help="The pull request's last commit.")
@click.option("--repo", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The git repository of the records.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Report format (default: github inside GitHub Actions, else text).")
@click.option("--files", "files_mode", is_flag=True,
              help="Pre-commit mode: verify the record folders holding FILES (in the working tree).")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def ci(base: str | None, head: str, repo: Path, fmt: str | None, files_mode: bool, files: tuple[Path, ...]) -> None:
    """Check a records pull request: it adds exactly one new folder records/track_*/YYYY-MM-DD_slug/
    and changes nothing else; then verify that folder. Writes a markdown step summary to
    $GITHUB_STEP_SUMMARY when it is set. Exit 0: no error, 1: findings of severity error, 2: bad input.

    With --files, verify instead the record folders that hold FILES (the pre-commit hook).
    """
    import os

    from golfkit.ci.pipeline import render_result, run_ci, verify_changed_files
    from golfkit.report import render

    fmt = fmt or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    if files_mode:
        if base is not None:
            raise click.UsageError("--files checks the working tree; it takes no --base")
        reports = verify_changed_files(list(files), repo)
        if reports:
            click.echo(render(reports, fmt))
        click.get_current_context().exit(1 if any(r.verdict == "fail" for r in reports) else 0)
    if base is None:
        raise click.UsageError("give --base REF (the branch the pull request goes into), or --files FILE...")
    if files:
        raise click.UsageError(f"unexpected arguments {' '.join(map(str, files))}: FILES go with --files")
    result = run_ci(repo, base, head)
    click.echo(render_result(result, fmt))
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as summary:
            summary.write(render_result(result, "markdown") + "\n")
    click.get_current_context().exit(1 if result.failed else 0)
