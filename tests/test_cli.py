"""The command line as a whole: every command loads, bad input is one line and exit 2."""

from __future__ import annotations

from cli_helpers import assert_usage_error
from click.testing import CliRunner

from golfkit.cli import COMMANDS, main


def test_every_listed_command_loads_and_has_help():
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    for name in COMMANDS:
        assert name in top.output
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage: main " + name in result.output or f"Usage: golfkit {name}" in result.output


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "not_a_shard.bin"
    bad.write_bytes(b"\x00" * 2000)
    assert_usage_error(CliRunner().invoke(main, ["data", "check", str(bad)]), "wrong magic")


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output
