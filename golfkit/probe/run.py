"""`golfkit probe` end to end: record folder -> working copy -> sandboxed child -> probes -> report."""

from __future__ import annotations

import json
import re
import shutil
import signal
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from golfkit.errors import GolfkitError
from golfkit.facts import main_script
from golfkit.files import read_source, read_text
from golfkit.findings import Finding, error
from golfkit.probe.inputs import DEFAULT_VOCAB, load_table, make_plan, tokenizer_bytes
from golfkit.probe.probes import PROBES, EvaluatorResult, analyse_evaluator
from golfkit.sandbox import (
    UNCONFINED_NOTICE,
    Box,
    Limits,
    Outcome,
    copy_regular_files,
    python_roots,
    require,
    run_contained,
    scrubbed_env,
)
from golfkit.wrappers import unwrap_source

MAX_COPY_BYTES = 1 << 20  # files of the record copied into the working copy (scripts, small configs)
MAX_COPY_FILES = 2000
CHILD = Path(__file__).with_name("child.py")
STAND_INS = Path(__file__).resolve().parents[1] / "standins.py"  # golfkit.standins, loaded by path
MAX_MESSAGE_BYTES = 64 << 20  # one observation line from the child
MODULE_NAME = "train_gpt"
# Documented signs that a script evaluates each document on its own (variable-length attention).
ISOLATION_SOURCE = re.compile(r"flash_attn_varlen|cu_seqlens|doc(ument)?[_ -]?isolat", re.IGNORECASE)
ISOLATION_TEXT = re.compile(r"doc(ument)?[- _]?(isolat|level isolat|masked)|per-document attention|varlen",
                            re.IGNORECASE)


@dataclass(frozen=True)
class ProbeOptions:
    """Limits of the sandbox and the size of the synthetic problem."""

    timeout_s: float = 300.0
    memory_mb: int = 4096
    seq_len: int = 32
    stride: int = 8
    windows: int = 6
    vocab_size: int = DEFAULT_VOCAB
    seed: int = 0
    sweep: bool = True
    only: tuple[str, ...] = ()  # evaluator names; empty = all found
    unconfined: bool = False  # run without bubblewrap (the user said so; the reports say so at their top)


@dataclass
class ProbeReport:
    """Findings about one record's evaluation code, per evaluator, with the time the probes took."""

    record: str
    script: str
    findings: list[Finding]
    evaluators: list[EvaluatorResult] = field(default_factory=list)
    seconds: float = 0.0
    sandbox: dict[str, Any] = field(default_factory=dict)
    wrapper_layers: tuple[str, ...] = ()
    document_isolation_claim: str | None = None
    notices: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "script": self.script,
            "seconds": round(self.seconds, 3),
            "wrapper_layers": list(self.wrapper_layers),
            "document_isolation_claim": self.document_isolation_claim,
            "sandbox": self.sandbox,
            "evaluators": [e.to_json() for e in self.evaluators],
            "findings": [f.to_json() for f in self.findings],
            "notices": list(self.notices),
        }


def find_script(record: Path) -> Path:
    """The record's training script as `golfkit.facts.main_script` chooses it (train_gpt.py, else the
    only train_gpt*.py, else the only .py file); a file is taken as is. A guess is refused."""
    if record.is_symlink() or (record.exists() and not (record.is_file() or record.is_dir())):
        raise GolfkitError(f"{record}: a symlink or special file, not a record folder or script; give the real "
                           "file or folder")
    if record.is_file():
        return record
    if not record.is_dir():
        raise GolfkitError(f"{record}: no such record folder or script")
    special = sorted(p.name for p in record.glob("*.py") if not _regular(p))
    choice = main_script({p.name: p.lstat().st_size for p in record.glob("*.py") if _regular(p)})
    if special and (choice is None or "train_gpt.py" in special):
        raise GolfkitError(f"{record}: {', '.join(special)} is a symlink or special file; golfkit probes regular "
                           "files only (a link could point anywhere): replace it with the file itself")
    if choice is None:
        raise GolfkitError(f"{record}: no train_gpt.py to probe; pass the script itself as RECORD")
    if choice.guessed_among:
        names = ", ".join(choice.guessed_among)
        raise GolfkitError(f"{record}: several scripts ({names}) and no train_gpt.py; pass the one to probe as RECORD")
    return record / choice.name


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def isolation_claim(program: str, texts: list[str]) -> str | None:
    """Why the record claims document-isolated evaluation (a varlen-attention script, or its README or
    submission.json saying so), or None."""
    m = ISOLATION_SOURCE.search(program)
    if m:
        return f"the script uses {m.group(0)}"
    for text in texts:
        m = ISOLATION_TEXT.search(text)
        if m:
            return f"the record says {m.group(0)!r}"
    return None


