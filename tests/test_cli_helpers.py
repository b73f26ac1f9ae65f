"""The CLI-ending checks of tests/cli_helpers.py fail when they should: on a crash, on a messy exit 2."""

from __future__ import annotations

import click
import pytest
from cli_helpers import assert_no_crash, assert_usage_error
from click.testing import CliRunner

from golfkit.cli import main
from golfkit.errors import GolfkitError


@click.command()
@click.argument("how")
def toy(how: str) -> None:
    if how == "crash":
        raise KeyError("boom")
    if how == "uncaught-golfkit-error":
        raise GolfkitError("not caught by golfkit's group")
    if how == "two-lines":
        click.echo("golfkit: error: first\nsecond", err=True)
        raise SystemExit(2)
    if how == "on-stdout":
        click.echo("golfkit: error: printed to stdout")
        raise SystemExit(2)
    click.echo("fine")


@pytest.mark.parametrize("how", ["crash", "uncaught-golfkit-error", "two-lines", "on-stdout"])
def test_a_crash_or_a_messy_exit_2_fails_the_checks(how):
    result = CliRunner().invoke(toy, [how])
    with pytest.raises((pytest.fail.Exception, AssertionError)):
        assert_no_crash(result)
    with pytest.raises((pytest.fail.Exception, AssertionError)):
        assert_usage_error(result)


def test_the_crash_is_shown_with_its_traceback():
    result = CliRunner().invoke(toy, ["crash"])
    with pytest.raises(pytest.fail.Exception, match=r"(?s)Traceback.*KeyError: 'boom'"):
        assert_no_crash(result)


def test_a_clean_exit_2_passes_and_a_clean_exit_0_is_no_usage_error(tmp_path):
    bad = tmp_path / "not_a_shard.bin"
    bad.write_bytes(b"\x00" * 2000)
    line = assert_usage_error(CliRunner().invoke(main, ["data", "check", str(bad)]), "wrong magic")
    assert line.startswith("golfkit: error: ")
    fine = CliRunner().invoke(toy, ["ok"])
    assert_no_crash(fine)
    with pytest.raises(AssertionError):
        assert_usage_error(fine)
    with pytest.raises(AssertionError):
        assert_usage_error(CliRunner().invoke(main, ["data", "check", str(bad)]), "a needle it lacks")
