"""`golfkit build` and `golfkit inspect`: argument parsing and rendering only."""

from __future__ import annotations

import json
from pathlib import Path

import click

from golfkit.errors import GolfkitError
from golfkit.facts import SIZE_CAP_BYTES
from golfkit.files import read_text


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
@click.option("--min-numel", default=65_536, show_default=True, help="Globs never quantize tensors this small.")
@click.option("--meta", "meta_file", type=click.Path(dir_okay=False), help="JSON object stored as the header's meta.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Artifact to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing artifact.")
@click.option("--explain", is_flag=True, help="Print the scheme each tensor gets, and why; build nothing.")
@click.option("--dry-run", is_flag=True, help="Build in memory and print the budget; write nothing. "
              "With --scheme, shows each tensor's byte change against the default policy.")
@click.option("--emit-loader", is_flag=True, help="Print the decoder snippet this artifact needs instead of the table.")
@click.option("--cap", default=SIZE_CAP_BYTES, show_default=True, help="Byte cap for code + loader + model.")
@click.option("--json", "as_json", is_flag=True, help="Print the budget as JSON.")
def build(checkpoint, code, minified, schemes, scheme_file, codec, min_numel, meta_file, output, force,
          explain, dry_run, emit_loader, cap, as_json) -> None:
    """Quantize CHECKPOINT by scheme, code and compress it, prove the round trip, and show the budget."""
    from golfkit.packing.checkpoint import load_checkpoint
    from golfkit.packing.part_codecs import parse_codec
    from golfkit.packing.pipeline import account_code, build_in_memory, check_cap, write_atomic
    from golfkit.packing.policy import assign, load_rules_toml, parse_rule

    rules = load_rules_toml(scheme_file) if scheme_file else []
    rules += [parse_rule(s) for s in schemes]
    spec = parse_codec(codec)
    if not (explain or dry_run or emit_loader or output):
        raise GolfkitError("say where to write the artifact: -o ARTIFACT (or use --dry-run / --explain)")
    if output and Path(output).exists() and not force and not (explain or dry_run):
        raise GolfkitError(f"{output}: already exists; pass --force to overwrite")
    meta = _read_meta(meta_file)
    state = load_checkpoint(checkpoint)
    if explain:
        rows = assign(state, rules, min_numel)
        if as_json:
            click.echo(json.dumps([{"name": a.name, "shape": list(state[a.name].shape), "scheme": a.scheme.text,
                                    "reason": a.reason} for a in rows], indent=1))
            return
        width = max(len(a.name) for a in rows)
        for a in rows:
            click.echo(f"{a.name:<{width}}  {list(state[a.name].shape)!s:<14} {a.scheme.text:<18} {a.reason}")
        return
    where = output or "artifact"
    built = build_in_memory(state, rules, spec, meta, min_numel, where)
    account_code(built, code, minified, cap)
    baseline = None
    if dry_run and rules:
        baseline = build_in_memory(state, [], spec, meta, min_numel, where).budget
    if not dry_run:
        check_cap(built.budget)
        if output:
            write_atomic(output, built.blob, force)
            built.budget.info = {"artifact": output, **built.budget.info}
    if emit_loader:
        click.echo(built.loader, nl=False)
    elif as_json:
        click.echo(json.dumps(built.budget.to_json(baseline), indent=1))
    else:
        from golfkit.packing.budget import render_text

        click.echo(render_text(built.budget, baseline))
        worst = max(built.errors.values(), key=lambda e: e["rel_rms"], default=None)
        if worst is not None:
            click.echo(f"\nround trip: every part decoded exactly; largest relative RMS error {worst['rel_rms']:.5f}")


def _read_meta(meta_file: str | None) -> dict:
    if not meta_file:
        return {}
    try:
        meta = json.loads(read_text(meta_file, 1 << 20, "a JSON object of metadata"))
    except json.JSONDecodeError as exc:
        raise GolfkitError(f"{meta_file}: not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise GolfkitError(f"{meta_file}: meta must be a JSON object")
    return meta


@click.command("inspect")
@click.argument("artifact", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--max-output", default=1 << 30, show_default=True, help="Refuse to decompress past this many bytes.")
def inspect_command(artifact, as_json, max_output) -> None:
    """Show what ARTIFACT holds and where its bytes go: golfkit containers and real records' formats."""
    from golfkit.packing.budget import render_text
    from golfkit.packing.inspect import inspect_artifact

    budget = inspect_artifact(artifact, max_output)
    click.echo(json.dumps(budget.to_json(), indent=1) if as_json else render_text(budget))
