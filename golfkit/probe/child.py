"""The probe child: runs inside the sandbox, imports the record's script and records what its evaluators do.

Started as `python -I child.py REQUEST.json` in a temporary working copy of the record, with a scrubbed
environment and resource limits (see sandbox.py). Deliberately standalone (standard library, torch,
numpy, sentencepiece; no golfkit import), so that the record's code never shares a process with the
verifier. It writes one JSON document to the request's `result_path` and nothing else that golfkit reads.

What it does, per evaluator found in the script (`eval_val*` functions, or an adapter's):
for each planned run (a token stream, possibly edited), it restores the same small random model,
writes the stream as a validation shard, loads it with the script's own loader, calls the evaluator
and records every per-token score it computes through `F.cross_entropy` / `F.nll_loss` (position,
target, loss, whether gradients were on), the windows trained on with gradients on, and the parameter
updates, all on one event clock. The parent (golfkit.probe.probes) turns that into findings.
"""

import importlib.util
import inspect
import json
import math
import os
import random
import sys
import time
import traceback
import warnings

RESULT_PATH = None
MAX_ROWS_PER_RUN = 200_000  # scored rows kept per run; the probe streams have a few hundred targets


def write_result(obj):
    tmp = RESULT_PATH + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, RESULT_PATH)


def stop(status, detail):
    """End the child at once with a status for the parent (network use, ...)."""
    try:
        write_result({"status": status, "detail": detail})
    finally:
        os._exit(3)


def set_limits(cpu_s, memory_mb, file_bytes):
    """Limits for the rest of this process's life, set before any of the record's code runs."""
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def install_network_guard():
    """Any attempt to open an internet socket ends the run (the sandbox may also have no network at all)."""
    import _socket
    import socket

    real = socket.socket

    class GuardedSocket(real):
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            fam = socket.AF_INET if family == -1 else family
            if fam in (socket.AF_INET, socket.AF_INET6):
                stop("network", f"the script opened a socket (family {int(fam)})\n" + "".join(
                    traceback.format_stack(limit=8)[:-1]))
            super().__init__(family, type, proto, fileno)

    def refuse(*args, **kwargs):
        stop("network", "the script tried a network call: " + repr(args[:2])[:200] + "\n" + "".join(
            traceback.format_stack(limit=8)[:-1]))

    socket.socket = GuardedSocket
    _socket.socket = GuardedSocket
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    _socket.getaddrinfo = refuse


# ----------------------------------------------------------------------------- recording


