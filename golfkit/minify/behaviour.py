"""The behaviour proof: the packed script, imported, defines what the original defines, and computes the same loss.

Decoding and compiling proves the packed file holds the program; it does not prove the program still
works once packed (15 record scripts with Triton kernels passed it and failed at import). So both the
original (as a plain file) and the packed script are imported, each in its own process in golfkit's
sandbox (golfkit.sandbox: the record's code runs contained, as everywhere else), under the same
conditions: the same path and module name (`train_gpt`, so `main()` does not run), the same environment
(a small model's sizes), the same sibling modules, golfkit's CPU stand-ins (golfkit.standins) for
`flash_attn_interface` and `triton` where they are missing. The child (behaviour_child.py) describes
every module-level name; the two descriptions must be equal:
- names and kinds; functions' and methods' parameters (names, kinds, defaults) and, where the packed
  script kept them, annotations; classes' bases and members, so the values of a `Hyperparameters` class;
- Triton kernels' parameter lists with their constexpr flags, and whether Triton can read their source;
  torch custom ops' schemas;
- where the script defines a GPT and a hyperparameter class: a small GPT built from the same seed gives the
  same weights and the same CPU forward loss, bit for bit.
A difference fails with the name that differs (`minify.behaviour.differs`). When the original itself does
not import here, nothing can be compared: `minify.behaviour.not_run` says so and why.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import stat
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from golfkit.errors import GolfkitError
from golfkit.findings import Finding, error, info, warning
from golfkit.sandbox import (
    UNCONFINED_NOTICE,
    Box,
    Limits,
    Outcome,
    SandboxUnavailable,
    python_roots,
    require,
    run_contained,
    scrubbed_env,
)

CHILD = Path(__file__).with_name("behaviour_child.py")
MODULE_NAME = "train_gpt"
STAND_IN_MODULES = {"flash_attn", "flash_attn_interface", "triton"}  # golfkit.standins serves these
MAX_SIBLINGS = 64
MAX_SIBLING_BYTES = 1 << 20
MAX_DIFFERENCES = 20
# Names whose use means the script reads its functions' source (so the proof checks that it can).
SOURCE_READERS = {"getsource", "getsourcelines", "getsourcefile", "findsource", "linecache", "script"}
# The environment both imports run under: a small model through the baseline family's variable names.
SMALL_MODEL_ENV = {
    "VOCAB_SIZE": "64", "NUM_LAYERS": "2", "MODEL_DIM": "32", "NUM_HEADS": "2", "NUM_KV_HEADS": "1",
    "MLP_MULT": "2", "TRAIN_SEQ_LEN": "32", "EVAL_SEQ_LEN": "32", "EVAL_STRIDE": "8", "COMPILE": "0",
    "SEED": "1337", "RUN_ID": "golfkit-minify-proof", "ITERATIONS": "1", "WARMUP_STEPS": "0",
    "TRAIN_BATCH_TOKENS": "256", "VAL_BATCH_SIZE": "256",
}
STATIC_HINT = "or --proof static to prove only that the file decodes and compiles (the behaviour is then not proven)"


@dataclass(frozen=True)
class BehaviourOptions:
    """Limits of each contained import, and whether to run without the sandbox (the user said so)."""

    unconfined: bool = False
    timeout_s: float = 300.0
    memory_mb: int = 4096
    model: bool = True


@dataclass
class Side:
    """One contained import: how the run ended and what the child sent."""

    label: str
    outcome: Outcome
    report: dict[str, Any] | None


def require_sandbox(where: str, options: BehaviourOptions) -> None:
    """Refuse (SandboxUnavailable, exit 2) before any work when the proof cannot run contained and the user
    did not choose --unconfined: the same rule as every other path that runs a record's code."""
    try:
        require(options.unconfined)
    except SandboxUnavailable as exc:
        raise SandboxUnavailable(f"{where}: the behaviour proof imports the script, so it runs contained; {exc}; "
                                 f"{STATIC_HINT}") from None


