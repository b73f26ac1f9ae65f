"""The probe child: runs inside the sandbox, imports the record's script and records what its evaluators do.

Started as `python -I child.py REQUEST.json` in golfkit's sandbox (golfkit/sandbox.py), in a working copy
of the record, with a scrubbed environment and resource limits. Deliberately standalone (standard library,
torch, numpy, sentencepiece; no golfkit import), so that the record's code never shares a process with the
verifier. It sends raw observations, one JSON object per line, over the pipe the parent created
(GOLFKIT_CHANNEL_FD): `setup`, one `evaluator` per evaluator probed, then `done`, or a `failure`. The
parent decides every verdict, and checks that each planned run produced its observations.

What it does, per evaluator found in the script (`eval_val*` functions, or an adapter's):
for each planned run (a token stream, possibly edited), it restores the same small random model,
writes the stream as a validation shard, loads it with the script's own loader, calls the evaluator
and records every per-token score it computes through `F.cross_entropy` / `F.nll_loss` (position,
target, loss, whether gradients were on), the windows trained on with gradients on, and the parameter
updates, all on one event clock. The parent (golfkit.probe.probes) turns that into findings.
"""

import copy
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

CHANNEL = None  # the write end of the pipe the parent created (GOLFKIT_CHANNEL_FD)
MAX_ROWS_PER_RUN = 200_000  # scored rows kept per run; the probe streams have a few hundred targets


def open_channel():
    """Take the pipe the parent passed; the parent reads raw observations from it, one JSON per line."""
    global CHANNEL
    fd = int(os.environ.pop("GOLFKIT_CHANNEL_FD"))
    CHANNEL = os.fdopen(fd, "w", encoding="utf-8")


def send(kind, **fields):
    """One observation for the parent: setup, evaluator, failure or done."""
    CHANNEL.write(json.dumps(dict(fields, kind=kind)) + "\n")
    CHANNEL.flush()