def probe_record(record: str | Path, options: ProbeOptions | None = None) -> ProbeReport:
    """Probe the evaluation code of a record folder (or of one script). Runs the record's code: call only
    when the user trusts it (`--trust-code`)."""
    record = Path(record)
    script = find_script(record)
    text = read_source(script)
    unwrapped = unwrap_source(text, where=str(script))
    program = unwrapped.source if unwrapped is not None else text
    texts = [_read_text(script.parent / n) for n in ("README.md", "submission.json")]
    return probe_program(script.parent, script.name, program, unwrapped.layers if unwrapped else (),
                         [t for t in texts if t], options, str(record))


def probe_program(folder: Path, script_name: str, program: str, wrapper_layers: tuple[str, ...],
                  texts: list[str], options: ProbeOptions | None = None, label: str | None = None) -> ProbeReport:
    """Probe `program` (the decoded script) as if it were `folder/script_name`. `texts` (README,
    submission.json) are searched for a claim of document-isolated evaluation."""
    options = options or ProbeOptions()
    require(options.unconfined)
    claim = isolation_claim(program, texts)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="golfkit-probe-") as tmp:
        box = Box(Path(tmp), confined=not options.unconfined)
        skipped = copy_regular_files(folder, box.work, MAX_COPY_BYTES, MAX_COPY_FILES)
        target = box.work / script_name  # the decoded program in the script's own place
        target.write_text(program, encoding="utf-8")
        tok = tokenizer_bytes(options.vocab_size)
        (box.data / "tokenizer.model").write_bytes(tok)
        table, is_byte = load_table(tok)
        plan = make_plan(table, is_byte, options.seq_len, options.stride, options.windows, options.seed,
                         options.sweep)
        request = {
            "script": box.inside(target), "module": MODULE_NAME, "tokenizer": box.inside(box.data / "tokenizer.model"),
            "val_shard": box.inside(box.data / "fineweb_val_000000.bin"), "vocab_size": plan.vocab_size,
            "seq_len": plan.seq_len, "stride": plan.stride, "seed": options.seed + 1234,
            "streams": plan.streams, "runs": plan.runs, "only": list(options.only),
        }
        (box.inputs / "request.json").write_text(json.dumps(request))
        shutil.copyfile(CHILD, box.inputs / "child.py")
        shutil.copyfile(STAND_INS, box.inputs / "standins.py")  # the child loads it by path
        env = scrubbed_env(box.inside(box.work),
                           probe_env(Path(box.inside(box.data)), plan.vocab_size, plan.seq_len, plan.stride))
        limits = Limits(wall_s=options.timeout_s, memory_mb=options.memory_mb)
        box_run = run_contained([sys.executable, "-I", box.inside(box.inputs / "child.py"),
                                 box.inside(box.inputs / "request.json")],
                                box=box, env=env, limits=limits, readonly=python_roots())
    report = ProbeReport(label or str(folder), script_name, [], wrapper_layers=wrapper_layers,
                         document_isolation_claim=claim)
    report.sandbox = dict(box_run.describe(), memory_mb=options.memory_mb, timeout_s=options.timeout_s,
                          skipped_files=skipped[:50])
    if options.unconfined:
        report.notices.append(UNCONFINED_NOTICE)
    observed = parse_channel(box_run.channel)
    planned_runs = [run["id"] for run in plan.runs]
    verdicts, analysable = _verdicts(box_run, observed, script_name, options, planned_runs)
    report.findings.extend(verdicts)
    setup = observed.setup
    if setup is not None and setup.get("document_isolated") is not None:  # the adapter's word beats heuristics
        claim = "golfkit_probe_adapter() says document_isolated" if setup["document_isolated"] else None
        report.document_isolation_claim = claim
    for name in sorted(analysable):
        ev = analyse_evaluator(name, observed.evaluators[name], plan, table, script_name, claim is not None)
        report.evaluators.append(ev)
        report.findings.extend(ev.findings)
    report.seconds = time.monotonic() - start
    return report