def prove_behaviour(original: str, packed: bytes, where: str, *, script_name: str = "train_gpt.py",
                    folder: Path | None = None, options: BehaviourOptions | None = None,
                    original_where: str | None = None) -> list[Finding]:
    """Import `original` (plain source) and `packed` (the file's bytes) alike in the sandbox and compare what
    they define; [minify.behaviour.ok] when equal. `folder`: where the script's sibling modules are.
    Raises SandboxUnavailable (exit 2) when bubblewrap is missing and `options.unconfined` is not set."""
    options = options or BehaviourOptions()
    require_sandbox(where, options)
    from golfkit.minify.minify import _identifiers, parse

    stand_ins = Path(__file__).resolve().parents[1] / "standins.py"  # golfkit.standins, loaded by path inside

    tree = parse(original, original_where or where)
    identifiers = _identifiers(tree)
    reads_source = bool(identifiers & SOURCE_READERS)
    name = Path(script_name).name or "train_gpt.py"
    siblings = _siblings(folder, {name}) if folder is not None else []
    request = {"module": MODULE_NAME, "sources": reads_source, "model": options.model,
               "warm_compile": "compile" in identifiers,
               "missing_modules": missing_modules(tree, {Path(n).stem for n, _ in siblings}),
               "torch": bool(top_level_imports(tree) & ({"torch"} | STAND_IN_MODULES))}
    jobs = [("original", original.encode("utf-8")), ("packed", packed)]
    if options.unconfined:
        # no sandbox: the paths the code sees are the host's, so both run one after the other in one folder
        with tempfile.TemporaryDirectory(prefix="golfkit-minify-") as tmp:
            original_side, packed_side = (_run(label, data, name, siblings, request, stand_ins, options, Path(tmp))
                                          for label, data in jobs)
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            original_side, packed_side = pool.map(
                lambda job: _run(job[0], job[1], name, siblings, request, stand_ins, options), jobs)
    return compare(original_side, packed_side, where, wrapper_names(packed))