class Recorder:
    """Per-run event log: windows seen by the model, scored rows, training windows, parameter updates."""

    def __init__(self, torch, vocab_size):
        self.torch = torch
        self.vocab = vocab_size
        gen = random.Random(7)
        cols = gen.sample(range(vocab_size), min(vocab_size, 12))
        # Three disjoint column subsets: a logits row is recognised if any of them is unchanged, so an
        # evaluator that edits one logit (a bonus on the target, say) is still attributed to its position.
        self.subsets = [cols[i::3] for i in range(3)]
        self.active = False
        self.busy = False
        self.params = []

    def start(self, stream, keep, rows_at):
        self.stream = stream
        self.keep = set(keep) if keep is not None else None
        self.rows_at = set(rows_at or ())
        self.index = {}
        self.fp = [{} for _ in self.subsets]
        self.count = {}
        self.clock = 0
        self.scores = []
        self.train_uses = []
        self.updates = []
        self.rows = {}
        self.unattributed = 0
        self.unnormalized = []
        self.stack = []
        self.version = self.param_version()
        self.active = True

    def tick(self):
        self.clock += 1
        return self.clock

    def param_version(self):
        return sum(p._version for p in self.params)

    def check_update(self):
        v = self.param_version()
        if v != self.version:
            self.version = v
            self.updates.append(self.tick())

    def on_optimizer_step(self, *args):
        if self.active and not self.busy:
            self.updates.append(self.tick())
            self.version = self.param_version()

    # -- where does a window of inputs sit in the stream?
    def locate(self, row):
        n = len(row)
        k = min(8, n)
        if k == 0:
            return None, 0
        key = tuple(row[:k])
        if k not in self.index:
            s = self.stream
            table = {}
            for i in range(len(s) - k + 1):
                table.setdefault(tuple(s[i:i + k]), []).append(i)
            self.index[k] = table
        best, best_len = None, 0
        for start in self.index[k].get(key, ()):
            m = k
            limit = min(n, len(self.stream) - start)
            while m < limit and self.stream[start + m] == row[m]:
                m += 1
            if m > best_len:
                best, best_len = start, m
        return best, best_len

    def keys(self, rows):
        """Fingerprint keys (one per column subset) of each logits row [N, V] (float32 values, exact)."""
        out = []
        for cols in self.subsets:
            vals = rows[:, cols].detach().float().contiguous().cpu().numpy()
            out.append([r.tobytes() for r in vals])
        return out

    def window_starts(self, idx):
        """(start in the stream, matched length) of each input row of idx [B, T]."""
        self.busy = True
        try:
            return [self.locate(r) for r in idx.detach().cpu().tolist()]
        finally:
            self.busy = False

    def on_model_call(self, idx, out, starts):
        """A model call on idx [B, T] returned `out`; register its windows and logits rows."""
        torch = self.torch
        if self.busy or not self.active:
            return
        self.busy = True
        try:
            self.check_update()
            t = self.tick()
            if torch.is_grad_enabled():
                for start, m in starts:
                    if start is not None:
                        self.train_uses.append([start, start + m, t])
            if isinstance(out, torch.Tensor) and out.dim() == 3 and out.shape[:2] == idx.shape \
                    and out.shape[-1] == self.vocab:
                flat = out.detach().reshape(-1, self.vocab)
                keys = self.keys(flat)
                width = idx.shape[1]
                for b, (start, m) in enumerate(starts):
                    if start is None:
                        continue
                    for j in range(m):
                        r = b * width + j
                        for sub, table in enumerate(self.fp):
                            table.setdefault(keys[sub][r], set()).add(start + j)
        finally:
            self.busy = False

    def attribute(self, keys, target):
        """The stream position a scored row belongs to, from its fingerprints and its target.

        Equal rows happen (every BOS position of a document-isolated model predicts alike), so the
        candidates whose next token is the target are preferred, the least scored one first."""
        for key, table in zip(keys, self.fp):
            cands = table.get(key)
            if not cands:
                continue
            fits = [p for p in cands if p + 1 < len(self.stream) and self.stream[p + 1] == target]
            if fits:
                return min(sorted(fits), key=lambda p: self.count.get(p, 0))
            return next(iter(cands)) if len(cands) == 1 else None
        return None

    def on_rows(self, rows, targets, losses, logprobs):
        """Rows scored by cross_entropy (logits) or nll_loss (log-probabilities)."""
        torch = self.torch
        if self.busy or not self.active:
            return
        self.busy = True
        try:
            self.check_update()
            t = self.tick()
            grad = torch.is_grad_enabled()
            if logprobs:
                lse = torch.logsumexp(rows.detach().float(), dim=-1)
                worst = float((lse.abs()).max()) if lse.numel() else 0.0
                if worst > 1e-3:
                    self.unnormalized.append(worst)
            keys = self.keys(rows) if rows.shape[-1] == self.vocab else None
            tg = targets.detach().cpu().tolist()
            ls = losses.detach().double().cpu().tolist()
            fallback = self.stack[-1] if self.stack else None
            for i, (y, loss) in enumerate(zip(tg, ls)):
                pos = self.attribute([k[i] for k in keys], y) if keys is not None else None
                if pos is None and fallback is not None and fallback[1] * fallback[2] == len(tg):
                    # inside a model call whose logits never left it: rows are in window order
                    b, j = divmod(i, fallback[2])
                    start, m = fallback[0][b]
                    if start is not None and j < m:
                        pos = start + j
                if pos is None:
                    self.unattributed += 1
                    continue
                if self.keep is not None and pos not in self.keep:
                    continue
                self.count[pos] = self.count.get(pos, 0) + 1
                if len(self.scores) < MAX_ROWS_PER_RUN:
                    self.scores.append([pos, int(y), loss, t, int(grad)])
                if pos in self.rows_at and pos not in self.rows:
                    row = rows[i].detach().float()
                    self.rows[pos] = (row if logprobs else torch.log_softmax(row, -1)).tolist()
        finally:
            self.busy = False

    def result(self):
        self.check_update()
        return {"scores": self.scores, "train_uses": self.train_uses, "updates": self.updates,
                "unattributed": self.unattributed, "unnormalized_rows": len(self.unnormalized),
                "rows": {str(k): v for k, v in self.rows.items()}}


