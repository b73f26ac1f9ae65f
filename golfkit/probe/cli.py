"""`golfkit probe RECORD --trust-code`: run the record's own evaluators against the rules, in a sandbox."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from golfkit.errors import GolfkitError
from golfkit.report import FORMATS


@click.command()
@click.argument("record", type=click.Path(path_type=Path))
@click.option("--trust-code", is_flag=True,
              help="Required: the probe imports and runs the record's script (in a bubblewrap sandbox).")
@click.option("--unconfined", is_flag=True,
              help="Run the script without the sandbox when bubblewrap is missing (the report says so at its top). "
                   "Only on a machine you can afford to lose.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text",
              show_default=True, help="Report format.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(1, 3600), default=300.0, show_default=True,
              help="Wall-clock limit for the sandboxed run, in seconds.")
@click.option("--memory", "memory_mb", type=click.IntRange(512, 1 << 20), default=4096, show_default=True,
              help="Memory bound on the sandboxed run's whole process tree, in MB.")
@click.option("--evaluator", "only", multiple=True, help="Probe only this evaluator (repeatable).")
@click.option("--no-sweep", is_flag=True,
              help="Skip the normalization probe's sweep over the vocabulary (the slowest probe).")
def probe(record: Path, trust_code: bool, unconfined: bool, fmt: str, as_json: bool, timeout_s: float, memory_mb: int,
          only: tuple[str, ...], no_sweep: bool) -> None:
    """Probe RECORD's evaluation code (a record folder or a script): coverage, byte accounting, causality
    (C1), normalization (C2), score before update (C3), single pass (C4), document isolation.

    Exit 1 when a probe finds an error, 0 otherwise, 2 for bad input or a refusal.
    """
    if not trust_code:
        raise GolfkitError(f"{record}: probing runs the record's own code; re-run with --trust-code if you trust it "
                           "(it runs in a bubblewrap sandbox: no network, no access outside a temporary copy, limits)")
    from golfkit.probe.report import record_report
    from golfkit.probe.run import ProbeOptions, probe_record
    from golfkit.report import exit_code, render

    options = ProbeOptions(timeout_s=timeout_s, memory_mb=memory_mb, sweep=not no_sweep, only=only,
                           unconfined=unconfined)
    report = probe_record(record, options)
    reports = [record_report(report)]
    click.echo(render(reports, "json" if as_json else fmt))
    sys.exit(exit_code(reports))
