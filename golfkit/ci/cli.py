"""`golfkit ci`: argument parsing only; the work is in golfkit.ci.pipeline."""

from __future__ import annotations

from pathlib import Path

import click

from golfkit.errors import GolfkitError
from golfkit.report import FORMATS


@click.command()
@click.option("--base", default=None, help="The branch or commit the pull request goes into.")
@click.option("--head", default="HEAD", show_default=True, help="The pull request's last commit.")
@click.option("--repo", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The git repository of the records.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Report format (default: github inside GitHub Actions, else text).")
@click.option("--files", "files_mode", is_flag=True,
              help="Pre-commit mode: verify the record folders holding FILES (in the working tree).")
@click.option("--check", "full", is_flag=True,
              help="Run what `golfkit check` runs on the new folder: also the byte budget of every seed from its "
                   "files, a re-run of shipped artifacts on shipped data, the proof of a shipped wrapper, and the "
                   "statistics against the best record of its track.")
@click.option("--probes", is_flag=True, help="With --check: also the sandboxed probes (needs --trust-code).")
@click.option("--trust-code", is_flag=True, help="Allow running the record's code, in golfkit's bubblewrap sandbox.")
@click.option("--unconfined", is_flag=True, help="With --trust-code where bubblewrap is missing: no sandbox.")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def ci(base: str | None, head: str, repo: Path, fmt: str | None, files_mode: bool, full: bool, probes: bool,
       trust_code: bool, unconfined: bool, files: tuple[Path, ...]) -> None:
    """Check a records pull request: it adds exactly one new folder records/track_*/YYYY-MM-DD_slug/
    and changes nothing else; then verify that folder (claims against logs, files, sizes). With --check,
    also everything `golfkit check` runs (budget, re-run, wrapper proof, --against auto; probes with
    --probes --trust-code). Writes a markdown step summary to $GITHUB_STEP_SUMMARY when it is set.
    Exit 0: no error, 1: findings of severity error, 2: bad input.

    With --files, verify instead the record folders that hold FILES (the pre-commit hook).
    """
    import os

    from golfkit.ci.pipeline import render_result, run_ci, verify_changed_files
    from golfkit.report import exit_code, render

    fmt = fmt or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    if (probes or trust_code or unconfined) and not full:
        raise GolfkitError("--probes, --trust-code and --unconfined go with --check (the parts of golfkit check)")
    extra = []
    if full:
        # `golfkit check`'s parts live in golfkit.author, beside ci: the command line (a layer above both)
        # hands them over (golfkit.cli), so that ci imports nothing sideways.
        make = (click.get_current_context().find_root().obj or {}).get("check_extras")
        if make is None:
            raise GolfkitError("--check needs golfkit's command line: run it as `golfkit ci --check ...`")
        extra = make(probes=probes, trust_code=trust_code, unconfined=unconfined)
    if files_mode:
        if base is not None:
            raise click.UsageError("--files checks the working tree; it takes no --base")
        reports = verify_changed_files(list(files), repo, extra_checks=extra)
        if reports:
            click.echo(render(reports, fmt))
        click.get_current_context().exit(exit_code(reports))
    if base is None:
        raise click.UsageError("give --base REF (the branch the pull request goes into), or --files FILE...")
    if files:
        raise click.UsageError(f"unexpected arguments {' '.join(map(str, files))}: FILES go with --files")
    result = run_ci(repo, base, head, extra_checks=extra, against_auto=full)
    click.echo(render_result(result, fmt))
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as summary:
            summary.write(render_result(result, "markdown") + "\n")
    click.get_current_context().exit(exit_code(result.reports))
