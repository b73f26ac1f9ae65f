"""`golfkit verify PATH...`: parse arguments, call the library, pick a reporter."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TextIO

import click

from golfkit.errors import GolfkitError
from golfkit.report import FORMATS, exit_code, notices, render, visible
from golfkit.report import text as text_report
from golfkit.verify.api import find_folders, verify_folders


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
@click.option("--errors-only", is_flag=True,
              help="Show only the records that fail and their errors (text, github, markdown; JSON is always complete).")
@click.option("-v", "--verbose", is_flag=True, help="Text: list every info finding (default: one line per record).")
def verify(paths: tuple[Path, ...], as_json: bool, fmt: str, against: str | None, rerun: bool,
           rerun_data: Path | None, rerun_tokenizer: Path | None, rerun_artifact: Path | None,
           tolerance: float | None, probes: bool, trust_code: bool, unconfined: bool, errors_only: bool,
           verbose: bool) -> None:
    """Reconcile every claim of record folders with their logs and files.

    Text output prints each record's verdict as it is verified (with a progress line on stderr when
    that is a terminal). Exit 0 when no record has an error, 1 when one has, 2 for unusable input.
    """
    fmt = "json" if as_json else fmt
    if errors_only and fmt == "json":
        raise GolfkitError("--errors-only filters the human report; JSON output is always complete (filter it with "
                           "jq: .records[] | select(.verdict == \"fail\"))")
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
    folders = find_folders(list(paths))  # a bad path: exit 2 before any record is read
    run_notices: list[str] = []
    if runs_code and unconfined:
        from golfkit.sandbox import UNCONFINED_NOTICE

        run_notices.append(UNCONFINED_NOTICE)
    progress = Progress(sys.stderr, len(folders))
    reports = []
    streaming = fmt == "text"
    if streaming and run_notices:
        click.echo("\n".join(text_report.notice_lines(run_notices)))
    try:
        for report in verify_folders(folders, against=against, extra_checks=extra, on_start=progress.start):
            report.notices.extend(run_notices)
            reports.append(report)
            if streaming:
                lines = text_report.record_lines(report, verbose=verbose, errors_only=errors_only)
                if lines:
                    progress.clear()
                    click.echo("\n".join(lines))
    finally:
        progress.clear()
    if streaming:
        late = [n for n in notices(reports) if n not in run_notices]  # a check's notice, known only now
        click.echo("\n".join([*text_report.notice_lines(late), text_report.summary_line(reports)]))
    else:
        click.echo(render(reports, fmt, verbose=verbose, only_errors=errors_only), nl=False)
    sys.exit(exit_code(reports))


class StatusLine:
    """One line of a terminal's `stream`, redrawn in place (`show`) and wiped (`clear`); a pipe or a file
    gets nothing. verify's per-folder progress and check's steps both draw through it."""

    def __init__(self, stream: TextIO, enabled: bool | None = None) -> None:
        self.stream = stream
        self.enabled = _is_tty(stream) if enabled is None else enabled
        self.shown = False

    def show(self, text: str) -> None:
        if self.enabled:
            self.stream.write(f"\r\x1b[K{text}")
            self.stream.flush()
            self.shown = True

    def clear(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


class Progress(StatusLine):
    """`[3/60] records/.../folder` while a folder is verified. Names are shown escaped."""

    def __init__(self, stream: TextIO, total: int, enabled: bool | None = None, width: int | None = None) -> None:
        super().__init__(stream, enabled)
        self.total = total
        self.width = width or shutil.get_terminal_size((100, 20)).columns

    def start(self, index: int, folder: Path) -> None:
        if not self.enabled:
            return
        head = f"[{index + 1}/{self.total}] "
        name = visible(folder)
        room = max(10, self.width - len(head) - 1)
        if len(name) > room:
            name = "..." + name[-(room - 3):]
        self.show(f"{head}{name}")


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
