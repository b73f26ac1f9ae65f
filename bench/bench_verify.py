"""Benchmark: `golfkit verify` over the real-record corpus, with the wall time of each folder (not a test).

The corpus is where the tests find it (tests/_corpus.py: GOLFKIT_CORPUS, else ../shared/corpus next to
the project). Each record folder is verified on its own, then the whole corpus in one call; each time
is the best of --repeat runs. The tests check what verify says on the corpus, never how long it takes.

    python bench/bench_verify.py [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def best_time(run, repeat: int) -> tuple[float, object]:
    """The shortest wall time of `repeat` calls of `run`, and what the last call returned."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best counts")
    parser.add_argument("--json", action="store_true", help="print rows as JSON")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from _corpus import CORPUS, MISSING, corpus_present

    from golfkit.verify.api import verify_paths
    from golfkit.verify.record import find_records

    if not corpus_present():
        print(f"!!! {MISSING}: nothing to measure", file=sys.stderr)
        return 2
    rows = []
    for folder in find_records(CORPUS):
        seconds, (report,) = best_time(lambda folder=folder: verify_paths([folder]), args.repeat)
        rows.append({"folder": str(folder.relative_to(CORPUS)), "seconds": round(seconds, 3),
                     "verdict": report.verdict, "findings": len(report.findings)})
    total, reports = best_time(lambda: verify_paths([CORPUS]), args.repeat)
    if args.json:
        print(json.dumps({"corpus": str(CORPUS), "folders": rows, "whole_corpus_seconds": round(total, 3)}, indent=2))
        return 0
    print(f"{'record folder':<90} {'time':>7}  verdict  findings")
    for r in rows:
        print(f"{r['folder'][:90]:<90} {r['seconds']:>6.2f}s  {r['verdict']:<7}  {r['findings']:>8}")
    print(f"\n{len(reports)} record folders of {CORPUS} in one call: {total:.2f} s (best of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
