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


def test_the_wheel_lists_every_package_and_ships_the_templates():
    """pyproject.toml lists golfkit's packages by hand (templates/ goes into the wheel as golfkit.templates,
    which package discovery cannot map): a package added to golfkit/ must be added there too.
    .ci/run builds the wheel and runs `golfkit new --help` and the example generator from it."""
    from fnmatch import fnmatch
    from pathlib import Path

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(root).parts) for p in (root / "golfkit").rglob("__init__.py")}
    assert set(config["packages"]) == on_disk | {"golfkit.templates"}
    assert config["package-dir"] == {"golfkit.templates": "templates"}
    shipped = config["package-data"]["golfkit.templates"]
    templates = {p.relative_to(root / "templates").as_posix() for p in (root / "templates").rglob("*") if p.is_file()}
    assert all(any(fnmatch(name, pattern) for pattern in shipped) for name in templates), templates


def test_template_lookups_find_the_templates():
    """In a wheel the templates sit in golfkit/templates; from the source tree in templates/ (.ci/run checks
    the wheel)."""
    from golfkit import example
    from golfkit.author import new_record

    assert example.TRAINER.is_file() and example.TRAINER.name == "train_gpt.py"
    assert "${results_table}" in new_record._template_text()
