"""`golfkit build` and `golfkit inspect`: argument parsing and rendering only."""

from __future__ import annotations

import json
import sys

import click

from golfkit.facts import SIZE_CAP_BYTES


@click.command("build")
@click.option("--checkpoint", "checkpoint", required=True, type=click.Path(dir_okay=False),
              help="Float state dict: torch.save (.pt, loaded weights-only) or .safetensors.")
@click.option("--code", type=click.Path(dir_okay=False), help="train_gpt.py whose bytes count in the budget.")
@click.option("--minified", is_flag=True, help="Count the code as `golfkit minify` would pack it.")
@click.option("--scheme", "schemes", multiple=True, metavar="PATTERN=SCHEME",
              help="Scheme for tensors matching a glob, e.g. 'blocks.*.mlp.*=int6_row:std12'. Last match wins.")
@click.option("--schemes", "scheme_file", type=click.Path(dir_okay=False), help="TOML file with a [schemes] table.")
@click.option("--codec", default="best", show_default=True,
              help="best, ans, zstd, zlib, or NAME[-LEVEL][-long][:row|col|shuffle] (NAME: none zlib zstd lzma xz brotli).")
@click.option("--min-numel", default="auto", show_default=True, metavar="N|auto",
              help="Globs and the default policy never quantize tensors of at most N values. auto: 65,536 (the "
                   "records' threshold), or 256 for a small model whose matrices are nearly all smaller.")
@click.option("--meta", "meta_file", type=click.Path(dir_okay=False),
              help="JSON object stored in the header's meta (on top of what the checkpoint and the log tell).")
@click.option("--log", "log", type=click.Path(dir_okay=False),
              help="The trainer's log of this run: rope_base, logit_softcap, train_seq_len and seed for the header "
                   "(default: the log beside the checkpoint, logs/*.txt, that printed its size).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Artifact to write.")
@click.option("--loader", type=click.Path(dir_okay=False),
              help="Also write the decoder snippet a version-2 artifact needs here (e.g. artifact_loader.py).")
@click.option("--force", is_flag=True, help="Overwrite an existing artifact (and loader).")
@click.option("--explain", is_flag=True, help="Print the scheme each tensor gets, and why; build nothing.")
@click.option("--dry-run", is_flag=True, help="Build in memory and print the budget; write nothing. "
              "With --scheme, shows each tensor's byte change against the default policy.")
@click.option("--emit-loader", is_flag=True, help="Print the decoder snippet this artifact needs instead of the table.")
@click.option("--cap", default=SIZE_CAP_BYTES, show_default=True, help="Byte cap for code + loader + model.")
@click.option("--json", "as_json", is_flag=True, help="Print the budget as JSON.")
@click.option("--fit", "fit", is_flag=False, flag_value="auto", default=None, metavar="[BYTES]",
              help="Choose each large matrix's scheme to least calibration loss under BYTES of model (default: the "
                   "cap minus the code and the decoder); needs --calib. With --explain: the trade against uniform "
                   "int5-int8 and a hand policy.")
@click.option("--calib", type=click.Path(), help="--fit's calibration set: a folder of training shards "
              "(fineweb_train_*.bin) and their tokenizer; validation shards are refused.")
@click.option("--calib-tokens", default=16_384, show_default=True, help="Calibration tokens --fit reads.")
@click.option("--gptq/--no-gptq", default=True, show_default=True,
              help="--fit: GPTQ error compensation of the chosen integer schemes (kept only when it lowers the "
                   "calibration loss).")
def build(checkpoint, code, minified, schemes, scheme_file, codec, min_numel, meta_file, log, output, loader, force,
          explain, dry_run, emit_loader, cap, as_json, fit, calib, calib_tokens, gptq) -> None:
    """Quantize CHECKPOINT by scheme, code and compress it, prove the round trip, and show the budget.

    The header records the model's architecture and train_seq_len (from the checkpoint's shapes and the
    trainer's log), so that `golfkit eval ARTIFACT` needs no architecture flag."""
    from golfkit.packing.codec_names import check_codec

    check_codec(codec)  # a typo is refused before torch is even imported
    numel = _min_numel(min_numel)
    from golfkit.packing.run import BuildOptions, render_build, render_explanation, run_build

    options = BuildOptions(checkpoint=checkpoint, code=code, minified=minified, schemes=schemes,
                           scheme_file=scheme_file, codec=codec, min_numel=numel, meta_file=meta_file, log=log,
                           output=output, loader=loader, force=force, explain=explain, dry_run=dry_run,
                           emit_loader=emit_loader, cap=cap, fit=_fit_bytes(fit), calib=calib,
                           calib_tokens=calib_tokens, progress=sys.stderr.isatty(), gptq=gptq)
    result = run_build(options)
    if result.fit is not None:
        from golfkit.packing.fit import render_fit

        if options.progress:
            click.echo("\r\033[K", nl=False, err=True)
        if as_json:
            click.echo(json.dumps({**result.built.budget.to_json(), "fit": result.fit.to_json()}, indent=1))
        else:
            click.echo(render_build(result.built, None) + "\n\n" + render_fit(result.fit))
    elif result.explanation is not None:
        if as_json:
            click.echo(json.dumps({"tensors": result.explanation, "notes": result.notes or []}, indent=1))
        else:
            click.echo(render_explanation(result.explanation, result.notes))
    elif emit_loader:
        click.echo(result.built.loader, nl=False)
    elif as_json:
        click.echo(json.dumps(result.built.budget.to_json(result.baseline), indent=1))
    else:
        click.echo(render_build(result.built, result.baseline))


def _fit_bytes(text: str | None) -> str | None:
    """--fit: None (no fit), "auto", or a positive number of model bytes as text."""
    from golfkit.errors import GolfkitError

    if text is None or text.strip().lower() == "auto":
        return text and "auto"
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise GolfkitError(f"--fit {text!r}: give the model's bytes (e.g. 15,000,000), or nothing for the cap "
                           "minus the code and the decoder") from None
    if value <= 0:
        raise GolfkitError(f"--fit {value}: the model's bytes must be positive")
    return str(value)


def _min_numel(text: str) -> int | None:
    """--min-numel: None for auto, else a non-negative integer."""
    from golfkit.errors import GolfkitError

    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise GolfkitError(f"--min-numel {text!r}: give a number of values (e.g. 4096) or auto") from None
    if value < 0:
        raise GolfkitError(f"--min-numel {value}: must be 0 or more (or auto)")
    return value


@click.command("inspect")
@click.argument("artifact", type=click.Path())  # golfkit's reader refuses a folder in one line
@click.option("--code", type=click.Path(dir_okay=False),
              help="The script shipped with it: its bytes count in the total (with the loader a version-2 file needs).")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--max-output", default=1 << 30, show_default=True, help="Refuse to decompress past this many bytes.")
def inspect_command(artifact, code, as_json, max_output) -> None:
    """Show what ARTIFACT holds and where its bytes go: golfkit containers and real records' formats.

    The total is code (with --code) + the decoder a version-2 golfkit container needs + the file."""
    from golfkit.packing.budget import render_text
    from golfkit.packing.inspect import inspect_artifact

    budget = inspect_artifact(artifact, max_output, code=code)
    click.echo(json.dumps(budget.to_json(), indent=1) if as_json else render_text(budget))