def stop(status, detail):
    """End the child at once with what it saw (network use, ...)."""
    try:
        send("failure", status=status, detail=detail)
    finally:
        os._exit(3)


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
        self.run = 0  # which run a pending loss tensor belongs to (a tensor kept past its run is ignored)
        self.Pending = pending_losses_class(torch, self)

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
        self.unattributed_grad = 0  # of those, rows computed with gradients on (training, unless all are)
        self.unnormalized = []
        self.stack = []
        # Rows of a reduction="none" loss wait here until the evaluator sums (or otherwise uses) them:
        # [pos or None, target, loss, time], and the index of each confirmed one -> gradients were on.
        self.pending = []
        self.confirmed = {}
        self.run += 1
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
    def locate(self, row, at=0):
        """(start in the stream, matched length) of row[at:]'s longest prefix found in the stream."""
        n = len(row) - at
        k = min(8, n)
        if k <= 0:
            return None, 0
        key = tuple(row[at:at + k])
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
            while m < limit and self.stream[start + m] == row[at + m]:
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

    def segments(self, row):
        """[(offset in the row, start in the stream, length)] of one input row: one stretch for a window,
        several for windows laid end to end in one row (a variable-length attention batch); tokens found
        nowhere (padding) are skipped. After the first, a stretch needs 4 tokens to be looked for."""
        out, at = [], 0
        while at < len(row) and (at == 0 or len(row) - at >= 4):
            start, m = self.locate(row, at)
            if start is None:
                at += 1
                continue
            out.append((at, start, m))
            at += m
        return out

    def window_starts(self, idx):
        """The stretches of the stream (segments) that each input row of idx [B, T] holds."""
        self.busy = True
        try:
            return [self.segments(r) for r in idx.detach().cpu().tolist()]
        finally:
            self.busy = False

    @staticmethod
    def position(segs, j):
        """The stream position of column j of a row with these segments, or None."""
        for off, start, m in segs:
            if off <= j < off + m:
                return start + j - off
        return None

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
                for segs in starts:
                    for _, start, m in segs:
                        self.train_uses.append([start, start + m, t])
            if isinstance(out, torch.Tensor) and out.dim() == 3 and out.shape[:2] == idx.shape \
                    and out.shape[-1] == self.vocab:
                flat = out.detach().reshape(-1, self.vocab)
                keys = self.keys(flat)
                width = idx.shape[1]
                for b, segs in enumerate(starts):
                    for off, start, m in segs:
                        for j in range(m):
                            r = b * width + off + j
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

    def on_rows(self, rows, targets, losses, logprobs, pending=False):
        """Rows scored by cross_entropy (logits) or nll_loss (log-probabilities).

        `pending` (a reduction="none" call): the rows count only once the evaluator uses them (confirm);
        returns then, per row, the index of its pending record (-1: none kept)."""
        torch = self.torch
        if self.busy or not self.active:
            return None
        ids = []
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
                    pos = self.position(fallback[0][b], j)
                if pending:
                    if (pos is None or self.keep is None or pos in self.keep) and len(self.pending) < MAX_ROWS_PER_RUN:
                        ids.append(len(self.pending))
                        self.pending.append([pos, int(y), loss, t])
                    else:
                        ids.append(-1)
                if pos is None:
                    if not pending:
                        self.unattributed += 1
                        self.unattributed_grad += int(grad)
                    continue
                if self.keep is not None and pos not in self.keep:
                    continue
                self.count[pos] = self.count.get(pos, 0) + 1
                if not pending and len(self.scores) < MAX_ROWS_PER_RUN:
                    self.scores.append([pos, int(y), loss, t, int(grad)])
                if pos in self.rows_at and pos not in self.rows:
                    row = rows[i].detach().float()
                    self.rows[pos] = (row if logprobs else torch.log_softmax(row, -1)).tolist()
        finally:
            self.busy = False
        return ids if pending else None

    def confirm(self, ids, run):
        """The evaluator used these pending rows (summed them, read their values, ...): they count as
        scored, with gradients off if any use of them had gradients off."""
        if run != self.run or not self.active or self.busy:
            return
        self.busy = True
        try:
            grad = self.torch.is_grad_enabled()
            for i in set(ids[ids >= 0].tolist()):
                self.confirmed[i] = self.confirmed.get(i, True) and grad
        finally:
            self.busy = False

    def result(self):
        """The run's observations. Rows not tied to a position count as unattributed scores when they were
        used with gradients off, or when the evaluator used nothing with gradients off (as for scores: with
        gradients on, a row is a training use unless the evaluator scores nothing without them)."""
        self.check_update()
        scores = list(self.scores)
        off, grad_on = self.unattributed - self.unattributed_grad, self.unattributed_grad
        for i, grad in sorted(self.confirmed.items()):
            pos, y, loss, t = self.pending[i]
            if pos is None:
                off, grad_on = off + (not grad), grad_on + bool(grad)
            else:
                scores.append([pos, y, loss, t, int(grad)])
        any_off = any(not s[4] for s in scores) or off > 0
        unattributed = off + (0 if any_off else grad_on)
        scores.sort(key=lambda s: s[3])  # event order (stable: rows of one call keep theirs)
        return {"scores": scores[:MAX_ROWS_PER_RUN], "train_uses": self.train_uses, "updates": self.updates,
                "unattributed": unattributed, "unnormalized_rows": len(self.unnormalized),
                "rows": {str(k): v for k, v in self.rows.items()},
                "unused_rows": len(self.pending) - len(self.confirmed)}


def _names(text):
    return frozenset(text.split())


