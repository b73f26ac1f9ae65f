"""Errors that reach a person: bad input they can fix. The CLI prints them and exits 2.

The exit statuses of every golfkit command, written once: 0 fine, 1 findings of severity error
(`golfkit.report.exit_code`), 2 bad input or usage (`exit_bad_input`, `report_bad_input`).
"""

from __future__ import annotations

import sys
from typing import NoReturn

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2


class GolfkitError(Exception):
    """Bad input or usage. The message says what is wrong, where, and what to do."""


def report_bad_input(exc: GolfkitError) -> int:
    """Print `exc` as one line on stderr (`golfkit: error: ...`, no traceback); the status to exit with."""
    print(f"golfkit: error: {exc}", file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


def exit_bad_input(exc: GolfkitError) -> NoReturn:
    """Print `exc` as one line on stderr and exit 2."""
    raise SystemExit(report_bad_input(exc))
