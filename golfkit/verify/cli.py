"""`golfkit verify PATH...`: parse arguments, call the library, pick a reporter."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from golfkit.report import FORMATS, render
from golfkit.verify.api import verify_paths


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Report format: human text, JSON, GitHub annotations, Markdown summary.")
@click.option("--against", metavar="DIR|auto", default=None,
              help="Compare seed statistics with this record folder, or `auto`: the best record of the same track.")
def verify(paths: tuple[Path, ...], as_json: bool, fmt: str, against: str | None) -> None:
    """Reconcile every claim of record folders with their logs and files.

    Exit 0 when no record has an error, 1 when one has, 2 for unusable input.
    """
    reports = verify_paths(list(paths), against=against)
    click.echo(render(reports, "json" if as_json else fmt), nl=False)
    sys.exit(1 if any(report.verdict == "fail" for report in reports) else 0)
