"""`golfkit build --fit`: spend the model's bytes where they lower the calibration loss most.

1. Sensitivity: the diagonal of the empirical Fisher of every fitted matrix, on calibration (training)
   tokens, through golfkit's own model (golfkit.packing.calib).
2. Options: each fitted matrix quantized by every candidate scheme (bits 4-8 per row under four clip rules,
   grouped int4/int5, fp16); per option the predicted loss increase 0.5 * sum(F * d^2) and its coded bytes
   counted with the codec the build will use (ANS's exact code length, or the general codec's output).
3. Allocation: the multiple-choice knapsack "least predicted loss under the bytes", solved exactly by
   dynamic programming over bytes in units of budget / 20,000 (costs rounded up).
4. Build: the chosen schemes are built for real; while the file is over the budget (estimates are
   estimates), the budget for the fitted matrices shrinks by the excess and the allocation is solved again.
5. Measurement: the calibration loss of the built model, and per fitted matrix the loss with only that
   matrix quantized, against its prediction.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from golfkit.artifact import ans, codecs
from golfkit.artifact.container import TensorRecord, part_array
from golfkit.errors import GolfkitError
from golfkit.eval.model import GPT, ModelConfig, rms
from golfkit.packing.calib import (
    Calibration,
    calib_batches,
    calibration_loss,
    fisher_diagonal,
    reference_model,
)
from golfkit.packing.gptq import applies, gptq_record
from golfkit.packing.part_codecs import MIN_CODED_BYTES, CodecSpec, parse_codec
from golfkit.packing.pipeline import Built, build_in_memory
from golfkit.packing.policy import Rule, assign
from golfkit.packing.schemes import as_matrix, eligible, parse_scheme, quantize

CANDIDATES: tuple[str, ...] = (
    *(f"int{bits}_row{clip}" for bits in range(4, 9) for clip in ("", ":std3", ":std4", ":std6")),
    "int4_g64", "int5_g64", "fp16",
)
UNITS = 20_000  # the knapsack's byte resolution: budget / UNITS
MAX_BUILDS = 5
MEASURE_TOKENS = 4096  # per-tensor measurements run on the first windows holding this many targets
UNIFORM_BITS = (5, 6, 7, 8)


@dataclass(frozen=True)
class Option:
    """One way to store one matrix: its scheme, estimated coded bytes and predicted loss increase (nats)."""

    scheme: str
    bytes: int
    predicted: float


@dataclass
class FitRow:
    name: str
    shape: tuple[int, ...]
    scheme: str
    bytes: int  # in the built file (the budget table's share)
    estimated_bytes: int
    predicted: float
    measured: float | None = None  # the loss increase with only this matrix quantized (measure subset)


@dataclass
class TradePoint:
    """One policy on the bytes-versus-loss plane."""

    label: str
    model_bytes: int
    loss: float
    increase: float
    predicted: float | None = None


@dataclass
class FitReport:
    budget: int  # bytes the model may take
    model_bytes: int
    float_loss: float
    loss: float
    predicted: float
    rows: list[FitRow]
    calib_tokens: int
    measure_tokens: int
    calib_source: str
    builds: int
    seconds: dict[str, float] = field(default_factory=dict)
    pinned: list[str] = field(default_factory=list)  # matrices a --scheme rule fixed
    trade: list[TradePoint] = field(default_factory=list)
    gptq: bool = False  # the file holds GPTQ-compensated values
    rounded_loss: float | None = None  # the same choice rounded to nearest, when GPTQ was tried

    @property
    def increase(self) -> float:
        return self.loss - self.float_loss

    def to_json(self) -> dict[str, Any]:
        return {
            "budget_bytes": self.budget, "model_bytes": self.model_bytes, "calib": self.calib_source,
            "calib_tokens": self.calib_tokens, "measure_tokens": self.measure_tokens,
            "float_loss": self.float_loss, "loss": self.loss, "increase": self.increase,
            "predicted_increase": self.predicted, "builds": self.builds, "pinned": self.pinned,
            "gptq": self.gptq, "rounded_loss": self.rounded_loss,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "tensors": [{"name": r.name, "shape": list(r.shape), "scheme": r.scheme, "bytes": r.bytes,
                         "estimated_bytes": r.estimated_bytes, "predicted_increase": r.predicted,
                         "measured_increase": r.measured} for r in self.rows],
            "trade": [{"policy": p.label, "model_bytes": p.model_bytes, "loss": p.loss, "increase": p.increase,
                       "predicted_increase": p.predicted} for p in self.trade],
        }


# --- options -------------------------------------------------------------------------------------------


def part_bytes(t: torch.Tensor, role: str, spec: CodecSpec) -> int:
    """Estimated coded bytes of one stored part under the codec the build will use."""
    arr = part_array(t)
    raw = arr.tobytes()
    if len(raw) < MIN_CODED_BYTES:
        return len(raw)
    is_q = role == "q" and t.dtype == torch.int8 and t.dim() == 2
    if is_q and spec.kind in ("best", "ans"):
        return math.ceil(ans.choose(arr)[1])
    if spec.kind == "general":
        laid = codecs.lay_out(arr, spec.layout, max(2, arr.itemsize))
        return len(codecs.compress_bytes(laid, spec.codec, spec.level, spec.long)[0])
    if spec.kind == "whole" and spec.codec == "zlib":
        return len(codecs.compress_bytes(raw, "zlib", 9)[0])
    # `best` on a float part picks among the general codecs; zstd-22 is a close, cheap stand-in
    return len(codecs.compress_bytes(raw, "zstd", 22)[0])


def tensor_options(name: str, w: torch.Tensor, fisher: torch.Tensor, spec: CodecSpec,
                   candidates: tuple[str, ...] = CANDIDATES) -> list[Option]:
    """Every candidate scheme that applies to `w`, with its estimated bytes and predicted loss increase."""
    cols = as_matrix(w).shape[1]
    original = w.detach().float()
    options = []
    for text in candidates:
        scheme = parse_scheme(text)
        if scheme.group is not None and cols % scheme.group:
            continue
        rec = quantize(name, w, scheme)
        d = (rec.dequantize().float() - original).reshape(fisher.shape)
        predicted = 0.5 * float((fisher * d.square()).sum())
        size = sum(part_bytes(t, role, spec) for role, t in rec.parts.items())
        options.append(Option(text, size, predicted))
    return options


def pareto(options: list[Option]) -> list[Option]:
    """The options no other option beats on both bytes and predicted loss, cheapest first."""
    kept: list[Option] = []
    for o in sorted(options, key=lambda o: (o.bytes, o.predicted)):
        if not kept or o.predicted < kept[-1].predicted:
            kept.append(o)
    return kept


# --- allocation ----------------------------------------------------------------------------------------


def allocate(options: dict[str, list[Option]], budget: int) -> dict[str, Option] | None:
    """The option per matrix with the least total predicted loss whose bytes sum to at most `budget`
    (exact over bytes rounded up to units of budget / UNITS); None when even the cheapest do not fit."""
    if not options:
        return {}
    if budget <= 0:
        return None
    unit = max(1, math.ceil(budget / UNITS))
    size = budget // unit + 1
    best = np.zeros(size)  # least loss with at most b units
    names = list(options)
    choices = np.zeros((len(names), size), dtype=np.int16)
    for i, name in enumerate(names):
        new = np.full(size, np.inf)
        pick = np.zeros(size, dtype=np.int16)
        for k, o in enumerate(options[name]):
            cost = math.ceil(o.bytes / unit)
            if cost >= size:
                continue
            cand = np.full(size, np.inf)
            cand[cost:] = best[: size - cost] + o.predicted
            better = cand < new
            new[better] = cand[better]
            pick[better] = k
        best, choices[i] = new, pick
    if not np.isfinite(best[-1]):
        return None
    out, b = {}, size - 1
    for i in range(len(names) - 1, -1, -1):
        o = options[names[i]][int(choices[i, b])]
        out[names[i]] = o
        b -= math.ceil(o.bytes / unit)
    return {n: out[n] for n in names}


# --- the fit -------------------------------------------------------------------------------------------


def fitted_names(state: dict[str, torch.Tensor], rules: list[Rule], min_numel: int) -> tuple[list[str], list[str]]:
    """The matrices the fit chooses for (large float matrices, as a glob would quantize), and those a
    --scheme rule pins."""
    pinned = {a.name for a in assign(state, rules, min_numel) if a.reason.startswith(tuple(r.source for r in rules))}
    names = [n for n, t in state.items() if eligible(n, t, min_numel)]
    return [n for n in names if n not in pinned], [n for n in names if n in pinned]


def fit_rules(choice: dict[str, str]) -> list[Rule]:
    """Exact-name rules for the chosen schemes (an exact name always applies)."""
    return [Rule(name, parse_scheme(text), "--fit") for name, text in choice.items()]


@dataclass
class FitPlan:
    """What the fit measured once and every allocation reuses."""

    state: dict[str, torch.Tensor]
    config: ModelConfig
    calib: Calibration
    rules: list[Rule]
    spec: CodecSpec
    meta: dict[str, Any]
    min_numel: int
    where: str
    names: list[str]
    pinned: list[str]
    options: dict[str, list[Option]]
    float_loss: float
    seconds: dict[str, float]
    fisher: dict[str, torch.Tensor]
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)  # GPTQ's H per linear layer
    gptq: bool = True
    _gptq_done: dict[tuple[str, str], TensorRecord | None] = field(default_factory=dict)

    def quantized(self, choice: dict[str, str]) -> dict[str, TensorRecord]:
        """The GPTQ records of the chosen schemes (each made once), when GPTQ is on; the build quantizes the
        rest by rounding to nearest."""
        if not self.gptq:
            return {}
        out = {}
        for name, text in choice.items():
            scheme = parse_scheme(text)
            if name not in self.inputs or not applies(scheme, self.state[name]):
                continue
            if (name, text) not in self._gptq_done:
                self._gptq_done[(name, text)] = gptq_record(name, self.state[name], scheme, self.inputs[name])
            rec = self._gptq_done[(name, text)]
            if rec is not None:
                out[name] = rec
        return out

    def build(self, choice: dict[str, str], spec: CodecSpec | None = None) -> Built:
        """The build of `choice` (fitted names -> schemes) on top of the rules."""
        return build_in_memory(self.state, self.rules + fit_rules(choice), spec or self.spec, self.meta,
                               self.min_numel, self.where, self.quantized(choice))


def prepare(state: dict[str, torch.Tensor], config: ModelConfig, calib: Calibration, rules: list[Rule],
            spec: CodecSpec, meta: dict[str, Any], min_numel: int, where: str,
            progress: Callable[[str], None] | None = None, gptq: bool = True) -> FitPlan:
    """Measure the float loss and the Fisher, and size every option of every fitted matrix."""
    say = progress or (lambda text: None)
    seconds: dict[str, float] = {}
    names, pinned = fitted_names(state, rules, min_numel)
    if not names:
        raise GolfkitError(f"{where}: --fit has no matrix to choose for (every large matrix is pinned by a --scheme "
                           "rule, or none is larger than --min-numel); drop --fit or the rules")
    t0 = time.perf_counter()
    model = reference_model(state, config)
    say(f"float loss on {calib.tokens:,} calibration tokens")
    float_loss = calibration_loss(model, calib)
    say(f"sensitivity (Fisher diagonal) of {len(names)} matrices")
    inputs: dict[str, torch.Tensor] = {}
    fisher = fisher_diagonal(model, calib, names, inputs if gptq else None)
    seconds["sensitivity"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    options = {}
    for i, name in enumerate(names):
        say(f"options {i + 1}/{len(names)}: {name}")
        options[name] = tensor_options(name, state[name], fisher[name], spec)
    seconds["options"] = time.perf_counter() - t0
    return FitPlan(state, config, calib, rules, spec, meta, min_numel, where, names, pinned, options, float_loss,
                   seconds, fisher, inputs, gptq)


def build_fit(plan: FitPlan, budget: int, progress: Callable[[str], None] | None = None
              ) -> tuple[Built, dict[str, Option], int]:
    """The allocation under `budget` model bytes, built. Estimates are estimates: after each build, what the
    file took beyond the fitted matrices' estimated bytes is known, and the allocation is solved again for
    what is left (tighter when over, looser when well under). When the first estimate leaves no allocation,
    the cheapest one is built to learn the real remainder before the budget is refused. With `best`, the
    corrections are built with `ans` (3x faster) and then the file with `best`, which is never larger (it
    keeps the smaller of its own choice and the `ans` layout); when `best` leaves more than the tolerance
    unused, two more corrections are made with `best` itself. Returns the largest build that fits, its
    chosen options and the number of builds."""
    search = _Search(plan, budget, progress)
    fast = parse_codec("ans") if plan.spec.kind == "best" else plan.spec
    found = search.run(fast, _fixed_estimate(plan), MAX_BUILDS)
    if found is not None and fast is not plan.spec:
        choice = found[1]
        search.best = None
        search.consider(plan.build({n: o.scheme for n, o in choice.items()}), choice)
        built = search.best[0]
        if budget - built.budget.model_bytes > search.tolerance:
            search.run(plan.spec, built.budget.model_bytes - sum(o.bytes for o in choice.values()), 2)
        found = search.best
    if found is None:
        about = f"{search.cheapest_bytes:,}" if search.cheapest_bytes is not None else \
            f"about {sum(f[0].bytes for f in search.frontiers.values()) + _fixed_estimate(plan):,}"
        raise GolfkitError(f"{plan.where}: no allocation fits {budget:,} model bytes (the cheapest option of every "
                           f"fitted matrix, with the rest, takes {about}); raise the budget, or free bytes "
                           "(--code --minified, a smaller model)")
    return found[0], found[1], search.builds


class _Search:
    """build_fit's corrections: solve for the budget minus what the rest of the file takes, build, learn."""

    def __init__(self, plan: FitPlan, budget: int, progress: Callable[[str], None] | None):
        self.plan, self.budget, self.say = plan, budget, progress or (lambda text: None)
        self.frontiers = {n: pareto(o) for n, o in plan.options.items()}
        self.tolerance = max(256, budget // 1000)
        self.best: tuple[Built, dict[str, Option]] | None = None
        self.builds, self.cheapest_bytes = 0, None

    def consider(self, built: Built, choice: dict[str, Option]) -> None:
        self.builds += 1
        actual = built.budget.model_bytes
        if actual <= self.budget and (self.best is None or actual > self.best[0].budget.model_bytes):
            self.best = (built, choice)

    def run(self, spec: CodecSpec, other: int, limit: int) -> tuple[Built, dict[str, Option]] | None:
        tried: set[int] = set()
        for _ in range(limit):
            target = self.budget - other
            choice = allocate(self.frontiers, target)
            if choice is None:
                if self.cheapest_bytes is not None:
                    break
                choice = {n: f[0] for n, f in self.frontiers.items()}  # the cheapest: what the rest really takes
            elif target in tried:
                break
            tried.add(target)
            estimated = sum(o.bytes for o in choice.values())
            self.say(f"build {self.builds + 1} ({spec.text}): {estimated:,} estimated bytes for the fitted matrices")
            built = self.plan.build({n: o.scheme for n, o in choice.items()}, spec)
            self.consider(built, choice)
            actual = built.budget.model_bytes
            if all(choice[n] is f[0] for n, f in self.frontiers.items()):
                self.cheapest_bytes = actual
            slack = self.budget - actual
            if 0 <= slack <= self.tolerance or (self.cheapest_bytes is not None and self.cheapest_bytes > self.budget):
                break
            # what the file took beyond the estimates; a little more when over, so that the next one fits
            other = actual - estimated + (max(64, self.budget // 5000) if slack < 0 else 0)
        return self.best


def _fixed_estimate(plan: FitPlan) -> int:
    """Bytes of everything but the fitted matrices: large parts coded alone, the small ones compressed
    together as the outer zstd does, and the header."""
    fitted = set(plan.names)
    total, small = 0, []
    for a in assign(plan.state, plan.rules, plan.min_numel):
        if a.name in fitted:
            continue
        rec = quantize(a.name, plan.state[a.name], a.scheme)
        for role, t in rec.parts.items():
            if t.numel() * t.element_size() < MIN_CODED_BYTES:
                small.append(part_array(t).tobytes())
            else:
                total += part_bytes(t, role, plan.spec)
    if small:
        total += len(codecs.compress_bytes(b"".join(small), "zstd", 22)[0])
    return total + 16 * len(plan.state) + 128


class BlockCache:
    """The float model's stream at every block's input over some windows, so that the loss with one block's
    weights changed re-runs only the blocks from that one (the embedding: everything)."""

    def __init__(self, model: GPT, calib: Calibration):
        self.model, self.calib, self.batches = model, calib, []
        with torch.no_grad():
            for x, y in calib_batches(calib):
                cos, sin = model.blocks[0].attn.rotary(x.size(1), x.device)
                x0 = rms(model.tok_emb(x))
                states: dict[int, tuple[torch.Tensor, list[torch.Tensor]]] = {}
                model.hidden_from(0, x0, x0, [], cos, sin, record=lambda i, h, skips, states=states: states.__setitem__(i, (h, skips)))
                self.batches.append((x, y, x0, cos, sin, states))

    def loss(self, name: str) -> float:
        """Mean loss over the cached windows with the model's current weights, `name` the only one changed."""
        block = int(name.split(".")[1]) if name.startswith("blocks.") else None
        total = 0.0
        with torch.no_grad():
            for x, y, x0, cos, sin, states in self.batches:
                if block is None:
                    h = self.model.hidden(x)
                else:
                    h, skips = states[block]
                    h = self.model.hidden_from(block, h, x0, skips, cos, sin)
                logits = self.model.logits(h)
                total += float(F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="sum"))
        return total / self.calib.tokens


def measure(plan: FitPlan, built: Built, choice: dict[str, Option], budget: int, builds: int,
            measure_tokens: int = MEASURE_TOKENS, progress: Callable[[str], None] | None = None) -> FitReport:
    """The built model's calibration loss, and per fitted matrix the measured increase against the predicted."""
    say = progress or (lambda text: None)
    t0 = time.perf_counter()
    restored = {rec.name: rec.dequantize() for rec in built.artifact.tensors}
    say("calibration loss of the built model")
    loss = calibration_loss(reference_model(restored, plan.config), plan.calib)
    sub = plan.calib.subset(measure_tokens)
    base = reference_model(plan.state, plan.config)
    cache = BlockCache(base, sub)
    base_loss = cache.loss("")
    costs = {t.name: t.bytes for t in built.budget.tensors}
    rows = []
    params = dict(base.named_parameters())
    for i, name in enumerate(plan.names):
        say(f"measuring {i + 1}/{len(plan.names)}: {name}")
        with torch.no_grad():
            kept = params[name].detach().clone()
            params[name].copy_(restored[name].float())
            measured = cache.loss(name) - base_loss
            params[name].copy_(kept)
        o = choice[name]
        rows.append(FitRow(name, tuple(plan.state[name].shape), o.scheme, costs.get(name, 0), o.bytes, o.predicted,
                           measured))
    seconds = {**plan.seconds, "measure": time.perf_counter() - t0}
    return FitReport(budget, built.budget.model_bytes, plan.float_loss, loss, sum(o.predicted for o in choice.values()),
                     rows, plan.calib.tokens, sub.tokens, plan.calib.source, builds, seconds, list(plan.pinned))


def rounded_loss(plan: FitPlan, built: Built) -> float:
    """The calibration loss of the built choice with every fitted matrix rounded to nearest instead (the
    measurement that says whether GPTQ paid)."""
    restored = {rec.name: rec.dequantize() for rec in built.artifact.tensors}
    for a in built.assignments:
        if a.name in plan.inputs and applies(a.scheme, plan.state[a.name]):
            restored[a.name] = quantize(a.name, plan.state[a.name], a.scheme).dequantize()
    return calibration_loss(reference_model(restored, plan.config), plan.calib)


# --- the trade: --fit against uniform bits and a hand policy --------------------------------------------


def hand_policy(names: list[str], config: ModelConfig) -> dict[str, str]:
    """A hand policy in PR #99's style: the last two layers' key projections in fp16, the embedding in int8
    per group of 64, every other matrix int6 per row."""
    late = {f"blocks.{config.num_layers - k}.attn.c_k.weight" for k in (1, 2)}
    out = {}
    for name in names:
        if name in late:
            out[name] = "fp16"
        elif name == "tok_emb.weight":
            out[name] = "int8_g64" if config.model_dim % 64 == 0 else "int8_row"
        else:
            out[name] = "int6_row"
    return out


def reference_policies(plan: FitPlan) -> dict[str, dict[str, str]]:
    """The policies --fit is compared with: uniform int5 to int8 per row, and the hand policy."""
    out = {f"uniform int{b}": {n: f"int{b}_row" for n in plan.names} for b in UNIFORM_BITS}
    out["hand (PR #99 style)"] = hand_policy(plan.names, plan.config)
    return out


def predicted_for(plan: FitPlan, policy: dict[str, str]) -> float:
    """The fit's prediction for a policy (schemes outside the candidates are predicted on demand)."""
    total = 0.0
    for name, scheme in policy.items():
        found = [o for o in plan.options[name] if o.scheme == scheme]
        if found:
            total += found[0].predicted
        else:
            total += tensor_options(name, plan.state[name], plan.fisher[name], plan.spec, (scheme,))[0].predicted
    return total


def policy_point(plan: FitPlan, label: str, policy: dict[str, str], loss_of: Callable[[dict], float]) -> TradePoint:
    built = build_in_memory(plan.state, plan.rules + fit_rules(policy), plan.spec, plan.meta, plan.min_numel,
                            plan.where)
    loss = loss_of({rec.name: rec.dequantize() for rec in built.artifact.tensors})
    return TradePoint(label, built.budget.model_bytes, loss, loss - plan.float_loss, predicted_for(plan, policy))


def trade(plan: FitPlan, report: FitReport, progress: Callable[[str], None] | None = None) -> list[TradePoint]:
    """Bytes versus calibration loss: each reference policy, the fit at that policy's bytes, and the fit at
    the budget."""
    say = progress or (lambda text: None)

    def loss_of(state: dict[str, torch.Tensor]) -> float:
        return calibration_loss(reference_model(state, plan.config), plan.calib)

    points = []
    for label, policy in reference_policies(plan).items():
        say(f"trade: {label}")
        ref = policy_point(plan, label, policy, loss_of)
        points.append(ref)
        try:
            built, choice, _ = build_fit(plan, ref.model_bytes)
        except GolfkitError:
            continue
        loss = loss_of({rec.name: rec.dequantize() for rec in built.artifact.tensors})
        points.append(TradePoint(f"--fit at {label}'s bytes", built.budget.model_bytes, loss,
                                 loss - plan.float_loss, sum(o.predicted for o in choice.values())))
    points.append(TradePoint("--fit at the budget", report.model_bytes, report.loss, report.increase, report.predicted))
    return points


def render_fit(report: FitReport) -> str:
    """The fit's report for people: the totals, then per fitted matrix the choice, bytes and losses."""
    lines = [
        (f"fit: {report.model_bytes:,} model bytes of a {report.budget:,}-byte budget ({report.builds} build(s)); "
         f"calibration {report.calib_tokens:,} tokens of {report.calib_source}"),
        (f"calibration loss: float {report.float_loss:.6f}, built {report.loss:.6f} ({report.increase:+.6f} measured, "
         f"{report.predicted:+.6f} predicted)"),
        "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items()),
    ]
    if report.rounded_loss is not None:
        lines.append(f"GPTQ: {'on' if report.gptq else 'off'}: calibration loss {report.rounded_loss:.6f} rounded to "
                     "nearest" + (f", {report.loss:.6f} compensated (predictions are for rounding to nearest)"
                                  if report.gptq else ", and compensated it was no lower: built without"))
    if report.pinned:
        lines.append(f"pinned by --scheme (not fitted): {len(report.pinned)} matrices")
    width = max(len(r.name) for r in report.rows)
    lines += ["", (f"{'matrix':<{width}} {'scheme':<14} {'bytes':>11} {'predicted':>10} {'measured':>10}"
                   f"   (loss increase with only this matrix quantized, first {report.measure_tokens:,} tokens)")]
    for r in sorted(report.rows, key=lambda r: -r.predicted):
        m = f"{r.measured:+.6f}" if r.measured is not None else "-"
        lines.append(f"{r.name:<{width}} {r.scheme:<14} {r.bytes:>11,} {r.predicted:>+10.6f} {m:>10}")
    if report.trade:
        lines += ["", "trade: bytes versus calibration loss",
                  f"{'policy':<34} {'model bytes':>12} {'loss':>10} {'increase':>10} {'predicted':>10}"]
        for p in report.trade:
            pred = f"{p.predicted:+.6f}" if p.predicted is not None else "-"
            lines.append(f"{p.label:<34} {p.model_bytes:>12,} {p.loss:>10.6f} {p.increase:>+10.6f} {pred:>10}")
    return "\n".join(lines)
