"""The whole minify pipeline: source -> (unwrap) -> minify -> candidate wrappers -> smallest -> proof."""

from __future__ import annotations

import base64
import lzma
from dataclasses import dataclass

from golfkit.errors import GolfkitError
from golfkit.findings import Finding, Severity, info, warning
from golfkit.minify import minify as minify_mod
from golfkit.minify.minify import Minified
from golfkit.minify.proof import definitions, imports, prove
from golfkit.minify.wrap import (
    ALL_CODECS,
    ENCODINGS,
    INSTALL,
    RADIX_MAX_PAYLOAD,
    RUNTIME_MODULE,
    STDLIB_CODECS,
    TEXT_SAFE_ENCODINGS,
    Candidate,
    available_codecs,
    candidates,
    missing_codecs,
)
from golfkit.wrappers import MAX_LAYER_BYTES, unwrap_source

WRAP_CHOICES = ("auto", "none") + ENCODINGS


@dataclass(frozen=True)
class Packed:
    """Everything `golfkit minify` measured and produced for one script."""

    where: str
    raw_bytes: int
    input_layers: tuple[str, ...]
    minified: Minified
    candidates: tuple[Candidate, ...]
    chosen: Candidate | None  # None: the plain minified source is the output
    output: bytes
    records_recipe_bytes: int | None
    findings: tuple[Finding, ...]
    source: str = ""  # the program minified: the script, or a wrapper's decoded payload

    @property
    def ok(self) -> bool:
        return not any(f.severity == Severity.ERROR for f in self.findings)

    def to_json(self) -> dict:
        return {
            "script": self.where,
            "raw_bytes": self.raw_bytes,
            "input_layers": list(self.input_layers),
            "minified_bytes": len(self.minified.source.encode("utf-8")),
            "minify_options": self.minified.options.to_json(),
            "candidates": [{"name": c.name, "codec": c.codec, "encoding": c.encoding,
                            "payload_bytes": c.payload_bytes, "bytes": c.size} for c in self.candidates],
            "chosen": self.chosen.name if self.chosen else "minified",
            "output_bytes": len(self.output),
            "records_recipe_bytes": self.records_recipe_bytes,
            "saved_vs_records_recipe": (self.records_recipe_bytes - len(self.output)
                                        if self.records_recipe_bytes is not None else None),
            "proof_ok": self.ok,
            "findings": [f.to_json() for f in self.findings],
        }


def records_recipe(source: str) -> bytes:
    """What records ship: python-minifier (--no-rename-locals --no-hoist-literals
    --remove-literal-statements), raw LZMA2 preset 9e, base85 in an exec."""
    import python_minifier

    minified = python_minifier.minify(source, rename_locals=False, hoist_literals=False,
                                      remove_literal_statements=True)
    blob = lzma.compress(minified.encode("utf-8"), format=lzma.FORMAT_RAW,
                         filters=[{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}])
    return (
        'import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("' + base64.b85encode(blob).decode()
        + '"),format=L.FORMAT_RAW,filters=[{"id":L.FILTER_LZMA2}]))\n'
    ).encode("ascii")


