"""`golfkit verify PATH...`: parse arguments, call the library, pick a reporter."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from golfkit.errors import GolfkitError
from golfkit.report import FORMATS, exit_code, render
from golfkit.verify.api import verify_paths


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Report format: human text, JSON, GitHub annotations, Markdown summary.")
@click.option("--against", metavar="DIR|auto", default=None,
              help="Compare seed statistics with this record folder, or `auto`: the best record of the same track.")
@click.option("--rerun", is_flag=True,
              help="Re-run the round-trip and sliding-window evaluation from each artifact and compare with the claims.")
@click.option("--rerun-data", type=click.Path(path_type=Path), default=None,
              help="Folder of fineweb_val_*.bin for --rerun (default: the record folder).")
@click.option("--rerun-tokenizer", type=click.Path(path_type=Path), default=None,
              help="SentencePiece model for --rerun (default: the record's *.model).")
@click.option("--rerun-artifact", type=click.Path(path_type=Path), default=None,
              help="Artifact for --rerun (default: every *.ptz in the record folder).")
@click.option("--tolerance", type=float, default=None,
              help="Largest accepted |re-run - claim| (default 1e-4, or half a unit of the claim's last decimal).")
@click.option("--probes", is_flag=True, help="Run the legality probes on the record's own evaluator (needs --trust-code).")
@click.option("--trust-code", is_flag=True,
              help="Allow running the record's own code, in golfkit's bubblewrap sandbox: for --probes, and for "
                   "--rerun of architectures other than golfkit's reference family.")
@click.option("--unconfined", is_flag=True,
              help="With --trust-code where bubblewrap is missing: run the record's code without the sandbox (every "
                   "report says so at its top). Only on a machine you can afford to lose.")
def verify(paths: tuple[Path, ...], as_json: bool, fmt: str, against: str | None, rerun: bool,
           rerun_data: Path | None, rerun_tokenizer: Path | None, rerun_artifact: Path | None,
           tolerance: float | None, probes: bool, trust_code: bool, unconfined: bool) -> None:
    """Reconcile every claim of record folders with their logs and files.

    Exit 0 when no record has an error, 1 when one has, 2 for unusable input.
    """
    extra = []
    runs_code = trust_code and (probes or rerun)
    if unconfined and not runs_code:
        raise GolfkitError("--unconfined only applies with --trust-code and --probes or --rerun")
    if runs_code:
        from golfkit.sandbox import require

        require(unconfined)  # no sandbox, no run: exit 2 before any record is read
    if rerun:
        from golfkit.verify.plugins.rerun import DEFAULT_TOLERANCE, rerun_check

        extra.append(rerun_check(data=rerun_data, tokenizer=rerun_tokenizer, artifact=rerun_artifact,
                                 tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
                                 trust_code=trust_code, unconfined=unconfined))
    elif rerun_data or rerun_tokenizer or rerun_artifact or tolerance is not None:
        raise GolfkitError("--rerun-data/--rerun-tokenizer/--rerun-artifact/--tolerance only apply with --rerun")
    if probes:
        if not trust_code:
            raise GolfkitError("--probes runs the record's own code: add --trust-code if you trust it (it runs sandboxed)")
        from golfkit.probe.run import ProbeOptions
        from golfkit.verify.plugins.probes import make_probe_check

        extra.append(make_probe_check(ProbeOptions(unconfined=unconfined)))
    reports = verify_paths(list(paths), against=against, extra_checks=extra)
    if runs_code and unconfined:
        from golfkit.sandbox import UNCONFINED_NOTICE

        for report in reports:
            report.notices.append(UNCONFINED_NOTICE)
    click.echo(render(reports, "json" if as_json else fmt), nl=False)
    sys.exit(exit_code(reports))
