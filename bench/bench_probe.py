"""Benchmark: how long `golfkit probe` takes, and how soon its sandbox stops an endless loop (not a test).

Two figures the tests used to assert as limits, measured here instead: the time to probe the reference
trainer (templates/train_gpt.py, every probe, the sweep on), and the wall time at which the sandbox stops
`while True: pass` given --timeout seconds (the overshoot past the limit). The tests check what the probe
finds and that the loop is stopped as a timeout, never how long either takes.

Third, the sandbox's own cost: `python -c pass` started through golfkit.sandbox.run_contained (bubblewrap,
prlimit, the cgroup, the watcher) against the same command started plainly, best of five each, in one run.

Fourth, with --corpus: `golfkit probe` on each folder of the real-record corpus (tests/_corpus.py says
where), as the command runs it (every probe, the sweep on): the verdict, the findings by id and the time.

    python bench/bench_probe.py [--timeout 6] [--json]
    python bench/bench_probe.py --corpus [--only SUBSTRING] [--probe-timeout 600] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def probe_script(source: str, **options):
    from golfkit.probe.run import ProbeOptions, probe_record

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "rec"
        folder.mkdir()
        (folder / "train_gpt.py").write_text(source, encoding="utf-8")
        start = time.perf_counter()
        report = probe_record(folder, ProbeOptions(**options))
        return report, time.perf_counter() - start


def sandbox_overhead(repeats: int = 5) -> dict[str, float]:
    import subprocess

    from golfkit.sandbox import Box, Limits, python_roots, run_contained, scrubbed_env

    def plain() -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", "pass"], check=True)
        return time.perf_counter() - start

    def contained() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            box = Box(Path(tmp), confined=True)
            start = time.perf_counter()
            out = run_contained([sys.executable, "-I", "-c", "pass"], box=box, env=scrubbed_env("/tmp"),
                                limits=Limits(wall_s=60), readonly=python_roots())
            assert out.status == "exited" and out.returncode == 0, out.describe()
            return time.perf_counter() - start

    base = min(plain() for _ in range(repeats))
    boxed = min(contained() for _ in range(repeats))
    return {"plain_s": round(base, 3), "contained_s": round(boxed, 3), "ratio": round(boxed / base, 2)}


def corpus_figures(only: str | None, timeout_s: float, sweep: bool) -> list[dict]:
    """Probe every corpus folder (or those whose name holds `only`): verdict, findings, time."""
    from collections import Counter

    from _corpus import CORPUS, MISSING, corpus_present

    from golfkit.probe.run import ProbeOptions, probe_record

    if not corpus_present():
        raise SystemExit(MISSING)
    out = []
    for folder in sorted(p for p in CORPUS.glob("track_*/*") if p.is_dir()):
        if only and only not in folder.name:
            continue
        start = time.perf_counter()
        report = probe_record(folder, ProbeOptions(timeout_s=timeout_s, sweep=sweep))
        wall = time.perf_counter() - start
        errors = [f for f in report.findings if f.severity.value == "error"]
        not_run = [f for f in report.findings if f.id == "probe.not_run"]
        reason = not_run[0].message.splitlines()[0][:160] if not_run else ""
        setup = [e.name for e in report.evaluators]
        out.append({"folder": folder.name, "script": report.script,
                    "verdict": "NOT RUN" if not_run else ("FAIL" if errors else "PASS"),
                    "findings": dict(Counter(f.id for f in report.findings)), "evaluators": setup,
                    "probe_seconds": round(report.seconds, 1), "wall_seconds": round(wall, 1), "reason": reason})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=6.0, help="the sandbox's wall-time limit for the loop")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--corpus", action="store_true", help="probe each folder of the real-record corpus instead")
    parser.add_argument("--only", help="with --corpus: only folders whose name holds this")
    parser.add_argument("--probe-timeout", type=float, default=600.0, help="with --corpus: --timeout of each probe")
    parser.add_argument("--no-sweep", action="store_true", help="with --corpus: skip the normalization sweep")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    if args.corpus:
        rows = corpus_figures(args.only, args.probe_timeout, not args.no_sweep)
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        for r in rows:
            found = ", ".join(f"{k} x{n}" if n > 1 else k for k, n in sorted(r["findings"].items()))
            print(f"{r['folder'][:60]:60} {r['verdict']:8} {r['probe_seconds']:7.1f} s  {found}")
            if r["reason"]:
                print(f"{'':60}   {r['reason']}")
        return 0
    trainer, trainer_wall = probe_script((ROOT / "templates" / "train_gpt.py").read_text(encoding="utf-8"),
                                         timeout_s=120)
    loop, loop_wall = probe_script("while True:\n    pass\n", timeout_s=args.timeout, sweep=False)
    figures = {
        "sandbox_start": sandbox_overhead(),
        "reference_trainer": {"probe_seconds": round(trainer.seconds, 2), "wall_seconds": round(trainer_wall, 2),
                              "findings": [f.id for f in trainer.findings],
                              "evaluators": {e.name: round(e.seconds, 2) for e in trainer.evaluators}},
        "endless_loop": {"timeout_s": args.timeout, "status": loop.sandbox["status"],
                         "stopped_after_seconds": loop.sandbox["seconds"],
                         "overshoot_seconds": round(loop.sandbox["seconds"] - args.timeout, 3),
                         "wall_seconds": round(loop_wall, 2)},
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    ref, endless, start = figures["reference_trainer"], figures["endless_loop"], figures["sandbox_start"]
    print(f"sandbox start: python -c pass {start['contained_s']:.3f} s contained vs {start['plain_s']:.3f} s plain "
          f"({start['ratio']:.2f}x)")
    print(f"reference trainer: probed in {ref['probe_seconds']:.1f} s ({ref['wall_seconds']:.1f} s wall), "
          f"{len(ref['findings'])} findings; per evaluator: "
          + ", ".join(f"{name} {sec:.1f} s" for name, sec in ref["evaluators"].items()))
    print(f"endless loop, --timeout {args.timeout:g}: stopped as {endless['status']} after "
          f"{endless['stopped_after_seconds']:.2f} s ({endless['overshoot_seconds']:+.2f} s past the limit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