def patch_losses(torch, rec):
    F = torch.nn.functional
    real_ce, real_nll = F.cross_entropy, F.nll_loss
    ce_sig, nll_sig = inspect.signature(real_ce), inspect.signature(real_nll)

    def per_row(real, sig, args, kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        a = dict(bound.arguments)
        inp, tgt = a.pop("input"), a.pop("target")
        a.update(reduction="none", size_average=None, reduce=None)
        if inp.dim() == 1:
            inp, tgt = inp[None], tgt.reshape(1)
        elif inp.dim() > 2:
            inp = inp.movedim(1, -1)
        if tgt.dtype.is_floating_point:
            return None  # class probabilities as targets: not a per-token score
        rows, tgt = inp.reshape(-1, inp.shape[-1]), tgt.reshape(-1)
        with torch.no_grad():
            losses = real(rows.detach(), tgt, **a)
        keep = tgt != a.get("ignore_index", -100)
        return rows[keep], tgt[keep], losses[keep]

    def make(real, sig, logprobs):
        def wrapped(*args, **kwargs):
            out = real(*args, **kwargs)
            if rec.active and not rec.busy:
                got = per_row(real, sig, args, kwargs)
                if got is not None:
                    rec.on_rows(*got, logprobs=logprobs)
            return out
        wrapped.__wrapped__ = real
        return wrapped

    F.cross_entropy = make(real_ce, ce_sig, False)
    F.nll_loss = make(real_nll, nll_sig, True)


def instrument_model(torch, model, rec):
    """Wrap the instance's forward and forward_logits so that every call is seen, outermost or not."""
    for name in ("forward", "forward_logits"):
        real = getattr(model, name, None)
        if real is None:
            continue

        def wrapped(*args, _real=real, **kwargs):
            idx = args[0] if args else next(iter(kwargs.values()), None)
            if not (rec.active and not rec.busy and isinstance(idx, torch.Tensor) and idx.dim() == 2):
                return _real(*args, **kwargs)
            starts = rec.window_starts(idx)
            rec.stack.append((starts, idx.shape[0], idx.shape[1]))
            try:
                out = _real(*args, **kwargs)
            finally:
                rec.stack.pop()
            rec.on_model_call(idx, out, starts)
            return out

        setattr(model, name, wrapped)


# ----------------------------------------------------------------------------- the record's code


def neutralise_gpu(torch):
    """The scripts are written for CUDA; on the probe's CPU these calls must be harmless."""
    torch.compile = lambda model=None, *a, **k: (model if model is not None else (lambda f: f))
    torch.cuda.synchronize = lambda *a, **k: None
    torch.cuda.empty_cache = lambda *a, **k: None
    torch.set_num_threads(1)


def import_script(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_args(module):
    cls = getattr(module, "Hyperparameters", None)
    if cls is None:
        return None
    return cls()


def build_model(torch, module, args, adapter):
    if adapter.get("build_model") is not None:
        return adapter["build_model"](args)
    cls = getattr(module, "GPT", None)
    if cls is None:
        raise ProbeSetupError("no_model", "the script defines no GPT class; add golfkit_probe_adapter() "
                              "returning {'build_model': ...} (docs/probe.md)")
    kwargs, missing = {}, []
    for pname, p in inspect.signature(cls).parameters.items():  # without self, whatever it is called
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if args is not None and hasattr(args, pname):
            kwargs[pname] = getattr(args, pname)
        elif p.default is p.empty:
            missing.append(pname)
    if missing:
        raise ProbeSetupError("no_model", f"cannot build GPT: parameters {missing} match no Hyperparameters "
                              "attribute; add golfkit_probe_adapter() with 'build_model' (docs/probe.md)")
    return cls(**kwargs)


def randomise(torch, model, seed):
    """Every weight random and every gate open, so that each path of the architecture carries signal
    (the scripts zero-initialise output projections, which would hide attention and MLP entirely)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.is_floating_point():
                continue
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if p.dim() >= 2 and name.endswith("weight"):
                p.copy_((noise / math.sqrt(p.shape[-1])).to(p.dtype))
            else:
                p.copy_((p.float() + 0.3 * noise).to(p.dtype))


class ProbeSetupError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def evaluators(module, adapter):
    if adapter.get("evaluators"):
        return dict(adapter["evaluators"])
    found = {}
    for name, fn in vars(module).items():
        if name.startswith("eval_val") and inspect.isfunction(fn) and fn.__module__ == module.__name__:
            found[name] = fn
    return found


def call_evaluator(fn, known):
    """Call an evaluator, binding its parameters by name (docs/probe.md lists the names)."""
    kwargs = {}
    for pname, p in inspect.signature(fn).parameters.items():
        if pname in known:
            kwargs[pname] = known[pname]
        elif p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not p.empty:
            continue
        else:
            raise ProbeSetupError("unbound", f"parameter {pname!r} of {fn.__name__} has no value golfkit knows; "
                                  "add golfkit_probe_adapter() with 'evaluators' (docs/probe.md)")
    return fn(**kwargs)


def two_numbers(value):
    if isinstance(value, dict):
        value = (value.get("val_loss"), value.get("val_bpb"))
    if isinstance(value, (tuple, list)) and len(value) >= 2:
        try:
            return [float(value[0]), float(value[1])]
        except (TypeError, ValueError):
            return None
    return None


def write_shard(path, tokens):
    import numpy as np

    header = np.zeros(256, dtype="<i4")
    header[:3] = (20240520, 1, len(tokens))
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.asarray(tokens, dtype="<u2").tobytes())


def load_stream(torch, module, args, req, tokens):
    """Write the stream as the validation shard and read it back with the script's own loader."""
    write_shard(req["val_shard"], tokens)
    loader = getattr(module, "load_validation_tokens", None)
    if loader is None or args is None:
        return torch.tensor(tokens, dtype=torch.int64)
    values = {"pattern": getattr(args, "val_files", req["val_shard"]), "seq_len": req["seq_len"],
              "vocab_size": req["vocab_size"]}
    kwargs = {}
    for pname, p in inspect.signature(loader).parameters.items():
        if pname in values:
            kwargs[pname] = values[pname]
        elif p.default is p.empty:
            return torch.tensor(tokens, dtype=torch.int64)
    return loader(**kwargs)


# ----------------------------------------------------------------------------- the probe run


class Harness:
    """What is set up before the record's code is imported: torch made CPU-safe, numpy, sentencepiece,
    and the recorder hooked into the loss functions and every optimizer step."""

    def __init__(self, req):
        import numpy as np
        import sentencepiece as spm
        import torch

        neutralise_gpu(torch)
        self.torch, self.np, self.spm = torch, np, spm
        self.rec = Recorder(torch, req["vocab_size"])
        patch_losses(torch, self.rec)
        from torch.optim.optimizer import register_optimizer_step_post_hook

        register_optimizer_step_post_hook(self.rec.on_optimizer_step)
        sys.path.insert(0, os.path.dirname(req["script"]))


class Subject:
    """The record's side, made ready to probe: its adapter and hyperparameters, the instrumented random
    model with its initial state, the byte lookup tables, and the evaluators found."""

    def __init__(self, harness, module, req):
        torch = harness.torch
        self.module = module
        hook = getattr(module, "golfkit_probe_adapter", None)
        self.adapter = dict(hook() or {}) if callable(hook) else {}
        self.args = build_args(module)
        self.device = torch.device("cpu")
        torch.manual_seed(0)
        self.model = build_model(torch, module, self.args, self.adapter).float().to(self.device)
        randomise(torch, self.model, req["seed"])
        harness.rec.params = list(self.model.parameters())
        self.initial = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        instrument_model(torch, self.model, harness.rec)
        sp = harness.spm.SentencePieceProcessor(model_file=req["tokenizer"])
        luts_fn = getattr(module, "build_sentencepiece_luts", None)
        if luts_fn is None:
            raise ProbeSetupError("no_luts", "the script has no build_sentencepiece_luts(sp, vocab_size, device); "
                                  "add golfkit_probe_adapter() with 'evaluators' (docs/probe.md)")
        self.luts = luts_fn(sp, req["vocab_size"], self.device)
        self.evaluators = evaluators(module, self.adapter)

    def summary(self, setup_s):
        """The result document before any evaluator ran: what was found and built."""
        return {"status": "ok", "setup_s": setup_s, "evaluators": {}, "available": sorted(self.evaluators),
                "document_isolated": self.adapter.get("document_isolated"),
                "model_class": type(self.model).__name__,
                "model_params": sum(p.numel() for p in self.model.parameters())}


def read_request(path):
    """The parent's request (streams, runs, limits, where to write the result)."""
    with open(path) as f:
        return json.load(f)


def confine(limits):
    """Resource limits and the network guard, before anything of the record's is imported."""
    set_limits(limits["cpu_s"], limits["memory_mb"], limits["file_bytes"])
    install_network_guard()
    warnings.simplefilter("ignore")  # CUDA-only settings warn on CPU; the output is not read anyway


def probe_evaluator(harness, subject, req, fn):
    """Every planned run of one evaluator, up to its first failure; with its time and source line."""
    runs, error = {}, None
    t1 = time.time()
    loaded = {}
    for run in req["runs"]:
        result, error = probe_run(harness, subject, req, fn, run, loaded)
        if error is not None:
            break
        runs[run["id"]] = result
    code = getattr(inspect.unwrap(fn), "__code__", None)
    return {"runs": runs, "error": error, "seconds": time.time() - t1,
            "line": code.co_firstlineno if code is not None else None}


def probe_run(harness, subject, req, fn, run, loaded):
    """One planned run: (what the recorder saw, None), or (None, the error that ended the evaluator)."""
    tokens, vt = run_stream(harness, subject, req, run, loaded)
    reset_state(harness, subject)
    known = evaluator_inputs(subject, req, vt)
    rec = harness.rec
    rec.start(tokens, run.get("keep"), run.get("rows_at"))
    try:
        value = call_evaluator(fn, known)
    except ProbeSetupError as exc:
        rec.active = False
        return None, {"kind": exc.kind, "message": str(exc)}
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - the record's own failure: reported, the others go on
        rec.active = False
        return None, {"kind": "failed", "message": f"{type(exc).__name__}: {exc}"[:500],
                      "traceback": traceback.format_exc()[-2000:]}
    rec.active = False
    res = rec.result()
    res["returned"] = two_numbers(value)
    res["num_tokens"] = int(vt.numel()) if hasattr(vt, "numel") else len(tokens)
    return res, None


def run_stream(harness, subject, req, run, loaded):
    """The run's token stream (edits applied) and the same stream as the script's loader returns it."""
    tokens = list(req["streams"][run["stream"]])
    for i, tok in run.get("edits", ()):
        tokens[i] = tok
    if run["stream"] not in loaded:
        loaded[run["stream"]] = load_stream(harness.torch, subject.module, subject.args, req,
                                            req["streams"][run["stream"]])
    vt = loaded[run["stream"]]
    if run.get("edits"):
        # the loader read this stream once; an edited copy is the same stream with the edit
        vt = vt.clone()
        for i, tok in run["edits"]:
            if i < vt.numel():
                vt[i] = tok
    return tokens, vt


def reset_state(harness, subject):
    """The initial random model in training mode, and every random generator seeded alike."""
    subject.model.load_state_dict(subject.initial)
    subject.model.train()
    harness.torch.manual_seed(0)
    random.seed(0)
    harness.np.random.seed(0)


def evaluator_inputs(subject, req, vt):
    """Values for an evaluator's parameters, by the names the scripts use (docs/probe.md)."""
    def noop(*a, **k):
        return None

    args, model, luts = subject.args, subject.model, subject.luts
    return {"args": args, "h": args, "hp": args, "hparams": args, "model": model,
            "base_model": model, "rank": 0, "world_size": 1, "device": subject.device,
            "grad_accum_steps": 1, "val_tokens": vt, "base_bytes_lut": luts[0],
            "has_leading_space_lut": luts[1], "is_boundary_token_lut": luts[2],
            "stride": req["stride"], "eval_stride": req["stride"], "seq_len": req["seq_len"],
            "eval_seq_len": req["seq_len"], "log0": noop, "log_fn": noop, "log": noop,
            "logger": noop, "print_fn": noop}


def failure(exc, stage):
    """The result document for whatever else the record raised: an error, or memory when it says so."""
    text = f"{type(exc).__name__}: {exc}"
    status = "memory" if "can't allocate memory" in text or "out of memory" in text.lower() else "error"
    return {"status": status, "stage": stage, "detail": text[:1000], "traceback": traceback.format_exc()[-3000:]}


def main():
    global RESULT_PATH
    req = read_request(sys.argv[1])
    RESULT_PATH = req["result_path"]
    confine(req["limits"])
    stage = "harness"
    try:
        harness = Harness(req)
        t0 = time.time()
        stage = "import"
        module = import_script(req["script"], req["module"])
        stage = "setup"
        subject = Subject(harness, module, req)
        out = subject.summary(time.time() - t0)
        stage = "run"
        for name, fn in sorted(subject.evaluators.items()):
            if req.get("only") and name not in req["only"]:
                continue
            out["evaluators"][name] = probe_evaluator(harness, subject, req, fn)
        write_result(out)
    except MemoryError:
        write_result({"status": "memory", "stage": stage, "detail": "MemoryError: allocation over the limit"})
    except ProbeSetupError as exc:
        write_result({"status": "setup", "stage": stage, "kind": exc.kind, "detail": str(exc)})
    except BaseException as exc:  # noqa: BLE001 - everything the record raises is a report, not a crash
        write_result(failure(exc, stage))


if __name__ == "__main__":
    main()
