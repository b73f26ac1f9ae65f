"""Benchmark: golfkit minify against the records' recipe, on every large script at hand.

Inputs: the reference trainer (templates/train_gpt.py), every distinct script of the real-record
corpus (each shipped train_gpt*.py and each source embedded in a log; the corpus is where the tests
find it, tests/_corpus.py), and large modules of the installed torch as stand-ins. For each: bytes
under the records' recipe (python-minifier --no-rename-locals --no-hoist-literals
--remove-literal-statements, raw LZMA2, base85; of the payload, for a wrapper), golfkit's choice,
their ratio, the best standard-library-only wrapper and its ratio, whether the proof passed, and the
time taken. Then min/median/max of both ratios over the corpus scripts: figures, not a test (the
tests check only that every script packs with its proof passing).

    python bench/bench_minify.py [--codecs all|stdlib|LIST] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.72  # golfkit's output at most this fraction of the records' recipe, for self-reading scripts over 40 KB
STDLIB_GOAL = 0.80  # the same with the standard library only
LARGE = 40_000


def inputs() -> list[tuple[str, str, str]]:
    """(kind, name, source) for every script to measure."""
    from _corpus import CORPUS, MISSING, corpus_present

    from golfkit.files import read_source
    from golfkit.minify.samples import corpus_scripts, stand_in_sources

    found = []
    trainer = ROOT / "templates" / "train_gpt.py"
    if trainer.is_file():
        found.append(("trainer", "templates/train_gpt.py", read_source(trainer)))
    if corpus_present():
        found += [("record", name, source) for name, source in corpus_scripts(CORPUS)]
    else:
        print(f"!!! {MISSING}: no record scripts measured", file=sys.stderr)
    found += [("stand-in", name, source) for name, source in stand_in_sources()]
    return found


def decode_seconds(data: bytes, name: str) -> float:
    """Seconds the wrapper `data` takes to decode its program when run (its compile and exec captured)."""
    if not data.startswith((b"(lambda", b"#coding")):
        return 0.0
    handed: list = []
    code = compile(data, name, "exec")
    fake = f"<bench {name}>"
    scope = {"__name__": "bench", "__file__": fake, "compile": lambda text, n, mode: text,
             "exec": lambda program, scope=None: handed.append(program)}
    start = time.perf_counter()
    exec(code, scope)  # noqa: S102 - golfkit's own wrapper, its compile and exec captured
    seconds = time.perf_counter() - start
    __import__("linecache").cache.pop(fake, None)
    return seconds


def measure(kind: str, name: str, source: str, codecs: tuple[str, ...]) -> dict:
    from golfkit.errors import GolfkitError
    from golfkit.minify.minify import traps
    from golfkit.minify.packer import pack, records_recipe
    from golfkit.wrappers import unwrap_source

    row = {"kind": kind, "script": name, "raw_bytes": len(source.encode("utf-8"))}
    start = time.perf_counter()
    try:
        unwrapped = unwrap_source(source)
        recipe = len(records_recipe(unwrapped.source if unwrapped else source))
    except (GolfkitError, SyntaxError, ValueError, RecursionError) as exc:
        recipe = None
        row["recipe_error"] = str(exc).splitlines()[0]
    row["recipe_seconds"] = round(time.perf_counter() - start, 2)
    row["records_recipe_bytes"] = recipe
    start = time.perf_counter()
    try:
        packed = pack(source, name, codecs=codecs)
    except GolfkitError as exc:
        row.update(error=str(exc), golfkit_seconds=round(time.perf_counter() - start, 2))
        return row
    from golfkit.minify.minify import parse

    row.update(
        golfkit_seconds=round(time.perf_counter() - start, 2),
        minified_bytes=len(packed.minified.source.encode("utf-8")),
        reads_own_file=any(f.id == "minify.trap.reads_own_file" for f in traps(parse(packed.source, name), name)),
        chosen=packed.chosen.name if packed.chosen else "minified",
        golfkit_bytes=len(packed.output),
        ratio=round(len(packed.output) / recipe, 4) if recipe else None,
        decode_seconds=round(decode_seconds(packed.output, name), 3),
        proof_ok=packed.ok,
    )
    stdlib = [c for c in packed.candidates if c.codec in ("lzma", "zlib")]
    if stdlib and recipe:
        best = min(stdlib, key=lambda c: c.size)
        row.update(stdlib_choice=best.name, stdlib_bytes=best.size, stdlib_ratio=round(best.size / recipe, 4),
                   stdlib_decode_seconds=round(decode_seconds(best.data, name), 3))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codecs", default="all", help="all, stdlib, or a comma list (as golfkit minify)")
    parser.add_argument("--json", action="store_true", help="print rows as JSON")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from golfkit.minify.cli import _codecs

    rows = [measure(kind, name, source, _codecs(args.codecs)) for kind, name, source in inputs()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'script':<58} {'raw':>8} {'recipe':>7} {'golfkit':>7} {'ratio':>6} {'stdlib':>7} {'ratio':>6} "
              f"{'proof':>5} {'time':>6} {'decode':>6}  chosen")
        for r in rows:
            if "error" in r:
                print(f"{r['script'][:58]:<58} {r['raw_bytes']:>8,}  unparseable here: {r['error'][:80]}")
                continue
            print(f"{r['script'][:58]:<58} {r['raw_bytes']:>8,} {r['records_recipe_bytes'] or 0:>7,} "
                  f"{r['golfkit_bytes']:>7,} {r['ratio'] or 0:>6.3f} {r.get('stdlib_bytes', 0):>7,} "
                  f"{r.get('stdlib_ratio', 0):>6.3f} {'ok' if r['proof_ok'] else 'FAIL':>5} "
                  f"{r['golfkit_seconds']:>5.1f}s {r['decode_seconds']:>5.2f}s  {r['chosen']}")
    large = [r for r in rows if r["raw_bytes"] > LARGE and "error" not in r and r.get("ratio") and r["kind"] == "record"
             and r.get("reads_own_file")]
    missed = [r["script"] for r in large if r["ratio"] > GOAL]
    missed_stdlib = [r["script"] for r in large if (r.get("stdlib_ratio") or 9) > STDLIB_GOAL]
    failed = [r["script"] for r in rows if "error" not in r and not r["proof_ok"]]
    skipped = [r["script"] for r in rows if "error" in r]
    if not args.json:
        print()
        records = [r for r in rows if r["kind"] == "record" and "error" not in r]
        for label, key in ((f"codecs {args.codecs}", "ratio"), ("stdlib only", "stdlib_ratio")):
            ratios = sorted(r[key] for r in records if r.get(key))
            if ratios:
                print(f"corpus scripts, {label}: ratio to the records' recipe min {ratios[0]:.3f} "
                      f"median {statistics.median(ratios):.3f} max {ratios[-1]:.3f} ({len(ratios)} scripts)")
        for label, key in (("chosen", "decode_seconds"), ("stdlib", "stdlib_decode_seconds")):
            times = sorted(r[key] for r in records if r.get(key) is not None)
            if times:
                print(f"decode time, {label}: median {statistics.median(times):.3f} s, max {times[-1]:.3f} s")
        print(f"goal ratio <= {GOAL} (codecs {args.codecs}) for self-reading record scripts over {LARGE:,} bytes: met by "
              f"{len(large) - len(missed)} of {len(large)}; stdlib only <= {STDLIB_GOAL}: met by "
              f"{len(large) - len(missed_stdlib)} of {len(large)}")
        if skipped:
            print(f"excluded (cannot be parsed by Python {sys.version_info.major}.{sys.version_info.minor}): "
                  + ", ".join(skipped))
        if failed:
            print("PROOF FAILED: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
