"""How a golfkit command may end, checked on click's CliRunner result.

CliRunner never prints a traceback: an uncaught exception leaves `result.exception` set, the output
empty and the exit code 1. So "no traceback" is checked on `result.exception`, not on the output.
"""

from __future__ import annotations

import traceback

import pytest
from click.testing import Result

PREFIX = "golfkit: error: "


def assert_no_crash(result: Result) -> None:
    """`result` ended without an uncaught exception; an exit 2 is one `golfkit: error:` line on stderr."""
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        pytest.fail("uncaught exception:\n" + "".join(traceback.format_exception(*result.exc_info)), pytrace=False)
    if result.exit_code == 2:
        lines = result.output.splitlines()
        assert len(lines) == 1 and lines[0].startswith(PREFIX), f"exit 2 without one {PREFIX!r} line:\n{result.output}"
        assert result.stderr == result.output, f"the error line is not on stderr:\n{result.output}"


def assert_usage_error(result: Result, *needles: str) -> str:
    """`result` is golfkit's answer to bad input: exit 2, one `golfkit: error:` line naming every needle.
    Returns that line."""
    assert_no_crash(result)
    assert result.exit_code == 2, f"exit {result.exit_code}, not 2:\n{result.output}"
    line = result.output.rstrip("\n")
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line