# What a pending loss tensor (reduction="none") understands, by function or method name. Every other
# operation reads the elements it is given: their pending rows count as scored.
_META = _names("""size dim ndimension numel nelement stride storage_offset is_contiguous is_floating_point
is_complex is_signed element_size data_ptr get_device is_pinned is_inference __len__ __repr__ __hash__
requires_grad_ retain_grad register_hook zeros_like ones_like empty_like full_like rand_like randn_like
new_zeros new_ones new_empty new_full get:shape get:dtype get:device get:ndim get:is_cuda get:requires_grad
get:grad_fn get:is_leaf get:layout get:names get:grad get:_version get:is_sparse get:is_quantized get:is_meta
get:itemsize get:nbytes get:output_nr get:is_nested""")  # shape, dtype, device: no value read
_TESTS = _names("""eq ne lt le gt ge __eq__ __ne__ __lt__ __le__ __gt__ __ge__ isfinite isnan isinf isposinf
isneginf signbit isclose allclose equal nonzero argwhere""")  # a test of the values adds no loss
_SAME = _names("""to type type_as float double half bfloat16 cpu cuda contiguous clone detach detach_
pin_memory get:data""")  # the same elements in another dtype, device or storage
_PICK = _names("""__getitem__ view view_as reshape reshape_as flatten unflatten squeeze unsqueeze narrow select
index_select masked_select take take_along_dim gather permute transpose swapaxes swapdims t get:T get:mT
movedim moveaxis expand expand_as broadcast_to repeat repeat_interleave tile flip fliplr flipud roll unfold
diagonal split chunk unbind tensor_split split_with_sizes squeeze_ unsqueeze_ t_ transpose_""")
_ELEMENTWISE = _names("""add sub subtract mul multiply div divide true_divide __add__ __radd__ __sub__
__rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __neg__ __pos__ neg negative abs exp exp2 log log2 log10
log1p expm1 sqrt square pow __pow__ __rpow__ clamp clamp_min clamp_max clip nan_to_num float_power relu
add_ sub_ mul_ div_ neg_ abs_ exp_ log_ clamp_ clamp_min_ clamp_max_ clip_ nan_to_num_ pow_
__iadd__ __isub__ __imul__ __itruediv__""")  # each element keeps its loss, changed
_TIMES = _names("mul multiply __mul__ __rmul__ mul_ __imul__")  # x 0 (a mask): nothing added
_JOIN = _names("cat concat concatenate stack")
_INPLACE = _names("__iadd__ __isub__ __imul__ __itruediv__ __setitem__")


