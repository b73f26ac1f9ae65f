"""`golfkit minify` and `golfkit unwrap`: argument parsing and printing only."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from golfkit.errors import EXIT_FINDINGS, GolfkitError
from golfkit.files import MAX_SCRIPT_BYTES, read_bytes, read_source
from golfkit.findings import Severity
from golfkit.minify.wrap import ALL_CODECS, STDLIB_CODECS, require_codecs
from golfkit.sandbox import UNCONFINED_NOTICE
from golfkit.writes import refuse_existing, write_file

_MAX_OUTPUT = 64 << 20


def _codecs(value: str) -> tuple[str, ...]:
    if value == "all":
        return ALL_CODECS
    if value == "stdlib":
        return STDLIB_CODECS
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in ALL_CODECS]
    if unknown or not names:
        raise GolfkitError(f"--codecs {value!r}: use all, stdlib, or a comma list of {', '.join(ALL_CODECS)}")
    return names


_PROOF_HELP = ("behaviour (default): also import the original and the packed script in golfkit's sandbox and "
               "compare what they define and a small model's loss; static: only decode and compile")


@click.command()
@click.argument("script", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path),
              help="Where to write the result (default: SCRIPT with suffix .min.py).")
@click.option("--wrap", type=click.Choice(["auto", "none", "latin1", "radix124", "ascii7", "base85"]), default="auto",
              show_default=True,
              help="auto: the smallest of plain and latin1, radix124, ascii7 and base85 wrappers (ASCII only for a "
                   "script that reads itself as text); none: minify only; latin1/radix124/ascii7/base85: wrap with "
                   "that encoding.")
@click.option("--codecs", "codec_list", default="all", show_default=True,
              help="Compressors to try: all (those installed), stdlib (lzma, zlib), or a comma list of "
                   "lzma,zlib,zstd,brotli,ppmd (each must be installed).")
@click.option("--check", is_flag=True,
              help="Do not minify: prove that SCRIPT (a wrapper, ours or a record's) decodes, compiles and behaves "
                   "like the original (--original, else its own payload).")
@click.option("--original", type=click.Path(path_type=Path),
              help="With --check: the readable source (or a wrapper of it) SCRIPT must match.")
@click.option("--proof", type=click.Choice(["behaviour", "static"]), default="behaviour", show_default=True,
              help=_PROOF_HELP)
@click.option("--unconfined", is_flag=True,
              help="Run the behaviour proof without the sandbox (no bubblewrap here, and you trust the script).")
@click.option("--json", "as_json", is_flag=True, help="Print the measurements as JSON.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def minify(script: Path, out: Path | None, wrap: str, codec_list: str, check: bool, original: Path | None,
           proof: str, unconfined: bool, as_json: bool, force: bool) -> None:
    """Minify SCRIPT, wrap it in the smallest self-extracting file, and prove it is the same program."""
    from golfkit.minify.behaviour import BehaviourOptions, require_sandbox

    behaviour = BehaviourOptions(unconfined=unconfined) if proof == "behaviour" else None
    if check:
        _check(script, original, as_json, behaviour)
        return
    if original is not None:
        raise GolfkitError("--original goes with --check (minify reads the original from SCRIPT)")
    from golfkit.minify.packer import pack

    codecs = _codecs(codec_list)
    if codec_list not in ("all", "stdlib"):
        require_codecs(codecs)
    target = out or script.with_suffix(".min.py")
    _check_target(target, script, force)  # before the work: a refusal costs nothing
    if behaviour is not None:
        require_sandbox(str(script), behaviour)
    packed = pack(read_source(script), str(script), wrap, codecs, _MAX_OUTPUT)
    if packed.ok and behaviour is not None:
        from golfkit.minify.behaviour import prove_behaviour

        found = prove_behaviour(packed.source, packed.output, str(script), script_name=script.name,
                                folder=script.parent, options=behaviour)
        packed = replace(packed, findings=packed.findings + tuple(found))
    if packed.ok:
        write_file(target, packed.output, force=force)
    if as_json:
        click.echo(json.dumps(packed.to_json() | {"output": str(target) if packed.ok else None,
                                                  "proof": proof, "unconfined": unconfined}, indent=2))
    else:
        if unconfined and behaviour is not None:
            click.echo(f"notice: {UNCONFINED_NOTICE}")
        _print_table(packed, target, proof)
    if not packed.ok:
        sys.exit(EXIT_FINDINGS)


def _check_target(target: Path, source: Path, force: bool) -> None:
    """Refuse to write over the input (even with --force) or over an existing file without --force."""
    if os.path.lexists(source) and os.path.lexists(target) and os.path.samefile(target, source):
        raise GolfkitError(f"{target}: refusing to overwrite the input; give another -o path")
    refuse_existing(target, force)


def _print_table(packed, target: Path, proof: str = "behaviour") -> None:
    rows = [("raw", packed.raw_bytes, "")]
    if packed.input_layers:
        rows[0] = ("raw (a wrapper)", packed.raw_bytes, " > ".join(packed.input_layers))
    opts = ", ".join(k for k, v in packed.minified.options.to_json().items() if v is True)
    rows.append(("minified", len(packed.minified.source.encode("utf-8")), opts))
    for c in sorted(packed.candidates, key=lambda c: (c.size, c.name)):
        rows.append((f"  {c.name}", c.size, f"payload {c.payload_bytes:,}"))
    recipe = packed.records_recipe_bytes
    rows.append(("records' recipe", recipe if recipe is not None else "-", "python-minifier, lzma, base85"))
    chosen = packed.chosen.name if packed.chosen else "minified (plain)"
    note = ""
    if recipe:
        note = f"saved {recipe - len(packed.output):,} vs records' recipe ({len(packed.output) / recipe:.3f}x)"
    rows.append((f"chosen: {chosen}", len(packed.output), note))
    width = max(len(r[0]) for r in rows)
    click.echo(f"{packed.where} -> {target if packed.ok else '(nothing written)'}")
    for label, size, extra in rows:
        size_text = f"{size:>10,}" if isinstance(size, int) else f"{size:>10}"
        click.echo(f"  {label:<{width}} {size_text}  {extra}".rstrip())
    for f in packed.findings:
        where = f":{f.line}" if f.line else ""
        click.echo(f"  {f.severity.value}: {f.id}{where}: {f.message}")
    if proof == "static" and packed.ok:
        click.echo("  BEHAVIOUR NOT PROVEN (--proof static): only decoding and compiling were checked")


def _check(path: Path, original: Path | None, as_json: bool, behaviour) -> None:
    from golfkit.minify.proof import proof_summary, prove
    from golfkit.wrappers import unwrap_source

    text = read_source(path)
    source = read_source(original) if original else None
    notes: list[str] = []
    if source is not None:
        # a record's wrapper given as the original: what it runs is its payload
        decoded = unwrap_source(source, _MAX_OUTPUT, where=str(original))
        if decoded is not None:
            source = decoded.source
            notes.append(f"{original} is a wrapper ({' > '.join(decoded.layers)}): compared with its payload")
    if behaviour is not None:
        from golfkit.minify.behaviour import require_sandbox

        require_sandbox(str(path), behaviour)
    findings = [proof_summary(text, str(path))]
    findings += prove(text, None, source, str(path), str(original) if original else None)
    static_ok = not any(f.severity == Severity.ERROR for f in findings)
    behaved = False
    if behaviour is not None and static_ok:
        baseline = source
        if baseline is None:
            own = unwrap_source(text, _MAX_OUTPUT, where=str(path))
            baseline = own.source if own is not None else None
            if baseline is not None:
                notes.append(f"no --original: {path} is compared with its own payload run as a plain file")
        if baseline is None:
            notes.append(f"behaviour not compared: {path} is plain source and no --original was given")
        else:
            from golfkit.minify.behaviour import prove_behaviour

            findings += prove_behaviour(baseline, read_bytes(path, MAX_SCRIPT_BYTES, "a Python script"), str(path),
                                        script_name=path.name, folder=path.parent, options=behaviour,
                                        original_where=str(original) if original else None)
            behaved = True
    failed = any(f.severity == Severity.ERROR for f in findings)
    if as_json:
        click.echo(json.dumps({"file": str(path), "notes": notes, "findings": [f.to_json() for f in findings],
                               "proof": "behaviour" if behaviour is not None else "static",
                               "unconfined": bool(behaviour and behaviour.unconfined)}, indent=2))
    else:
        if behaviour is not None and behaviour.unconfined:
            click.echo(f"notice: {UNCONFINED_NOTICE}")
        for note in notes:
            click.echo(f"note: {note}")
        for f in findings:
            where = f":{f.line}" if f.line else ""
            click.echo(f"{f.severity.value}: {f.id}{where}: {f.message}")
        if not failed:
            what = "definitions and imports match the original" if original else "no original given to compare"
            click.echo(f"ok: {path} decodes without running and compiles; {what}")
            if not behaved:
                click.echo("  BEHAVIOUR NOT PROVEN: " + ("--proof static" if behaviour is None else "nothing to compare with"))
    if failed:
        sys.exit(EXIT_FINDINGS)


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), help="Write the decoded source here.")
@click.option("--max-output", type=click.IntRange(min=1), default=_MAX_OUTPUT, show_default=True,
              help="Refuse payloads that decompress to more bytes than this.")
@click.option("--force", is_flag=True, help="With -o: overwrite an existing file.")
def unwrap(file: Path, out: Path | None, max_output: int, force: bool) -> None:
    """Print the decoded source of a self-extracting wrapper, without running it."""
    from golfkit.wrappers import unwrap_source

    if out:
        _check_target(out, file, force)
    unwrapped = unwrap_source(read_source(file), max_output, where=str(file))
    if unwrapped is None:
        raise GolfkitError(f"{file}: not a self-extracting wrapper (it runs as written); read it directly")
    click.echo(f"# golfkit unwrap: {file}: {' > '.join(unwrapped.layers)}", err=True)
    if out:
        write_file(out, unwrapped.source, force=force)
    else:
        click.echo(unwrapped.source, nl=False)