@dataclass
class Observed:
    """What the child sent: its setup summary, each evaluator's runs, a failure, whether it said done."""

    setup: dict[str, Any] | None = None
    evaluators: dict[str, dict[str, Any]] = field(default_factory=dict)
    failure: dict[str, Any] | None = None
    done: bool = False
    garbled: int = 0


def parse_channel(data: bytes) -> Observed:
    """The child's lines, each a JSON object with a `kind`; anything else is counted, never trusted."""
    seen = Observed()
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            msg = json.loads(line) if len(line) <= MAX_MESSAGE_BYTES else None
        except (ValueError, RecursionError):
            msg = None
        kind = msg.get("kind") if isinstance(msg, dict) else None
        if kind == "setup" and seen.setup is None:
            seen.setup = msg
        elif kind == "evaluator" and isinstance(msg.get("name"), str) and isinstance(msg.get("data"), dict):
            seen.evaluators.setdefault(msg["name"], msg["data"])
        elif kind == "failure" and seen.failure is None:
            seen.failure = msg
        elif kind == "done":
            seen.done = True
        else:
            seen.garbled += 1
    return seen


def probe_env(data: Path, vocab_size: int, seq_len: int, stride: int) -> dict[str, str]:
    """The environment the script is imported under: golfkit's data and a tiny model, through the
    baseline family's variable names."""
    return {
        "DATA_PATH": str(data), "TOKENIZER_PATH": str(data / "tokenizer.model"), "VOCAB_SIZE": str(vocab_size),
        "NUM_LAYERS": "2", "MODEL_DIM": "32", "NUM_HEADS": "2", "NUM_KV_HEADS": "1", "MLP_MULT": "2",
        "TRAIN_SEQ_LEN": str(seq_len), "EVAL_SEQ_LEN": str(seq_len), "EVAL_STRIDE": str(stride),
        "VAL_BATCH_SIZE": str(8 * seq_len * 4), "TRAIN_BATCH_TOKENS": str(8 * seq_len * 4),
        "COMPILE": "0", "SEED": "1337", "RUN_ID": "golfkit-probe", "ITERATIONS": "1",
        "TTT_CHUNK_TOKENS": str(2 * seq_len), "TTT_EPOCHS": "1", "TTT_BATCH_SEQS": "2",
    }