def wrapper_names(packed: bytes) -> set[str]:
    """Names a wrapper binds in the module beside its program (`import lzma as L,base64 as B` in the records'
    wrappers; none in golfkit's): not the program's, so not compared when the original lacks them."""
    from golfkit.files import decode_source, parse_source
    from golfkit.wrappers import unwrap_source

    try:
        text = decode_source(packed, "packed script")
        if unwrap_source(text) is None:
            return set()
        tree = parse_source(text, "packed script")
    except GolfkitError:
        return set()
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        elif isinstance(stmt, ast.Assign):
            names.update(n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def top_level_imports(tree: ast.Module) -> set[str]:
    tops: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops


def missing_modules(tree: ast.Module, siblings: set[str]) -> list[str]:
    """Top-level modules the script imports that are not installed here (nor beside it, nor given a CPU stand-in):
    both imports get the same inert placeholder for them (behaviour_child.MissingFinder)."""
    tops = top_level_imports(tree) - STAND_IN_MODULES - siblings - {"__future__"}
    out = []
    for top in sorted(tops):
        try:
            found = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            found = None
        if found is None:
            out.append(top)
    return out


def _siblings(folder: Path, skip: set[str]) -> list[tuple[str, bytes]]:
    """The small regular `*.py` files beside the script (modules it may import), never through a link."""
    found: list[tuple[str, bytes]] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return found
    for entry in entries:
        if len(found) >= MAX_SIBLINGS:
            break
        if not entry.name.endswith(".py") or entry.name in skip or entry.name.startswith("."):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as f:
            info_ = os.fstat(f.fileno())
            if not stat.S_ISREG(info_.st_mode) or info_.st_size > MAX_SIBLING_BYTES:
                continue
            found.append((entry.name, f.read(MAX_SIBLING_BYTES)))
    return found


def _run(label: str, data: bytes, name: str, siblings: list[tuple[str, bytes]], request: dict[str, Any],
         stand_ins: Path, options: BehaviourOptions, root: Path | None = None) -> Side:
    """One contained import in a Box of its own (inside the sandbox every Box's paths are the same), or, given
    `root`, in a Box at that root, emptied first (unconfined runs: both sides see the same host paths)."""
    with tempfile.TemporaryDirectory(prefix=f"golfkit-minify-{label}-") as tmp:
        if root is not None:
            for part in ("work", "data", "in", "tmp"):
                shutil.rmtree(root / part, ignore_errors=True)
        box = Box(root or Path(tmp), confined=not options.unconfined)
        for sibling, content in siblings:
            (box.work / sibling).write_bytes(content)
        script = box.work / name
        script.write_bytes(data)
        shutil.copyfile(CHILD, box.inputs / "behaviour_child.py")
        body = dict(request, script=box.inside(script))
        if stand_ins.is_file():
            shutil.copyfile(stand_ins, box.inputs / "standins.py")
            body["stand_ins"] = box.inside(box.inputs / "standins.py")
        (box.inputs / "request.json").write_text(json.dumps(body))
        env = scrubbed_env(box.inside(box.work), dict(SMALL_MODEL_ENV, DATA_PATH=box.inside(box.data),
                                                      TOKENIZER_PATH=box.inside(box.data / "tokenizer.model")))
        outcome = run_contained([sys.executable, "-I", box.inside(box.inputs / "behaviour_child.py"),
                                 box.inside(box.inputs / "request.json")],
                                box=box, env=env, limits=Limits(wall_s=options.timeout_s, memory_mb=options.memory_mb),
                                readonly=python_roots(), channel_limit=64 << 20)
    report = None
    for line in outcome.channel.split(b"\n"):
        if line.strip():
            try:
                message = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(message, dict) and message.get("kind") == "behaviour":
                report = message
                break
    return Side(label, outcome, report)


# ----------------------------------------------------------------------------- comparing


def compare(original: Side, packed: Side, where: str, ignore: set[str] = frozenset()) -> list[Finding]:
    """The findings of comparing what the two imports sent; `ignore`: names the packed file's wrapper binds,
    left out when the original does not define them."""
    if original.report is None:
        return [_not_run(f"the original did not finish its import here ({_ended(original)})", where, original)]
    first = original.report.get("import")
    if first != "ok":
        again = packed.report.get("import") if packed.report else None
        if isinstance(again, dict) and isinstance(first, dict) and \
                (again.get("error"), again.get("message")) == (first.get("error"), first.get("message")):
            why = f"{first.get('error')}: {first.get('message')}"
            return [_not_run(f"the original does not import here ({why}), and the packed script fails the same "
                             "way", where, original)]
        why = f"{first.get('error')}: {first.get('message')}" if isinstance(first, dict) else str(first)
        return [_not_run(f"the original does not import here ({why})", where, original)]
    if packed.report is None:
        return [_differs([("import", "imports", f"the packed script's import did not finish ({_ended(packed)})")],
                         where, packed)]
    second = packed.report.get("import")
    if second != "ok":
        why = f"{second.get('error')}: {second.get('message')}" if isinstance(second, dict) else str(second)
        return [_differs([("import", "imports", f"fails: {why}")], where, packed,
                         traceback=second.get("traceback") if isinstance(second, dict) else None)]
    diffs: list[tuple[str, object, object]] = []
    a_names, b_names = original.report.get("names") or {}, packed.report.get("names") or {}
    extra = sorted(n for n in ignore if n in b_names and n not in a_names)
    b_names = {k: v for k, v in b_names.items() if k not in extra}
    for name in sorted(set(a_names) | set(b_names)):
        if name not in b_names:
            diffs.append((name, _short(a_names[name]), "not defined"))
        elif name not in a_names:
            diffs.append((name, "not defined", _short(b_names[name])))
        else:
            _walk(name, a_names[name], b_names[name], diffs)
    a_model, b_model = original.report.get("model"), packed.report.get("model")
    if a_model != b_model:
        a_model, b_model = a_model or {}, b_model or {}
        for key in ("error", "skipped", "parameters", "weights", "state", "loss"):
            if a_model.get(key) != b_model.get(key):
                diffs.append((f"model ({key})", a_model.get(key), b_model.get(key)))
                break
    if diffs:
        return [_differs(diffs, where, packed)]
    return [_ok(original.report, where, extra)]


def _walk(path: str, a: object, b: object, diffs: list[tuple[str, object, object]]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        if a.get("kind") != b.get("kind"):
            diffs.append((path, _short(a), _short(b)))
            return
        for key in sorted(set(a) | set(b), key=str):
            if key == "annotations" and "annotations" not in b:
                continue  # removed by the minifier where nothing reads them (see golfkit.minify.minify)
            sub = f"{path} ({key})"
            if key == "members" and isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
                for member in sorted(set(a[key]) | set(b[key])):
                    if member not in b[key]:
                        diffs.append((f"{path}.{member}", _short(a[key][member]), "not defined"))
                    elif member not in a[key]:
                        diffs.append((f"{path}.{member}", "not defined", _short(b[key][member])))
                    else:
                        _walk(f"{path}.{member}", a[key][member], b[key][member], diffs)
            elif a.get(key) != b.get(key):
                diffs.append((sub, _short(a.get(key)), _short(b.get(key))))
        return
    diffs.append((path, _short(a), _short(b)))


def _short(value: object) -> object:
    text = json.dumps(value, sort_keys=True)
    return value if len(text) <= 300 else text[:297] + "..."


def _ended(side: Side) -> str:
    o = side.outcome
    if o.status == "exited":
        tail = o.output_tail.strip().splitlines()
        return f"exit status {o.returncode}" + (f": {tail[-1][:200]}" if tail else "")
    return o.detail or o.status


def _not_run(why: str, where: str, side: Side) -> Finding:
    return warning("minify.behaviour.not_run",
                   f"behaviour not proven: {why}; nothing was compared, only the decode-and-compile proof holds",
                   file=where, evidence={"sandbox": side.outcome.describe(), "output_tail": side.outcome.output_tail[-1500:]})


def _differs(diffs: list[tuple[str, object, object]], where: str, side: Side, traceback: str | None = None) -> Finding:
    name, before, after = diffs[0]
    more = f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""
    evidence: dict[str, Any] = {"differences": [{"name": n, "original": a, "packed": b}
                                                for n, a, b in diffs[:MAX_DIFFERENCES]],
                                "count": len(diffs)}
    if traceback:
        evidence["traceback"] = traceback
    if side.outcome.status != "exited" or side.outcome.returncode:
        evidence["sandbox"] = side.outcome.describe()
        evidence["output_tail"] = side.outcome.output_tail[-1500:]
    return error("minify.behaviour.differs",
                 f"the packed script behaves differently from the original at {name}: original {_text(before)}, "
                 f"packed {_text(after)}{more}; do not ship it",
                 file=where, evidence=evidence)


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)[:200]


def _ok(report: dict[str, Any], where: str, extra: list[str]) -> Finding:
    names = report.get("names") or {}
    kinds: dict[str, int] = {}
    for value in names.values():
        kind = value.get("kind") if isinstance(value, dict) else "value"
        kinds[kind] = kinds.get(kind, 0) + 1
    model = report.get("model") or {}
    if "loss" in model:
        what = (f"a seeded {model.get('parameters', 0):,}-parameter GPT gives the same weights and the same CPU loss, "
                f"bit for bit ({model.get('loss_value')!r})")
    else:
        what = f"no model compared ({model.get('skipped') or model.get('error') or 'not asked'})"
    parts = [f"{len(names)} module-level names", f"{kinds.get('class', 0)} classes",
             f"{kinds.get('function', 0)} functions"]
    if kinds.get("triton"):
        parts.append(f"{kinds['triton']} Triton kernels with their constexpr flags and readable source")
    if kinds.get("custom_op"):
        parts.append(f"{kinds['custom_op']} custom ops")
    stand_ins = report.get("stand_ins") or []
    placeholders = report.get("placeholders") or []
    under = f" under golfkit's CPU stand-ins for {', '.join(stand_ins)}" if stand_ins else ""
    if placeholders:
        under += f"{' and' if under else ''} with inert placeholders for {', '.join(placeholders)} (not installed here)"
    also = f" (its wrapper also binds {', '.join(extra)})" if extra else ""
    return info("minify.behaviour.ok",
                f"behaviour: the packed script imports{under} and matches the original{also}: {', '.join(parts)}; "
                f"{what}",
                file=where, evidence={"names": len(names), "kinds": kinds, "model": model, "stand_ins": stand_ins,
                                      "placeholders": placeholders, "wrapper_names": extra})


__all__ = ["UNCONFINED_NOTICE", "BehaviourOptions", "compare", "prove_behaviour"]