def pending_losses_class(torch, rec):
    """The tensor type a reduction="none" loss call returns while a probe runs: the real per-row losses,
    each element carrying the index of its pending record in `rec` (-1: none), so that what the evaluator
    adds to its sum, and only that, counts as scored (a sliding window computes the loss of the whole
    window and keeps the last `stride` positions).

    Views, selections, dtype and device moves, joins and element-wise arithmetic with numbers or plain
    tensors give tensors of this type with their index map (an element multiplied by an exact 0 adds
    nothing: it loses its index); a sum, a mean, `.item()`, `.tolist()`, `.numpy()`, copying into a plain
    tensor, and every operation not understood confirm the records of the elements they read and return
    plain tensors. Whatever happens in here, the record's code gets the result it would get without the
    probe (the operation itself always runs as on a plain tensor)."""
    Tensor = torch.Tensor
    no_subclass = torch._C.DisableTorchFunctionSubclass

    def name_of(func):
        name = getattr(func, "__name__", "")
        if name == "__get__":
            name = "get:" + getattr(getattr(func, "__self__", None), "__name__", "?")
        return name

    def walk(args, kwargs):
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, (list, tuple)):
                yield from a
            else:
                yield a

    def mine(x):
        return isinstance(x, PendingLosses) and getattr(x, "_gk_run", None) == rec.run and rec.active

    def plain(x, keep=()):
        """Results as plain tensors (an input that an in-place operation returns stays as it is)."""
        if isinstance(x, PendingLosses) and not any(x is k for k in keep):
            return x.as_subclass(Tensor)
        if type(x) in (list, tuple):
            return type(x)(plain(v, keep) for v in x)
        return x

    class PendingLosses(Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            name = name_of(func)
            with no_subclass():
                tracked = [a for a in walk(args, kwargs) if isinstance(a, PendingLosses)]
                live = [a for a in tracked if mine(a)] if not rec.busy else []
                if name in ("__reduce_ex__", "__deepcopy__", "__format__"):
                    # pickled, copied or printed: used, and done on a plain alias (torch's own code for
                    # these treats a subclass differently)
                    args = tuple(plain(a) for a in args)
                out = func(*args, **kwargs)
                if not live or name in _META or name in _TESTS:
                    return plain(out, tracked)
                try:
                    with torch.inference_mode(False), torch.no_grad():
                        # index maps are ordinary tensors whatever mode the evaluator runs in
                        result = follow(name, func, args, kwargs, out, live)
                except Exception:  # noqa: BLE001 - never break the record's code: count what it touched
                    result = None
                if result is None:
                    for a in live:
                        rec.confirm(a._gk_ids, a._gk_run)
                    return plain(out, tracked)
                return made(result)

    class Wrap:
        """A result and its index map, made a PendingLosses back in the evaluator's own grad mode (an
        alias made under no_grad could not be changed in place with gradients on)."""

        def __init__(self, out, ids):
            if not isinstance(out, Tensor) or tuple(ids.shape) != tuple(out.shape):
                raise ValueError("the index map does not fit the result")
            self.out, self.ids = out, ids

    wrap = Wrap

    def made(result):
        if isinstance(result, Wrap):
            t = result.out if isinstance(result.out, PendingLosses) else result.out.as_subclass(PendingLosses)
            t._gk_ids, t._gk_run = result.ids, rec.run
            return t
        if type(result) in (list, tuple):
            return type(result)(made(r) for r in result)
        return result

    def none_like(x):
        return torch.full(tuple(x.shape), -1, dtype=torch.int64, device=x.device)

    def ids_of(x):
        return x._gk_ids if mine(x) else none_like(x)

    def zero(other, shape):
        """Where the other factor of a product is exactly 0 (a mask): those elements add nothing."""
        if isinstance(other, Tensor):
            return (other == 0).expand(shape)
        return torch.full(shape, bool(other == 0), dtype=torch.bool)

    def follow(name, func, args, kwargs, out, live):
        """The result, with its index map where it has one; None when the live inputs count as used."""
        self = args[0] if args else None
        self_live = any(self is a for a in live)
        if name in _JOIN:
            pieces = args[0] if args else kwargs.get("tensors")
            if not isinstance(pieces, (list, tuple)) or kwargs.get("out") is not None:
                return None
            return wrap(out, func([ids_of(p) for p in pieces], *args[1:], **kwargs))
        if name in _INPLACE or (name.endswith("_") and not name.startswith("_")):
            if not self_live:
                return None  # losses added or copied into a plain tensor: used
            ids = self._gk_ids
            if name == "__setitem__":
                value = args[2]
                ids[args[1]] = value._gk_ids if mine(value) else -1
            elif name == "copy_":
                ids.copy_(ids_of(args[1]).expand(tuple(ids.shape)))
            elif len(live) > 1:
                return None
            elif name in ("zero_", "fill_"):
                ids.fill_(-1)
            elif name == "masked_fill_":
                ids.masked_fill_(args[1], -1)
            elif name in _TIMES:
                ids.masked_fill_(zero(args[1] if len(args) > 1 else kwargs.get("other"), tuple(ids.shape)), -1)
            elif name in ("squeeze_", "unsqueeze_", "t_", "transpose_"):
                func(ids, *args[1:], **kwargs)
            elif name not in _ELEMENTWISE and name not in _SAME:
                return None
            return out
        if name == "where":  # torch.where(cond, a, b), a.where(cond, b): a where cond, else b
            cond, a, b = (args[1], args[0], args[2]) if func is Tensor.where else args[:3]
            if mine(cond) or not isinstance(out, Tensor):
                return None
            shape = tuple(out.shape)
            pick = [x._gk_ids.expand(shape) if mine(x) else torch.full(shape, -1, dtype=torch.int64)
                    for x in (a, b)]
            return wrap(out, torch.where(cond.expand(shape), pick[0], pick[1]))
        if len(live) > 1:
            return None
        src = live[0]
        if out is src:  # a conversion that had nothing to do
            return out if name in _SAME or name in _ELEMENTWISE else None
        if name in _SAME and src is self:
            if not isinstance(out, Tensor) or out.shape != src.shape:
                return None
            shared = out.untyped_storage().data_ptr() == src.untyped_storage().data_ptr()
            return wrap(out, src._gk_ids if shared else src._gk_ids.clone())
        if name in _PICK and src is self:
            if any(isinstance(a, torch.dtype) for a in args[1:]):
                return None  # viewed as another dtype: the elements are not losses any more
            picked = func(src._gk_ids, *args[1:], **kwargs)
            if isinstance(out, (list, tuple)):
                return type(out)(wrap(o, i) for o, i in zip(out, picked))
            return wrap(out, picked)
        if name == "masked_fill" and src is self:
            return wrap(out, src._gk_ids.masked_fill(args[1], -1))
        operands = list(args[:2]) + [kwargs.get("other")]
        if name in _ELEMENTWISE and isinstance(out, Tensor) and any(src is x for x in operands):
            ids = src._gk_ids.expand(tuple(out.shape)).clone()
            if name in _TIMES:
                other = operands[1] if src is operands[0] else operands[0]
                ids.masked_fill_(zero(other, tuple(ids.shape)), -1)
            return wrap(out, ids)
        return None

    PendingLosses._gk_wrap = staticmethod(lambda out, ids: made(Wrap(out, ids)))
    return PendingLosses


def patch_losses(torch, rec):
    F = torch.nn.functional
    real_ce, real_nll = F.cross_entropy, F.nll_loss
    ce_sig, nll_sig = inspect.signature(real_ce), inspect.signature(real_nll)

    def per_row(real, sig, args, kwargs):
        """(rows, targets, losses, which flat rows were kept, reduction) of a loss call, or None."""
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        a = dict(bound.arguments)
        inp, tgt = a.pop("input"), a.pop("target")
        reduction = a.get("reduction")
        if a.get("size_average") is not None or a.get("reduce") is not None:
            reduction = torch.nn._reduction.legacy_get_string(a.get("size_average"), a.get("reduce"))
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
        return rows[keep], tgt[keep], losses[keep], keep, reduction

    def make(real, sig, logprobs):
        def wrapped(*args, **kwargs):
            out = real(*args, **kwargs)
            if rec.active and not rec.busy:
                got = per_row(real, sig, args, kwargs)
                if got is not None:
                    rows, tgt, losses, keep, reduction = got
                    # per-row losses (reduction="none") count once the evaluator uses them (docs/probe.md)
                    pending = reduction == "none" and isinstance(out, torch.Tensor) and out.numel() == keep.numel()
                    ids = rec.on_rows(rows, tgt, losses, logprobs=logprobs, pending=pending)
                    if ids is not None:
                        out = track(out, keep, ids)
            return out
        wrapped.__wrapped__ = real
        return wrapped

    def track(out, keep, ids):
        """`out` as a pending loss tensor whose elements carry their records' indices."""
        with torch.inference_mode(False), torch.no_grad():
            flat = torch.full((keep.numel(),), -1, dtype=torch.int64, device=out.device)
            flat[keep.to(out.device)] = torch.tensor(ids, dtype=torch.int64, device=out.device)
            flat = flat.reshape(out.shape)
        return rec.Pending._gk_wrap(out, flat)

    F.cross_entropy = make(real_ce, ce_sig, False)
    F.nll_loss = make(real_nll, nll_sig, True)


def model_forwards(model):
    """The names of the model's forward methods: forward, and every forward_* its class defines
    (forward_logits, forward_ttt, ...)."""
    names = ["forward"]
    for klass in type(model).__mro__:
        if klass.__module__.startswith("torch."):
            continue
        names += [n for n, v in vars(klass).items() if n.startswith("forward_") and callable(v) and n not in names]
    return names


def instrument_model(torch, model, rec):
    """Wrap the instance's forward methods (forward, forward_logits, forward_ttt, ...) so that every call
    on token ids is seen, outermost or not."""
    for name in model_forwards(model):
        real = getattr(model, name, None)
        if real is None:
            continue

        def wrapped(*args, _real=real, **kwargs):
            idx = args[0] if args else next(iter(kwargs.values()), None)
            if not (rec.active and not rec.busy and isinstance(idx, torch.Tensor) and idx.dim() == 2
                    and not idx.is_floating_point() and not idx.is_complex()):
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


# ----------------------------------------------------------------------------- CPU stand-ins


def load_stand_ins():
    """golfkit/standins.py, by path: beside this file in the sandbox (run.py copies it there), else in the
    source tree (golfkit/probe/../standins.py). Loaded by path so that the child imports nothing of golfkit."""
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.path.join(here, "standins.py"), os.path.join(os.path.dirname(here), "standins.py")):
        if os.path.exists(path):
            spec = importlib.util.spec_from_file_location("golfkit_standins", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules["golfkit_standins"] = module
            spec.loader.exec_module(module)
            return module
    raise ImportError("golfkit's standins.py is missing beside the probe child")


_stand_ins = load_stand_ins()
STAND_INS_USED = _stand_ins.STAND_INS_USED
note_stand_in = _stand_ins.note_stand_in
StandInUnsupported = _stand_ins.StandInUnsupported
StandInFinder = _stand_ins.StandInFinder
install_stand_ins = _stand_ins.install_stand_ins
cpu_autocast = _stand_ins.cpu_autocast
flash_attn_module = _stand_ins.flash_attn_module
triton_module = _stand_ins.triton_module
attention_reference = _stand_ins.attention_reference
varlen_reference = _stand_ins.varlen_reference


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


# Parameter names under which the scripts take their Hyperparameters object (GPT(h), eval_val(args, ...)).
HPARAMS_NAMES = ("args", "h", "hp", "hparams", "hyperparameters", "config", "cfg")


def takes_hparams(p, args):
    """Whether a parameter is the hyperparameters object: by its name (and the object has no attribute of
    that name), or by its annotation (the script's Hyperparameters class, or its name as a string)."""
    if args is None:
        return False
    ann = p.annotation
    if ann is type(args) or (isinstance(ann, str) and ann.strip("'\"") == type(args).__name__):
        return True
    return p.name in HPARAMS_NAMES and not hasattr(args, p.name)


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
        elif takes_hparams(p, args):
            kwargs[pname] = args  # GPT(h): the model reads what it needs from the hyperparameters
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


# The byte-table builders the records define, by name: build_sentencepiece_luts (the baseline's), build_luts
# (2026-03-24's), and any other build_*_luts / build_*_lut, each called as (sp, vocab_size, device).
LUTS_NAMES = ("build_sentencepiece_luts", "build_luts")


def luts_builder(module):
    """(name, function) of the script's byte-table builder, or (None, None)."""
    for name in LUTS_NAMES:
        fn = getattr(module, name, None)
        if inspect.isfunction(fn):
            return name, fn
    for name, fn in sorted(vars(module).items()):
        if name.startswith("build_") and name.endswith(("_luts", "_lut")) and inspect.isfunction(fn) \
                and getattr(fn, "__module__", None) == module.__name__:
            return name, fn
    return None, None


def bind(fn, known, what):
    """fn's keyword arguments from `known` by parameter name; a required one golfkit has no value for
    raises ProbeSetupError."""
    kwargs = {}
    for pname, p in inspect.signature(fn).parameters.items():
        if pname in known:
            kwargs[pname] = known[pname]
        elif p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not p.empty:
            continue
        else:
            raise ProbeSetupError("unbound", f"parameter {pname!r} of {what} has no value golfkit knows; "
                                  "add golfkit_probe_adapter() with 'evaluators' (docs/probe.md)")
    return kwargs


class ValData:
    """What the later records' evaluators take as `val_data` (their ValidationData): the stream and the
    byte tables, the tokenizer, and no byte sidecar (golfkit writes none)."""

    def __init__(self, sp, val_tokens, luts):
        self.sp = sp
        self.val_tokens = val_tokens
        self.base_bytes_lut, self.has_leading_space_lut, self.is_boundary_token_lut = luts
        self.val_token_bytes = None


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
    return fn(**bind(fn, known, getattr(fn, "__name__", "the evaluator")))


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


def data_layout(req):
    """golfkit's data folder laid out as the records look for it, and the environment that points there.

    The baseline family reads DATA_PATH/fineweb_val_*.bin and TOKENIZER_PATH (the parent sets both); the
    later records read DATA_DIR/datasets/fineweb10B_sp<vocab>/fineweb_val_*.bin and
    DATA_DIR/tokenizers/fineweb_<vocab>_bpe.model. The same shard is written in both places (returned:
    where each stream is written), the tokenizer copied. DATA_DIR, and the sizes the later records read
    under other names, are set unless the parent set them: EMBEDDING_DIM (MODEL_DIM), VAL_BATCH_TOKENS
    (VAL_BATCH_SIZE), and for their per-document test-time training TTT_CHUNK_SIZE (twice EVAL_STRIDE:
    most documents, 13 to 42 tokens, have several chunks, so that it trains between them),
    TTT_EVAL_SEQ_LEN (EVAL_SEQ_LEN), TTT_BATCH_SIZE (4 documents) and TTT_LORA_RANK (4)."""
    data = os.path.dirname(req["val_shard"])
    vocab = req["vocab_size"]
    datasets = os.path.join(data, "datasets", f"fineweb10B_sp{vocab}")
    tokenizers = os.path.join(data, "tokenizers")
    os.makedirs(datasets, exist_ok=True)
    os.makedirs(tokenizers, exist_ok=True)
    with open(req["tokenizer"], "rb") as src, open(os.path.join(tokenizers, f"fineweb_{vocab}_bpe.model"), "wb") as dst:
        dst.write(src.read())
    os.environ.setdefault("DATA_DIR", data + os.sep)
    if "MODEL_DIM" in os.environ:
        os.environ.setdefault("EMBEDDING_DIM", os.environ["MODEL_DIM"])
    for name, like in (("EMBEDDING_DIM", "MODEL_DIM"), ("VAL_BATCH_TOKENS", "VAL_BATCH_SIZE"),
                       ("TTT_EVAL_SEQ_LEN", "EVAL_SEQ_LEN")):
        if like in os.environ:
            os.environ.setdefault(name, os.environ[like])
    if os.environ.get("EVAL_STRIDE", "").isdigit():
        os.environ.setdefault("TTT_CHUNK_SIZE", str(2 * int(os.environ["EVAL_STRIDE"])))
    os.environ.setdefault("TTT_BATCH_SIZE", "4")
    os.environ.setdefault("TTT_LORA_RANK", "4")
    return [req["val_shard"], os.path.join(datasets, os.path.basename(req["val_shard"]))]


def load_stream(torch, module, args, req, tokens):
    """Write the stream as the validation shard and read it back with the script's own loader."""
    for path in req.get("shards") or [req["val_shard"]]:
        write_shard(path, tokens)
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
        cpu_autocast(torch)
        install_stand_ins(torch)
        req["shards"] = data_layout(req)
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
        self.sp = sp = harness.spm.SentencePieceProcessor(model_file=req["tokenizer"])
        self.luts_name, luts_fn = luts_builder(module)
        if luts_fn is None:
            raise ProbeSetupError("no_luts", "the script has no byte-table builder (build_sentencepiece_luts(sp, "
                                  "vocab_size, device), build_luts, ...); add golfkit_probe_adapter() with "
                                  "'evaluators' (docs/probe.md)")
        self.luts = luts_fn(sp, req["vocab_size"], self.device)
        self.evaluators = evaluators(module, self.adapter)
        self.val_data, self.val_data_kind = None, None

    def hparams(self):
        """The hyperparameters under every name the scripts give them."""
        return dict.fromkeys(HPARAMS_NAMES, self.args)

    def val_data_for(self, vt):
        """The `val_data` an evaluator of the later records takes, holding this run's stream: the script's
        own ValidationData(h, device) (it reads golfkit's shard and tokenizer where it looks for them, and
        builds its byte tables), else a ValData; made once, copied per run with `val_tokens` replaced."""
        if self.val_data is None:
            cls = getattr(self.module, "ValidationData", None)
            if inspect.isclass(cls):
                try:
                    made = cls(**bind(cls, dict(self.hparams(), device=self.device), "ValidationData"))
                    if hasattr(made, "val_tokens"):
                        self.val_data, self.val_data_kind = made, "ValidationData"
                except Exception as exc:  # noqa: BLE001 - golfkit's own ValData serves instead; the report says why
                    self.val_data_kind = f"ValData (ValidationData raised {type(exc).__name__}: {exc})"[:300]
            if self.val_data is None:
                self.val_data = ValData(self.sp, vt, self.luts)
                self.val_data_kind = self.val_data_kind or "ValData"
        vd = copy.copy(self.val_data)
        vd.val_tokens = vt
        return vd

    def summary(self, setup_s):
        """The result document before any evaluator ran: what was found and built."""
        return {"setup_s": setup_s, "available": sorted(self.evaluators),
                "document_isolated": self.adapter.get("document_isolated"),
                "model_class": type(self.model).__name__,
                "model_params": sum(p.numel() for p in self.model.parameters()),
                "luts": self.luts_name, "stand_ins": list(STAND_INS_USED)}


def read_request(path):
    """The parent's request (streams, runs); a read-only file outside the record's working copy."""
    with open(path) as f:
        return json.load(f)


def confine():
    """The network guard (a diagnostic: the sandbox has no network anyway), before the record's import."""
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
            "line": code.co_firstlineno if code is not None else None,
            "stand_ins": list(STAND_INS_USED), "val_data": subject.val_data_kind}