def pack(text: str, where: str = "script", wrap: str = "auto", codecs: tuple[str, ...] = ALL_CODECS,
         max_output: int = MAX_LAYER_BYTES) -> Packed:
    """Minify `text` (a script, or a wrapper whose payload is minified instead), wrap it when that is
    smaller, and prove the result. Raises GolfkitError for input that is not a Python program."""
    if wrap not in WRAP_CHOICES:
        raise GolfkitError(f"--wrap {wrap!r}: choose from {', '.join(WRAP_CHOICES)}")
    findings: list[Finding] = []
    unwrapped = unwrap_source(text, max_output, where=where)
    source = text
    if unwrapped is not None:
        source = unwrapped.source
        findings.append(info(
            "minify.input.wrapper",
            f"the input is already a wrapper ({' > '.join(unwrapped.layers)}); its payload is minified "
            "and wrapped once",
            file=where, evidence={"layers": list(unwrapped.layers)},
        ))
    minified = minify_mod.minify_source(source, where)
    findings += minified.findings
    tree = minify_mod.parse(source, where)  # parsed (bounded) by minify_source just above
    traps = minify_mod.traps(tree, where)
    encodings = ENCODINGS if wrap == "auto" else ((wrap,) if wrap != "none" else ())
    self_read = next((f for f in traps if f.id == "minify.trap.reads_own_file"), None)
    if self_read is not None and wrap not in ("auto", "none") and wrap not in TEXT_SAFE_ENCODINGS:
        line = f":{self_read.line}" if self_read.line else ""
        raise GolfkitError(
            f"{where}{line}: the script reads its own file as UTF-8 text ({self_read.evidence['call'][:60]}); a {wrap} "
            "wrapper is not UTF-8, so it would fail there with UnicodeDecodeError: use --wrap ascii7 or base85 (or "
            "auto; radix124 too), or make the script read Path(__file__).read_bytes()")
    if wrap == "auto" and self_read is not None:
        encodings = TEXT_SAFE_ENCODINGS
    usable = available_codecs(codecs)
    missing = missing_codecs(codecs)
    found = tuple(candidates(minified.source, usable, encodings)) if encodings and minified.source else ()
    if wrap == "radix124" and minified.source and not found:
        raise GolfkitError(f"{where}: --wrap radix124: the compressed program is over {RADIX_MAX_PAYLOAD:,} bytes, and a "
                           "radix124 wrapper decodes in time quadratic in its size; use --wrap ascii7 (or auto)")
    plain = minified.source.encode("utf-8")
    best = min(found, key=lambda c: (c.size, c.name), default=None)
    chosen = best if best is not None and (best.size < len(plain) or wrap != "auto") else None
    output = chosen.data if chosen else plain
    if chosen is not None:
        findings += traps
        module = chosen.codec
        if module not in STDLIB_CODECS:
            findings.append(warning(
                "minify.wrap.needs_module",
                f"the wrapped script imports {_runtime(module)} to decode itself: list it in the record's "
                f"requirements.txt, or use --codecs {','.join(STDLIB_CODECS)} for the standard library only",
                file=where, evidence={"module": _runtime(module)},
            ))
    if chosen is not None and missing:
        findings += _missing_codec_notes(chosen, found, missing, where)
    try:
        recipe = len(records_recipe(source))
    except (SyntaxError, ValueError, TypeError, RecursionError):  # its failing is a measurement, not our error
        recipe = None
    output_text = output.decode("latin-1") if chosen and chosen.encoding == "latin1" else output.decode("utf-8")
    proof = prove(output_text, minified.source, source, where)
    if not proof:
        findings.append(info(
            "minify.proof.ok",
            f"proof: decodes to the minified source, compiles, {len(definitions(tree))} top-level "
            f"definitions and {len(imports(tree))} imports match the original",
            file=where,
        ))
    findings += proof
    return Packed(where, len(text.encode("utf-8")), unwrapped.layers if unwrapped else (), minified, found,
                  chosen, output, recipe, tuple(findings), source)


# Each codec's payload against lzma's (the best of its variants) on the same minified script: the median over
# the corpus scripts (bench/bench_minify.py). Only to say what an uninstalled codec would likely have saved.
TYPICAL_PAYLOAD_VS_LZMA = {"lzma": 1.0, "zlib": 1.22, "zstd": 1.05, "brotli": 0.96, "ppmd": 0.905}


def _missing_codec_notes(chosen: Candidate, found: tuple[Candidate, ...], missing: tuple[str, ...],
                         where: str) -> list[Finding]:
    """An info finding for each uninstalled codec that would probably have made the file smaller, by how much
    (estimated: measured codecs are never claimed for one that did not run)."""
    lzma_payload = min((c.payload_bytes for c in found if c.codec == "lzma"), default=None)
    if not lzma_payload or not chosen.payload_bytes:
        return []
    notes = []
    for codec in missing:
        ratio = TYPICAL_PAYLOAD_VS_LZMA.get(codec)
        if ratio is None:
            continue
        estimate = round(chosen.size * ratio * lzma_payload / chosen.payload_bytes)
        if estimate >= chosen.size:
            continue
        saved = chosen.size - estimate
        notes.append(info(
            "minify.codec.missing",
            f"{RUNTIME_MODULE[codec]} is not installed, so {codec} was not tried: it would likely have made this file "
            f"about {saved:,} bytes ({saved / chosen.size:.1%}) smaller (estimated from the corpus median, "
            f"{codec} payloads at {ratio:.3f}x lzma's); {INSTALL.get(codec, 'pip install ' + RUNTIME_MODULE[codec])}",
            file=where, evidence={"codec": codec, "module": RUNTIME_MODULE[codec], "estimated_bytes": estimate,
                                  "estimated_saving": saved, "install": INSTALL.get(codec)},
        ))
    return notes


def _runtime(codec: str) -> str:
    from golfkit.minify.wrap import RUNTIME_MODULE

    return RUNTIME_MODULE[codec]
