"""`python -m golfkit.eval ...` is `golfkit eval ...`; torchrun needs a module: `torchrun -m golfkit.eval`."""

import sys

import click

from golfkit.errors import GolfkitError
from golfkit.eval.cli import eval_command

if __name__ == "__main__":
    try:
        eval_command.main(standalone_mode=False)
    except GolfkitError as exc:
        click.echo(f"golfkit: error: {exc}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