def probe_run(harness, subject, req, fn, run, loaded):
    """One planned run: (what the recorder saw, None), or (None, the error that ended the evaluator)."""
    tokens, vt = run_stream(harness, subject, req, run, loaded)
    reset_state(harness, subject)
    known = evaluator_inputs(subject, req, vt, fn)
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


def evaluator_inputs(subject, req, vt, fn=None):
    """Values for an evaluator's parameters, by the names the scripts use (docs/probe.md)."""
    def noop(*a, **k):
        return None

    model, luts = subject.model, subject.luts
    known = subject.hparams()
    known.update({
        "model": model, "base_model": model, "rank": 0, "world_size": 1, "device": subject.device,
        "grad_accum_steps": 1, "val_tokens": vt, "base_bytes_lut": luts[0],
        "has_leading_space_lut": luts[1], "is_boundary_token_lut": luts[2],
        "stride": req["stride"], "eval_stride": req["stride"], "seq_len": req["seq_len"],
        "eval_seq_len": req["seq_len"], "log0": noop, "log_fn": noop, "log": noop,
        "logger": noop, "print_fn": noop})
    try:
        params = inspect.signature(fn).parameters if fn is not None else {}
    except (TypeError, ValueError):
        params = {}
    if "val_data" in params:
        known["val_data"] = subject.val_data_for(vt)
    for pname, p in params.items():
        method = forward_method(model, pname) if p.default is p.empty and pname not in known else None
        if method is not None:
            known[pname] = method
    return known


