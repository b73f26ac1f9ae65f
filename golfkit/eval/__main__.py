"""`python -m golfkit.eval ...` is `golfkit eval ...`; torchrun needs a module: `torchrun -m golfkit.eval`."""

import sys

import click

from golfkit.errors import GolfkitError, exit_bad_input
from golfkit.eval.cli import eval_command

if __name__ == "__main__":
    try:
        eval_command.main(standalone_mode=False)
    except GolfkitError as exc:
        exit_bad_input(exc)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