def _verdicts(run: Outcome, seen: Observed, script: str, options: ProbeOptions,
              planned_runs: list[str]) -> tuple[list[Finding], list[str]]:
    """The parent's verdict on how the child ended and whether every planned probe produced its
    observations; and the evaluators whose observations may be analysed. Nothing the child says can
    make a run that did not finish count as probed."""
    tail = run.output_tail[-1500:]
    where = {"file": script}
    failure = seen.failure or {}
    detail = str(failure.get("detail", "")).strip()
    first = detail.splitlines()[0][:300] if detail else ""
    if run.status == "timeout" or (run.status == "signal" and run.returncode == -signal.SIGXCPU):
        what = (f"was stopped after {options.timeout_s:.0f} s of wall time" if run.status == "timeout"
                else f"used up its CPU-time limit ({int(options.timeout_s) + 1} s) and was stopped")
        return [error("probe.sandbox.timeout", f"{script} {what} (an endless loop, or work far beyond a tiny model); "
                      "raise --timeout if it is only slow", **where,
                      evidence={"seconds": round(run.seconds, 1), "output_tail": tail})], []
    if run.status == "memory" or failure.get("status") == "memory":
        return [error("probe.sandbox.memory",
                      f"{script} went past the {options.memory_mb} MB memory bound and was stopped "
                      f"({run.detail or first or 'out of memory'}); raise --memory if a tiny model really needs it",
                      **where, evidence={"detail": run.detail or detail, "peak_memory_mb": round(run.peak_memory_mb),
                                         "output_tail": tail})], []
    if run.status == "processes":
        return [error("probe.sandbox.processes",
                      f"{script} started too many processes and was stopped ({run.detail})", **where,
                      evidence={"peak_processes": run.peak_processes, "output_tail": tail})], []
    if failure.get("status") == "network":
        return [error("probe.sandbox.network", f"{script} tried to use the network and was stopped: {first}",
                      **where, evidence={"detail": detail[-1500:]})], []
    if failure:
        stage = str(failure.get("stage", "run"))
        what = {"import": "could not be imported", "harness": "could not be set up"}.get(stage, f"failed during {stage}")
        return [error("probe.not_run",
                      f"{script} {what} on CPU: {first or 'unknown error'}; no probe ran, so nothing about its "
                      "evaluation is known (a CUDA-only dependency? docs/probe.md shows the adapter)", **where,
                      evidence={"stage": stage, "reason": str(failure.get("reason", failure.get("status", ""))),
                                "detail": detail[-1500:], "traceback": str(failure.get("traceback", ""))[-2000:]})], []
    if run.status != "exited" or run.returncode != 0:
        why = run.detail or f"exit status {run.returncode}"
        return [error("probe.sandbox.crashed",
                      f"{script} ended the probe process ({why}) before it finished; no probe result counts",
                      **where, evidence={"returncode": run.returncode, "status": run.status, "output_tail": tail})], []
    if not seen.done or seen.setup is None:
        reached = "after setup" if seen.setup is not None else "before golfkit could set it up"
        return [error("probe.not_run",
                      f"{script} ended the probe with exit status 0 {reached}, before the probes finished "
                      "(sys.exit or os._exit in the script?); no probe result counts", **where,
                      evidence={"stage": "exit", "output_tail": tail})], []
    available = [n for n in seen.setup.get("available") or [] if isinstance(n, str)]
    wanted = [n for n in available if not options.only or n in options.only]
    if not wanted:
        if options.only and available:
            message = (f"{script} has no evaluator named {', '.join(options.only)} (it has {', '.join(available)}); "
                       "no probe ran")
        else:
            message = (f"{script} defines no eval_val* function golfkit can call, so no probe ran; add "
                       "golfkit_probe_adapter() with 'evaluators' (docs/probe.md)")
        return [error("probe.not_run", message, **where, evidence={"stage": "evaluators", "available": available})], []
    found: list[Finding] = []
    for name in wanted:
        data = seen.evaluators.get(name)
        runs = data.get("runs") if isinstance(data, dict) else None
        if not isinstance(runs, dict):
            found.append(error("probe.not_run", f"{name}: no observations came back for it; none of its probes ran",
                               **where, evidence={"stage": "run", "evaluator": name}))
            continue
        missing = [r for r in planned_runs if r not in runs]
        if missing and data.get("error") is None:
            found.append(error("probe.not_run",
                               f"{name}: {len(missing)} of {len(planned_runs)} planned runs produced no observations "
                               f"({', '.join(missing[:5])}); the probes that need them did not run", **where,
                               evidence={"stage": "run", "evaluator": name, "missing_runs": missing[:50]}))
    return found, [n for n in wanted if isinstance(seen.evaluators.get(n), dict)]


def _read_text(path: Path) -> str | None:
    try:
        return read_text(path, 200_000, "a record's text")
    except GolfkitError:
        return None


__all__ = ["PROBES", "ProbeOptions", "ProbeReport", "find_script", "isolation_claim", "probe_program",
           "probe_record"]