def forward_method(model, pname):
    """The model's own forward_* method a required parameter names: `forward_ttt_train`, `forward_ttt_fn`,
    `forward_ttt` -> model.forward_ttt (what the records' main() passes, compiled); None when the model has
    no such method."""
    if not pname.startswith("forward_"):
        return None
    base = pname
    for suffix in ("_fn", "_train", "_compiled", "_func"):
        if base.endswith(suffix) and base != "forward" + suffix:
            base = base[: -len(suffix)]
    method = getattr(model, base, None)
    return method if callable(method) else None


def failure(exc, stage):
    """The result document for whatever else the record raised: an error, or memory when it says so; its
    reason names what is missing where that is known (a module, a newer Python)."""
    text = f"{type(exc).__name__}: {exc}"
    status = "memory" if "can't allocate memory" in text or "out of memory" in text.lower() else "error"
    reason = status
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        reason = f"missing module {exc.name}"
        text += " (not installed here, and golfkit has no CPU stand-in for it)"
    elif isinstance(exc, SyntaxError) and stage == "import":
        version = ".".join(map(str, sys.version_info[:3]))
        reason = f"syntax error under Python {version}"
        if "f-string" in str(exc) and sys.version_info < (3, 12):
            reason = f"needs Python 3.12 (f-strings nesting the same quotes); this is Python {version}"
        text += f" [{reason}]"
    return {"status": status, "stage": stage, "reason": reason, "detail": text[:1000],
            "traceback": traceback.format_exc()[-3000:]}


def main():
    open_channel()
    req = read_request(sys.argv[1])
    confine()
    stage = "harness"
    try:
        harness = Harness(req)
        t0 = time.time()
        stage = "import"
        module = import_script(req["script"], req["module"])
        stage = "setup"
        subject = Subject(harness, module, req)
        send("setup", **subject.summary(time.time() - t0))
        stage = "run"
        for name, fn in sorted(subject.evaluators.items()):
            if req.get("only") and name not in req["only"]:
                continue
            send("evaluator", name=name, data=probe_evaluator(harness, subject, req, fn))
        send("done")
    except MemoryError:
        send("failure", status="memory", stage=stage, detail="MemoryError: allocation over the limit")
    except ProbeSetupError as exc:
        send("failure", status="setup", stage=stage, reason=exc.kind, detail=str(exc))
    except BaseException as exc:  # noqa: BLE001 - everything the record raises is a report, not a crash
        send("failure", **failure(exc, stage))


if __name__ == "__main__":
    main()
