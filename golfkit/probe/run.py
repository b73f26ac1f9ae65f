"""`golfkit probe` end to end: record folder -> working copy -> sandboxed child -> probes -> report."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from golfkit.errors import GolfkitError
from golfkit.facts import main_script
from golfkit.files import read_source
from golfkit.findings import Finding, error, warning
from golfkit.probe.inputs import DEFAULT_VOCAB, load_table, make_plan, tokenizer_bytes
from golfkit.probe.probes import PROBES, EvaluatorResult, analyse_evaluator
from golfkit.probe.sandbox import SandboxResult, run_child
from golfkit.wrappers import unwrap_source

MAX_COPY_BYTES = 1 << 20  # files of the record copied into the working copy (scripts, small configs)
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
        }


def find_script(record: Path) -> Path:
    """The record's training script as `golfkit.facts.main_script` chooses it (train_gpt.py, else the
    only train_gpt*.py, else the only .py file); a file is taken as is. A guess is refused."""
    if record.is_file():
        return record
    if not record.is_dir():
        raise GolfkitError(f"{record}: no such record folder or script")
    choice = main_script({p.name: p.stat().st_size for p in record.glob("*.py") if p.is_file()})
    if choice is None:
        raise GolfkitError(f"{record}: no train_gpt.py to probe; pass the script itself as RECORD")
    if choice.guessed_among:
        names = ", ".join(choice.guessed_among)
        raise GolfkitError(f"{record}: several scripts ({names}) and no train_gpt.py; pass the one to probe as RECORD")
    return record / choice.name


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
    unwrapped = unwrap_source(text)
    program = unwrapped.source if unwrapped is not None else text
    texts = [_read_text(script.parent / n) for n in ("README.md", "submission.json")]
    return probe_program(script.parent, script.name, program, unwrapped.layers if unwrapped else (),
                         [t for t in texts if t], options, str(record))


def probe_program(folder: Path, script_name: str, program: str, wrapper_layers: tuple[str, ...],
                  texts: list[str], options: ProbeOptions | None = None, label: str | None = None) -> ProbeReport:
    """Probe `program` (the decoded script) as if it were `folder/script_name`. `texts` (README,
    submission.json) are searched for a claim of document-isolated evaluation."""
    options = options or ProbeOptions()
    claim = isolation_claim(program, texts)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="golfkit-probe-") as tmp:
        work = Path(tmp)
        _working_copy(folder, work)
        target = work / f"{MODULE_NAME}.py"
        target.write_text(program, encoding="utf-8")
        data = work / "probe_data"
        data.mkdir()
        tok = tokenizer_bytes(options.vocab_size)
        (data / "tokenizer.model").write_bytes(tok)
        table, is_byte = load_table(tok)
        plan = make_plan(table, is_byte, options.seq_len, options.stride, options.windows, options.seed,
                         options.sweep)
        request = {
            "script": str(target), "module": MODULE_NAME, "tokenizer": str(data / "tokenizer.model"),
            "val_shard": str(data / "fineweb_val_000000.bin"), "vocab_size": plan.vocab_size,
            "seq_len": plan.seq_len, "stride": plan.stride, "seed": options.seed + 1234,
            "streams": plan.streams, "runs": plan.runs, "only": list(options.only),
        }
        env = probe_env(data, plan.vocab_size, plan.seq_len, plan.stride)
        box = run_child(request, work, env, options.timeout_s, options.memory_mb)
    report = ProbeReport(label or str(folder), script_name, [], wrapper_layers=wrapper_layers,
                         document_isolation_claim=claim)
    report.sandbox = {"status": box.status, "seconds": round(box.seconds, 3), "returncode": box.returncode,
                      "network_namespace": box.isolated_network, "memory_mb": options.memory_mb,
                      "timeout_s": options.timeout_s}
    report.findings.extend(_sandbox_findings(box, script_name, options))
    if box.status == "ok" and box.result is not None:
        result = box.result
        if result.get("document_isolated") is not None:  # the adapter's word beats the heuristics
            claim = "golfkit_probe_adapter() says document_isolated" if result["document_isolated"] else None
            report.document_isolation_claim = claim
        found = result.get("evaluators", {})
        if not found and options.only and result.get("available"):
            report.findings.append(warning(
                "probe.harness.no_evaluator",
                f"{script_name} has no evaluator named {', '.join(options.only)}; it has "
                f"{', '.join(result['available'])}", file=script_name))
        elif not found:
            report.findings.append(warning(
                "probe.harness.no_evaluator",
                f"{script_name} defines no eval_val* function golfkit can call; add golfkit_probe_adapter() with "
                "'evaluators' (docs/probe.md)", file=script_name))
        for name, data_ in sorted(found.items()):
            ev = analyse_evaluator(name, data_, plan, table, script_name, claim is not None)
            report.evaluators.append(ev)
            report.findings.extend(ev.findings)
    report.seconds = time.monotonic() - start
    return report


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


def _sandbox_findings(box: SandboxResult, script: str, options: ProbeOptions) -> list[Finding]:
    result = box.result or {}
    detail = str(result.get("detail", "")).strip()
    tail = box.output_tail[-1500:]
    if box.status == "ok":
        return []
    if box.status == "timeout":
        return [error("probe.sandbox.timeout",
                      f"{script} was stopped after {options.timeout_s:.0f} s of wall time (an endless loop, or "
                      "work far beyond a tiny model); raise --timeout if it is only slow",
                      file=script, evidence={"seconds": round(box.seconds, 1), "output_tail": tail})]
    if box.status == "cpu":
        return [error("probe.sandbox.timeout",
                      f"{script} used up its CPU-time limit ({int(options.timeout_s) + 1} s) and was stopped",
                      file=script, evidence={"seconds": round(box.seconds, 1), "output_tail": tail})]
    if box.status == "memory":
        return [error("probe.sandbox.memory",
                      f"{script} tried to allocate more than the {options.memory_mb} MB address-space limit and "
                      f"was stopped ({detail or 'out of memory'}); raise --memory if a tiny model really needs it",
                      file=script, evidence={"detail": detail, "output_tail": tail})]
    if box.status == "network":
        return [error("probe.sandbox.network",
                      f"{script} tried to use the network and was stopped: {detail.splitlines()[0] if detail else ''}",
                      file=script, evidence={"detail": detail[-1500:]})]
    if box.status == "setup":
        return [warning(f"probe.harness.{result.get('kind', 'setup')}", f"{script}: {detail}", file=script)]
    if box.status == "error":
        stage = result.get("stage", "run")
        what = "could not be imported" if stage == "import" else f"failed during {stage}"
        return [warning("probe.harness.import_failed" if stage == "import" else "probe.harness.failed",
                        f"{script} {what} on CPU: {detail.splitlines()[0] if detail else 'unknown error'}; no probe "
                        "ran (a CUDA-only dependency? see docs/probe.md for the adapter)",
                        file=script, evidence={"detail": detail, "traceback": result.get("traceback", "")[-2000:]})]
    return [error("probe.sandbox.crashed",
                  f"{script} killed the probe process ({box.status}, exit status {box.returncode}); the verifier "
                  "itself is unaffected", file=script, evidence={"returncode": box.returncode, "output_tail": tail})]


def _working_copy(folder: Path, work: Path) -> None:
    """Copy the record's small regular files (scripts and what they read), never following links."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_symlink() or not path.is_file() or any(p.startswith(".") for p in rel.parts):
            continue
        if path.stat().st_size > MAX_COPY_BYTES:
            continue
        dest = work / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return None


__all__ = ["PROBES", "ProbeOptions", "ProbeReport", "find_script", "isolation_claim", "probe_program",
           "probe_record"]
