"""The `golfkit` command line: parses arguments, calls the library, picks a reporter.

Subcommands are imported only when run, so that `golfkit verify` never pays for importing torch.
Bad input (a GolfkitError) is printed as one line and exits 2; no traceback.
"""

from __future__ import annotations

import importlib

import click

from golfkit import __version__
from golfkit.errors import GolfkitError, exit_bad_input

# name -> "module:attribute" of a click command
COMMANDS = {
    "verify": "golfkit.verify.cli:verify",
    "build": "golfkit.packing.cli:build",
    "inspect": "golfkit.packing.cli:inspect_command",
    "minify": "golfkit.minify.cli:minify",
    "unwrap": "golfkit.minify.cli:unwrap",
    "eval": "golfkit.eval.cli:eval_command",
    "probe": "golfkit.probe.cli:probe",
    "new": "golfkit.author.cli:new",
    "check": "golfkit.author.cli:check",
    "ci": "golfkit.ci.cli:ci",
    "plot": "golfkit.author.cli:plot",
    "data": "golfkit.data.cli:data",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GolfkitError as exc:
            exit_bad_input(exc)


def check_extras(**options) -> list:
    """The parts of `golfkit check` beyond verify, as verify's extra checks, for `golfkit ci --check`
    (ci and author share a layer: this layer above both connects them)."""
    from golfkit.author.check import CheckOptions, check_options_valid, extra_checks

    opts = CheckOptions(**options)
    check_options_valid(opts)
    return extra_checks(opts)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="golfkit")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Package and verify Parameter Golf submissions."""
    ctx.ensure_object(dict)["check_extras"] = check_extras
