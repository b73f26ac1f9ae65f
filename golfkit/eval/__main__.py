"""`python -m golfkit.eval ...` is `golfkit eval ...`; torchrun needs a module: `torchrun -m golfkit.eval`."""

import os
import sys

import click

from golfkit.errors import EXIT_OK, GolfkitError, report_bad_input
from golfkit.eval.cli import eval_command
from golfkit.eval.evaluate import finish_distributed


def run(argv: list[str] | None = None) -> int:
    """The exit status of `golfkit eval ARGV` (bad input: one line on stderr and 2)."""
    try:
        result = eval_command.main(argv, standalone_mode=False)
    except GolfkitError as exc:
        return report_bad_input(exc)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    finally:
        finish_distributed()
    return result if isinstance(result, int) else EXIT_OK


if __name__ == "__main__":
    status = run()
    sys.stdout.flush()
    sys.stderr.flush()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Under torchrun, torch's background threads can abort a rank in the interpreter's exit after its
        # work is done ("terminate called without an active exception", 1 run in 6 on a busy CPU): leave at once.
        os._exit(status)
    sys.exit(status)
