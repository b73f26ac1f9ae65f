"""The device check of issue 15: golfkit's evaluation on a GPU and on the CPU, in one call (not a test).

What it runs, each step timed, every figure printed and written to OUT/device_check.json:

1. data: a synthetic sp1024 dataset (`golfkit data synth`), made here, nothing fetched;
2. trainer: golfkit's reference trainer (templates/train_gpt.py) at the baseline size (9x512, MLP 3x,
   vocab 1024, seq 1024) for a short run on the device; its log's round-trip and sliding metrics;
3. golfkit eval of its artifact against those logged metrics: on the device (bf16 autocast, eager
   and compiled), and on the CPU in float32 and in bf16 (CUDA's autocast emulated, the default a
   CPU re-run of a GPU record should use): the CPU-vs-GPU figure;
4. the eval benchmark (bench/bench_eval.py --compile): scored tokens/s, the fraction of the measured
   bf16 matmul rate, and the projected time of the full sp1024 validation set at stride 64;
5. a baseline-family record script of the corpus (2026-03-17_NaiveBaseline) trained for a few steps
   by its own main() on the device, then re-evaluated from its artifact by `golfkit eval --trust-code`
   (the automatic adapter) on the device and on the CPU (bf16 emulated and float32), against its log.

    python bench/device_check.py --out DIR                        # on a GPU machine: about 6-8 minutes
    python bench/device_check.py --device cpu --quick --out DIR   # here: every path, tiny sizes

On the CPU (--device cpu) the trainers run on the CPU; the record script's main() needs CUDA, so its
tiny model is built, serialized and evaluated by the script's own functions instead of trained.

The record script is read from --baseline-script, else $GOLFKIT_CORPUS or ../shared/corpus. On the
device machine ../shared does not travel: stage it in an ignored folder of the checkout first, with
the zstandard wheel golfkit needs there (the image has no zstandard):

    echo /.device/ >> .git/info/exclude; mkdir -p .device
    cp ../shared/corpus/track_10min_16mb/2026-03-17_NaiveBaseline/train_gpt.py .device/naive_baseline.py
    echo /.whl/ >> .git/info/exclude; python3 -m pip download --no-deps --only-binary=:all: \\
        --python-version 3.12 --implementation cp --platform manylinux2014_x86_64 -d .whl zstandard==0.25.0

and run it in one call with carry [".device", ".whl"] (the -e install lets the sandboxed child, run
with `python -I`, import golfkit):

    set -o pipefail; python3 -m pip install -q --no-index --no-deps .whl/*.whl && \\
    python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . && \\
    PYTHONUNBUFFERED=1 python3 bench/device_check.py --out $OUT --baseline-script .device/naive_baseline.py \\
    2>&1 | tee $OUT/device_check.log
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from golfkit.data.tokenizer import make_dataset
from golfkit.eval.run import eval_artifact
from golfkit.sandbox import unavailable_reason
from golfkit.verify.logparse import parse_log_file

NAIVE = "track_10min_16mb/2026-03-17_NaiveBaseline/train_gpt.py"
METRIC = re.compile(r"^(final_\w+?)(?:_exact)? val_loss:([0-9.]+) val_bpb:([0-9.]+)", re.MULTILINE)
RESULTS: dict = {"steps": {}}
T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


def step(name: str):
    """Run one part, time it, keep going after a failure (the summary says which parts failed)."""
    def wrap(fn):
        def run(*args, **kwargs):
            say(f"== {name}")
            t = time.perf_counter()
            try:
                out = fn(*args, **kwargs)
                RESULTS["steps"][name] = {"ok": True, "seconds": round(time.perf_counter() - t, 1)}
                return out
            except Exception as exc:  # noqa: BLE001 - a check script: report and go on
                traceback.print_exc()
                RESULTS["steps"][name] = {"ok": False, "seconds": round(time.perf_counter() - t, 1),
                                          "error": f"{type(exc).__name__}: {str(exc)[:400]}"}
                say(f"!! {name} failed: {type(exc).__name__}: {str(exc)[:300]}")
                return None
        return run
    return wrap


def logged_metrics(log: Path) -> dict[str, tuple[float, float]]:
    """{label: (val_loss, val_bpb)} of the final metric lines, the *_exact ones when printed."""
    run = parse_log_file(log).run
    found: dict[str, tuple[float, float]] = {}
    for m in run.metrics:
        if m.val_loss is None or m.val_bpb is None or not m.label.startswith("final"):
            continue
        key = m.label.removesuffix("_exact")
        if m.label.endswith("_exact") or key not in found:
            found[key] = (float(m.val_loss.value), float(m.val_bpb.value))
    return found


def compare(tag: str, report, logged: dict[str, tuple[float, float]], pairs: dict[str, str]) -> dict:
    """Differences golfkit - log (val_loss, val_bpb) for each mode: label pair."""
    out = {"precision": report.precision, "modes": {}}
    for r in report.results:
        label = pairs.get(r.mode)
        if label not in logged:
            continue
        loss, bpb = logged[label]
        d = {"golfkit": [r.val_loss, r.val_bpb], "logged": [loss, bpb], "diff_loss": r.val_loss - loss,
             "diff_bpb": r.val_bpb - bpb, "wall_s": round(r.wall_s, 2), "tokens": r.tokens}
        out["modes"][r.mode] = d
        say(f"   {tag:<34} {r.mode:<8} val_bpb {r.val_bpb:.8f} (log {bpb:.8f}) diff {r.val_bpb - bpb:+.2e} "
            f"val_loss diff {r.val_loss - loss:+.2e}  [{report.precision}, {r.wall_s:.1f}s]")
    return out


@step("environment")
def environment(device: torch.device) -> None:
    info = {"python": platform.python_version(), "torch": torch.__version__, "device": str(device),
            "cpu_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "sandbox": unavailable_reason() or "bwrap ok"}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
        for _ in range(3):
            a @ a
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(10):
            a @ a
        torch.cuda.synchronize()
        info["bf16_matmul_tflops"] = round(10 * 2 * 8192**3 / (time.perf_counter() - t) / 1e12, 1)
    RESULTS["environment"] = info
    say(f"   {json.dumps(info)}")


@step("data")
def data(work: Path, quick: bool):
    ds = make_dataset(work / "data", vocab_size=1024, train_docs=3000 if quick else 20000,
                      val_docs=12 if quick else 120, seed=0)
    RESULTS["data"] = {"val_tokens": ds.val_tokens, "val_bytes": ds.val_bytes}
    say(f"   val tokens {ds.val_tokens:,}, bytes {ds.val_bytes:,}")
    return ds


@step("reference trainer")
def trainer(work: Path, ds, device: torch.device, quick: bool):
    run_dir = work / "trainer"
    run_dir.mkdir()
    shutil.copy(ROOT / "templates" / "train_gpt.py", run_dir / "train_gpt.py")
    size = ({"NUM_LAYERS": "2", "MODEL_DIM": "64", "MLP_MULT": "2", "TRAIN_SEQ_LEN": "128", "TRAIN_BATCH_TOKENS": "2048",
             "ITERATIONS": "3", "WARMUP_STEPS": "1", "MAX_WALLCLOCK_SECONDS": "0", "VAL_BATCH_SIZE": "8192"} if quick else
            {"NUM_LAYERS": "9", "MODEL_DIM": "512", "MLP_MULT": "3", "TRAIN_SEQ_LEN": "1024",
             "TRAIN_BATCH_TOKENS": "131072", "ITERATIONS": "20000", "WARMUP_STEPS": "2", "MAX_WALLCLOCK_SECONDS": "40"})
    env = {**os.environ, **size, "DATA_PATH": str(ds.root), "TOKENIZER_PATH": str(ds.tokenizer), "VOCAB_SIZE": "1024",
           "VAL_LOSS_EVERY": "0", "EVAL_STRIDE": "64", "COMPILE": "0", "SEED": "7", "RUN_ID": "device_check"}
    if device.type != "cuda":
        env["CUDA_VISIBLE_DEVICES"] = ""
    proc = subprocess.run([sys.executable, "train_gpt.py"], check=False, cwd=run_dir, env=env, capture_output=True,
                          text=True)
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-12:]
    say("   " + "\n   ".join(tail))
    if proc.returncode != 0:
        raise RuntimeError(f"trainer exited {proc.returncode}")
    logged = logged_metrics(run_dir / "logs" / "device_check.txt")
    RESULTS["trainer"] = {"logged": logged, "size": size}
    return run_dir / "final_model.int8.ptz", logged


@step("golfkit eval of the trainer's artifact")
def eval_trainer(artifact: Path, logged: dict, ds, device: torch.device, deadline: float) -> None:
    label = next(k for k in logged if k.endswith("roundtrip"))
    pairs = {"standard": label, "sliding": "final_sliding_window"}
    out = RESULTS.setdefault("eval_trainer", {})
    runs = []
    if device.type == "cuda":
        runs += [("cuda eager (bf16 autocast)", str(device), "auto", False),
                 ("cuda compiled (bf16, CUDA graphs)", str(device), "auto", True)]
    runs += [("cpu fp32", "cpu", "fp32", False), ("cpu bf16 (CUDA autocast emulated)", "cpu", "bf16", False)]
    for tag, dev, precision, compiled in runs:
        if time.perf_counter() > deadline and compiled:
            say(f"   {tag}: skipped (time budget)")
            continue
        t = time.perf_counter()
        report = eval_artifact(artifact, ds.root, ds.tokenizer, stride=64, device=dev, precision=precision,
                               compile=compiled, progress=False)
        out[tag] = {**compare(tag, report, logged, pairs), "seconds": round(time.perf_counter() - t, 1)}


@step("eval benchmark")
def benchmark(work: Path, device: torch.device, quick: bool) -> None:
    out = work / "bench_eval.json"
    args = [sys.executable, str(ROOT / "bench" / "bench_eval.py"), "--device", str(device), "--json", str(out)]
    args += ["--windows", "2", "--only", "example"] if quick else ["--compile", "--windows", "512", "--only", "baseline"]
    proc = subprocess.run(args, check=False, capture_output=True, text=True)
    say("   " + "\n   ".join((proc.stdout + proc.stderr).strip().splitlines()[-12:]))
    if proc.returncode != 0:
        raise RuntimeError(f"bench_eval exited {proc.returncode}")
    RESULTS["bench_eval"] = json.loads(out.read_text())


@step("record script (baseline family)")
def record_script(work: Path, ds, script: Path, device: torch.device, quick: bool, deadline: float) -> None:
    from golfkit.eval.trusted import eval_trusted

    rec = work / "record"
    rec.mkdir()
    shutil.copy(script, rec / "train_gpt.py")
    out = RESULTS.setdefault("record_script", {"script": str(script)})
    if device.type == "cuda":
        settings = {"VOCAB_SIZE": "1024", "TRAIN_BATCH_TOKENS": "131072", "ITERATIONS": "30", "WARMUP_STEPS": "0",
                    "WARMDOWN_ITERS": "10", "VAL_LOSS_EVERY": "0", "TRAIN_LOG_EVERY": "10", "MAX_WALLCLOCK_SECONDS": "0"}
        env = {**os.environ, **settings, "DATA_PATH": str(ds.root), "TOKENIZER_PATH": str(ds.tokenizer),
               "RUN_ID": "record"}
        # its own main(), eager (torch.compile would add a minute of compilation to a 30-step run)
        runner = ("import runpy, torch; torch.compile = lambda m=None, *a, **k: m if m is not None else (lambda f: f); "
                  "runpy.run_path('train_gpt.py', run_name='__main__')")
        proc = subprocess.run([sys.executable, "-c", runner], check=False, cwd=rec, env=env, capture_output=True,
                              text=True)
        say("   " + "\n   ".join((proc.stdout + proc.stderr).strip().splitlines()[-8:]))
        if proc.returncode != 0:
            raise RuntimeError(f"the record's main() exited {proc.returncode}")
        logged = logged_metrics(rec / "logs" / "record.txt")
        artifact = rec / "final_model.int8.ptz"
    else:
        settings = {"VOCAB_SIZE": "1024", "NUM_LAYERS": "2", "MODEL_DIM": "64", "TRAIN_SEQ_LEN": "128",
                    "VAL_BATCH_SIZE": "8192"}
        artifact, logged = _script_side(rec, ds, settings)
    out["logged"] = logged
    label = next(k for k in logged if k.endswith("roundtrip"))
    runs = ([("cuda --trust-code (bf16 autocast)", str(device), "auto")] if device.type == "cuda" else [])
    runs += [("cpu --trust-code bf16 emulated", "cpu", "auto"), ("cpu --trust-code fp32", "cpu", "fp32")]
    confined = unavailable_reason() is None
    out["sandbox"] = "bwrap" if confined else "unconfined (no bwrap on this machine)"
    for tag, dev, precision in runs:
        if time.perf_counter() > deadline and dev == "cpu" and precision == "fp32":
            say(f"   {tag}: skipped (time budget)")
            continue
        t = time.perf_counter()
        report = eval_trusted(rec / "train_gpt.py", artifact, ds.root, ds.tokenizer, stride=64, device=dev,
                              precision=precision, settings=settings, unconfined=not confined)
        out[tag] = {**compare(tag, report, logged, {"standard": label}), "seconds": round(time.perf_counter() - t, 1),
                    "model": report.model}


def _script_side(rec: Path, ds, settings: dict[str, str]) -> tuple[Path, dict]:
    """On a CPU (the record's main() needs CUDA): its tiny model built, serialized and evaluated by its own
    functions, as main() does; the script's eval_val gives the 'logged' numbers."""
    import importlib.util

    import sentencepiece as spm

    for k, v in {**settings, "DATA_PATH": str(ds.root), "TOKENIZER_PATH": str(ds.tokenizer)}.items():
        os.environ[k] = v
    spec = importlib.util.spec_from_file_location("device_check_record", rec / "train_gpt.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = module.Hyperparameters()
    names = ("vocab_size", "num_layers", "model_dim", "num_heads", "num_kv_heads", "mlp_mult", "tie_embeddings",
             "tied_embed_init_std", "logit_softcap", "rope_base", "qk_gain_init")
    model = module.GPT(**{n: getattr(args, n) for n in names}).bfloat16()
    for m in model.modules():
        if isinstance(m, module.CastedLinear):
            m.float()
    module.restore_low_dim_params_to_fp32(model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            noise = torch.randn(p.shape, generator=gen)
            p.copy_((noise / math.sqrt(p.shape[1]) if p.dim() == 2 else p.float() + 0.2 * noise).to(p.dtype))
    module.INT8_KEEP_FLOAT_MAX_NUMEL = 1024
    obj, _ = module.quantize_state_dict_int8(model.state_dict())
    buf = io.BytesIO()
    torch.save(obj, buf)
    artifact = rec / "final_model.int8.ptz"
    artifact.write_bytes(zlib.compress(buf.getvalue(), 9))
    model.load_state_dict(module.dequantize_state_dict_int8(torch.load(io.BytesIO(buf.getvalue()), weights_only=True)))
    val = module.load_validation_tokens(args.val_files, args.train_seq_len)
    luts = module.build_sentencepiece_luts(spm.SentencePieceProcessor(model_file=str(ds.tokenizer)), args.vocab_size,
                                           torch.device("cpu"))
    from golfkit.eval.precision import scripts_cuda_autocast_emulated

    with scripts_cuda_autocast_emulated():  # as its GPU would have evaluated it: bf16 autocast
        loss, bpb = module.eval_val(args, model, 0, 1, torch.device("cpu"), 8, val, *luts)
    return artifact, {"final_int8_zlib_roundtrip": (loss, bpb)}


def summary() -> None:
    say("== summary")
    for name, s in RESULTS["steps"].items():
        say(f"   {'ok  ' if s['ok'] else 'FAIL'} {name:<40} {s['seconds']:>7.1f}s  {s.get('error', '')}")
    for section in ("eval_trainer", "record_script"):
        for tag, r in RESULTS.get(section, {}).items():
            if isinstance(r, dict) and "modes" in r:
                for mode, d in r["modes"].items():
                    say(f"   {section:<14} {tag:<36} {mode:<8} |diff bpb| {abs(d['diff_bpb']):.2e}  "
                        f"|diff loss| {abs(d['diff_loss']):.2e}")
    for m in RESULTS.get("bench_eval", {}).get("models", []):
        for label in ("golfkit", "golfkit+compile"):
            if label in m:
                g = m[label]
                say(f"   bench {m['model'][:30]:<30} {label:<16} {g['tokens_per_s']:>12,.0f} tok/s "
                    f"{100 * g['fraction_of_matmul_peak']:.0f}% of matmul, full val at stride 64: "
                    f"{g['projected_full_val_s']:,.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cuda (default when present) or cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: every path in a minute or two")
    parser.add_argument("--out", type=Path, default=None, help="folder for device_check.json")
    parser.add_argument("--baseline-script", type=Path, default=None,
                        help=f"the corpus's {NAIVE} (default: $GOLFKIT_CORPUS or ../shared/corpus)")
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="after this many seconds, optional parts (compiled eval, fp32 trust-code) are skipped")
    args = parser.parse_args()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    deadline = T0 + args.budget_s
    environment(device)
    with tempfile.TemporaryDirectory(prefix="golfkit-device-check-") as tmp:
        work = Path(tmp)
        ds = data(work, args.quick)
        if ds is not None:
            made = trainer(work, ds, device, args.quick)
            if made is not None:
                eval_trainer(*made, ds, device, deadline)
        benchmark(work, device, args.quick)
        script = args.baseline_script or _corpus_script()
        if ds is not None and script is not None and script.is_file():
            record_script(work, ds, script, device, args.quick, deadline)
        else:
            RESULTS["steps"]["record script (baseline family)"] = {
                "ok": False, "seconds": 0.0, "error": f"no {NAIVE}: pass --baseline-script (see the module doc)"}
    RESULTS["seconds"] = round(time.perf_counter() - T0, 1)
    summary()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "device_check.json").write_text(json.dumps(RESULTS, indent=1, default=str))
    say(f"done in {RESULTS['seconds']:.0f} s")
    return 0 if all(s["ok"] for s in RESULTS["steps"].values()) else 1


def _corpus_script() -> Path | None:
    from _corpus import CORPUS

    path = CORPUS / NAIVE
    return path if path.is_file() else None


if __name__ == "__main__":
    sys.exit(main())
