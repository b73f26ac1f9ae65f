"""Per-row losses (reduction="none"): the probe counts what an evaluator adds to its sum, not every row
it computed (a sliding window computes the loss of the whole window and sums its last `stride` rows).

Three layers: the child's pending-loss tensor in this process (every operation the scripts use keeps
the record's results and confirms only the rows it reads), small evaluator modules probed end to end
(an honest sliding evaluator is quiet four ways, one that adds its tail again fires with the right
count), and the real record scripts of the corpus that use reduction="none", probed as they are (the
probe provides their CPU stand-ins and harness bindings itself).
"""

from __future__ import annotations

import copy
import io
import math
import pickle
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from _corpus import CORPUS, corpus_params, corpus_present
from test_probe import LUTS_AND_LOADER

from golfkit.probe import child
from golfkit.probe.run import ProbeOptions, probe_record

# ----------------------------------------------------------------------------- the wrapper, in process

V = 40
T = 16
STREAM = list(np.random.default_rng(3).integers(2, V, size=3 * T + 1))


@pytest.fixture
def rec():
    """A recorder with the loss functions patched as in the child (restored afterwards), one run started."""
    real = F.cross_entropy, F.nll_loss
    recorder = child.Recorder(torch, V)
    child.patch_losses(torch, recorder)
    recorder.start([int(t) for t in STREAM], None, None)
    try:
        yield recorder
    finally:
        recorder.active = False
        F.cross_entropy, F.nll_loss = real


def window_logits(rec, starts, requires_grad=False):
    """Logits [B, T, V] of windows of the stream starting at `starts`, seen by the recorder as a model
    call; and their targets [B, T]."""
    x = torch.tensor([STREAM[s:s + T] for s in starts])
    y = torch.tensor([STREAM[s + 1:s + T + 1] for s in starts])
    logits = torch.randn(len(starts), T, V, generator=torch.Generator().manual_seed(sum(starts) + 1))
    logits.requires_grad_(requires_grad)
    rec.on_model_call(x, logits.detach(), rec.window_starts(x))
    return logits, y


def per_row(rec, starts=(0,), requires_grad=False):
    """The per-row loss [B, T] of those windows, as an evaluator computes it, and the plain values."""
    logits, y = window_logits(rec, list(starts), requires_grad)
    nll = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1), reduction="none").reshape(len(starts), T)
    plain = F.cross_entropy.__wrapped__(logits.detach().reshape(-1, V), y.reshape(-1), reduction="none")
    return nll, plain.reshape(len(starts), T)


def counted(rec) -> Counter:
    """How many times each position counts as scored at the end of the run."""
    rec.active = False
    return Counter(s[0] for s in rec.result()["scores"])


MASK = torch.tensor([j % 3 != 0 for j in range(T)])  # columns 1, 2, 4, 5, 7, ...
KEPT = {j for j in range(T) if j % 3 != 0}

# (name, what the evaluator does with nll [1, T] (a tensor to sum or a number), the positions it read)
OPERATIONS = [
    ("slice", lambda n: n[0, 4:12], set(range(4, 12))),
    ("reshape-view-flatten", lambda n: n.reshape(-1).view(T)[8:].flatten(), set(range(8, T))),
    ("dtype-device-copy", lambda n: n.to(torch.float64).float().double().cpu().contiguous().clone().detach()[0, :3],
     {0, 1, 2}),
    ("squeeze-unsqueeze-narrow-select", lambda n: n.squeeze(0).unsqueeze(1).narrow(0, 2, 5).select(1, 0), set(range(2, 7))),
    ("index_select", lambda n: n[0].index_select(0, torch.tensor([1, 5, 9])), {1, 5, 9}),
    ("masked_select", lambda n: n[0].masked_select(MASK), KEPT),
    ("boolean index", lambda n: n[0][MASK], KEPT),
    ("transpose-permute-t", lambda n: n.t().permute(1, 0).transpose(0, 1)[10:], set(range(10, T))),
    ("split-chunk-unbind", lambda n: n[0].split(4)[1].chunk(2)[0].unbind(0)[1], {5}),
    ("cat-stack", lambda n: torch.stack([torch.cat([n[0, :2], n[0, 14:]]), torch.zeros(4)]), {0, 1, 14, 15}),
    ("times a mask", lambda n: n * MASK.double(), KEPT),
    ("a mask times", lambda n: MASK.float() * n, KEPT),
    ("where", lambda n: torch.where(MASK, n, 0.0), KEPT),
    ("masked_fill", lambda n: n.masked_fill(~MASK, 0.0), KEPT),
    ("in-place mask", lambda n: n.clone().mul_(MASK), KEPT),
    ("set the rest to zero", lambda n: _set(n[0].clone(), ~MASK, 0.0), KEPT),
    ("arithmetic", lambda n: (n[0, :4] / math.log(2.0) + 1.0) * 2.0 - 1.0, {0, 1, 2, 3}),
    ("iterate", lambda n: sum(v for v in n[0, 12:]), set(range(12, T))),
    ("item", lambda n: n[0, 7].item(), {7}),
    ("float", lambda n: float(n[0, 6]), {6}),
    ("format", lambda n: float(f"{n[0, 9]:.4f}"), {9}),
    ("tolist", lambda n: sum(n[0, :5].tolist()), set(range(5))),
    ("numpy", lambda n: float(n[0, 11:13].numpy().sum()), {11, 12}),
    ("a test of the values reads none", lambda n: float(torch.isfinite(n).all()) * 0.0 + n[0, 3], {3}),
]


def _set(t, where, value):
    t[where] = value
    return t


@pytest.mark.parametrize(("name", "use", "read"), OPERATIONS, ids=[o[0] for o in OPERATIONS])
def test_each_operation_gives_the_plain_result_and_counts_only_what_it_reads(rec, name, use, read):
    nll, plain = per_row(rec)
    with torch.inference_mode():
        got = use(nll)
        total = got.sum() if isinstance(got, torch.Tensor) else got
    with torch.inference_mode():
        expected = use(plain)
        expected = expected.sum() if isinstance(expected, torch.Tensor) else expected
    assert float(total) == pytest.approx(float(expected), rel=1e-12)
    assert not isinstance(total, rec.Pending), f"{name}: a reduction must return a plain tensor"
    assert counted(rec) == Counter(read), name


def test_a_sliding_evaluator_counts_each_target_once_and_drops_the_context_rows(rec):
    stride = T // 4
    starts = list(range(0, 2 * T + 1, stride))
    loss_sum = torch.zeros((), dtype=torch.float64)
    with torch.inference_mode():
        nll, _ = per_row(rec, starts)
        for i, ws in enumerate(starts):
            s = 0 if ws == 0 else T - stride
            loss_sum += nll[i, s:].to(torch.float64).sum()
    assert type(loss_sum) is torch.Tensor
    assert counted(rec) == Counter(range(starts[-1] + T))
    result = rec.result()
    assert result["unattributed"] == 0
    assert result["unused_rows"] == len(starts) * T - (starts[-1] + T)


def test_rows_of_one_call_used_twice_count_once(rec):
    """A row counts once it is used, however often: reading the same losses again (a log line, a check)
    is not scoring them again. Rows of two loss calls for the same position count twice (the probe
    below); the same rows summed twice show as a val_loss that is not the mean of the scores."""
    nll, _ = per_row(rec)
    with torch.no_grad():
        total = nll[0].sum() + nll[0, -4:].sum()
    assert float(total) > 0
    assert counted(rec) == Counter(range(T))


def test_rows_never_used_count_for_nothing_and_a_tensor_from_an_earlier_run_is_inert(rec):
    stale, _ = per_row(rec)
    assert counted(rec) == Counter()
    rec.start([int(t) for t in STREAM], None, None)
    with torch.inference_mode():
        assert float(stale[0, :3].sum()) > 0  # still works, as a plain tensor would
    assert counted(rec) == Counter()


@pytest.mark.parametrize("mode", ["inference_mode", "no_grad", "autocast", "grad"])
def test_the_wrapper_keeps_working_in_every_mode(rec, mode):
    contexts = {"inference_mode": torch.inference_mode, "no_grad": torch.no_grad,
                "autocast": lambda: _Both(torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16)),
                "grad": torch.enable_grad}
    loss_sum = torch.zeros((), dtype=torch.float64)
    with contexts[mode]():
        nll, plain = per_row(rec, requires_grad=mode == "grad")
        part = nll[0, 2:6]
        loss_sum += part.to(torch.float64).sum()
        part.masked_fill_(torch.tensor([True, False, False, False]), 0.0)  # in place on a view: allowed here
    if mode == "grad":
        nll[0, 6:8].mean().backward()  # training on rows: a score with gradients on
    assert float(loss_sum.detach()) == pytest.approx(float(plain[0, 2:6].double().sum()), rel=1e-6)
    rec.active = False
    grad = int(mode == "grad")  # scores with gradients on count only where there are no others
    assert sorted((s[0], s[4]) for s in rec.result()["scores"]) == \
        [(p, grad) for p in range(2, 6)] + ([(6, 1), (7, 1)] if grad else [])


class _Both:
    def __init__(self, a, b):
        self.a, self.b = a, b

    def __enter__(self):
        self.a.__enter__()
        self.b.__enter__()

    def __exit__(self, *exc):
        self.b.__exit__(*exc)
        self.a.__exit__(*exc)


def test_in_place_updates_of_the_accumulator_and_of_the_rows(rec):
    nll, plain = per_row(rec)
    acc = torch.zeros(T, dtype=torch.float32)
    with torch.inference_mode():
        acc += nll[0]  # rows added into a plain tensor: used
        nll[0, :8] *= 2  # the rows themselves changed in place: still pending
        head = nll[0, :8].sum()
    assert torch.equal(acc, plain[0])
    assert float(head) == pytest.approx(2 * float(plain[0, :8].sum()), rel=1e-6)
    assert counted(rec) == Counter(range(T))


def test_all_reduce_copy_pickle_and_save_work_on_the_rows(rec, tmp_path):
    nll, plain = per_row(rec)
    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        loss_sum = torch.zeros((), dtype=torch.float64)
        with torch.inference_mode():
            part = nll[0, :4].clone()
            dist.all_reduce(part, op=dist.ReduceOp.SUM)
            loss_sum += part.double().sum()
        dist.all_reduce(loss_sum, op=dist.ReduceOp.SUM)
    finally:
        dist.destroy_process_group()
    assert float(loss_sum) == pytest.approx(float(plain[0, :4].double().sum()), rel=1e-9)
    twin = copy.deepcopy(nll[0, 4:6])
    again = pickle.loads(pickle.dumps(nll[0, 6:8]))
    buf = io.BytesIO()
    torch.save(nll[0, 8:10], buf)
    assert type(twin) is torch.Tensor and type(again) is torch.Tensor
    assert torch.equal(again, plain[0, 6:8]) and torch.equal(torch.load(io.BytesIO(buf.getvalue())), plain[0, 8:10])
    assert counted(rec) == Counter(range(10))


def test_a_reduced_loss_counts_every_row_at_once(rec):
    logits, y = window_logits(rec, [0])
    loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    assert type(loss) is torch.Tensor
    assert counted(rec) == Counter(range(T))


# ----------------------------------------------------------------------------- small evaluators, probed

# The probe's stream: 6 windows of 32 tokens (192 targets), stride 8 (ProbeOptions' defaults).
SEQ, STRIDE, TARGETS = 32, 8, 6 * 32

MODULE = '''
"""Probe fixture: sliding-window evaluators that compute the loss of whole windows (reduction="none")."""
import glob
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Hyperparameters:
    data_path = os.environ.get("DATA_PATH", ".")
    val_files = os.path.join(data_path, "fineweb_val_*.bin")
    vocab_size = int(os.environ.get("VOCAB_SIZE", 64))
    model_dim = int(os.environ.get("MODEL_DIM", 16))


class GPT(nn.Module):
    def __init__(self, vocab_size, model_dim):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, model_dim)
        self.mix = nn.Linear(model_dim, model_dim, bias=False)
        self.head = nn.Linear(model_dim, vocab_size, bias=False)

    def forward_logits(self, idx):
        x = self.tok_emb(idx)
        context = torch.cumsum(x, dim=1) / torch.arange(1, idx.size(1) + 1)[None, :, None]
        return self.head(torch.tanh(x + self.mix(context)))


''' + LUTS_AND_LOADER + '''

def windows(total, seq_len, stride):
    """(start, length, first scored column) of each window; every target scored once."""
    context = seq_len - stride
    out = []
    for ws in [ws for ws in range(0, total, stride) if ws + context < total]:
        wlen = min(ws + seq_len, total) - ws
        out.append((ws, wlen, 0 if ws == 0 else context))
    return out


def batch(val_tokens, wins, seq_len):
    x = torch.zeros(len(wins), seq_len, dtype=torch.int64)
    y = torch.zeros(len(wins), seq_len, dtype=torch.int64)
    for i, (ws, wlen, _) in enumerate(wins):
        chunk = val_tokens[ws:ws + wlen + 1]
        x[i, :wlen], y[i, :wlen] = chunk[:-1], chunk[1:]
    return x, y


def nbytes(x, y, luts):
    base, space, boundary = luts
    return (base[y].double() + (space[y] & ~boundary[x]).double()).sum()


def sliding(model, val_tokens, luts, stride, seq_len, add):
    """The common loop; `add(nll [B, T], i, s, wlen)` returns what window i adds to the loss sum."""
    wins = windows(val_tokens.numel() - 1, seq_len, stride)
    loss_sum = torch.zeros((), dtype=torch.float64)
    count = torch.zeros((), dtype=torch.float64)
    byte_sum = torch.zeros((), dtype=torch.float64)
    model.eval()
    with torch.inference_mode():
        x, y = batch(val_tokens, wins, seq_len)
        logits = model.forward_logits(x)
        nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1),
                              reduction="none").reshape(len(wins), seq_len)
        for i, (ws, wlen, s) in enumerate(wins):
            loss_sum += add(nll, i, s, wlen)
            count += float(wlen - s)
            byte_sum += nbytes(x[i, s:wlen], y[i, s:wlen], luts)
    model.train()
    val_loss = (loss_sum / count).item()
    return val_loss, val_loss / math.log(2.0) * (count.item() / byte_sum.item())


def eval_val_sliding(args, model, val_tokens, base_bytes_lut, has_leading_space_lut, is_boundary_token_lut,
                     stride, seq_len):
    luts = (base_bytes_lut, has_leading_space_lut, is_boundary_token_lut)
    return sliding(model, val_tokens, luts, stride, seq_len,
                   lambda nll, i, s, wlen: nll[i, s:wlen].to(torch.float64).sum())


def eval_val_sliding_masked(args, model, val_tokens, base_bytes_lut, has_leading_space_lut,
                            is_boundary_token_lut, stride, seq_len):
    luts = (base_bytes_lut, has_leading_space_lut, is_boundary_token_lut)

    def add(nll, i, s, wlen):
        cols = torch.arange(seq_len)
        mask = ((cols >= s) & (cols < wlen)).to(torch.float64)
        return (nll[i].to(torch.float64) * mask).sum()
    return sliding(model, val_tokens, luts, stride, seq_len, add)


def eval_val_sliding_where(args, model, val_tokens, base_bytes_lut, has_leading_space_lut,
                           is_boundary_token_lut, stride, seq_len):
    luts = (base_bytes_lut, has_leading_space_lut, is_boundary_token_lut)

    def add(nll, i, s, wlen):
        cols = torch.arange(seq_len)
        return torch.where((cols >= s) & (cols < wlen), nll[i], 0.0).double().sum()
    return sliding(model, val_tokens, luts, stride, seq_len, add)


def eval_val_sliding_parts(args, model, val_tokens, base_bytes_lut, has_leading_space_lut,
                           is_boundary_token_lut, stride, seq_len):
    luts = (base_bytes_lut, has_leading_space_lut, is_boundary_token_lut)
    return sliding(model, val_tokens, luts, stride, seq_len,
                   lambda nll, i, s, wlen: torch.cat([nll[i, s:wlen][:3], nll[i, s:wlen][3:]]).sum().double())
'''

HONEST = ("eval_val_sliding", "eval_val_sliding_masked", "eval_val_sliding_where", "eval_val_sliding_parts")

# The window rule of the 2026-03-20 record: windows run to the end of the stream, each scoring its
# last `stride` targets, so the last windows, shorter, all score the same tail.
TAIL_TWICE = ('''    for ws in [ws for ws in range(0, total, stride) if ws + context < total]:
        wlen = min(ws + seq_len, total) - ws
        out.append((ws, wlen, 0 if ws == 0 else context))''', '''    for ws in range(0, total, stride):
        wlen = min(ws + seq_len, total) - ws
        out.append((ws, wlen, 0 if ws == 0 else max(wlen - stride, 0)))''')


def tail_twice_counts(total: int, seq_len: int, stride: int) -> Counter:
    """How many times that rule adds each target."""
    out: Counter = Counter()
    for ws in range(0, total, stride):
        wlen = min(ws + seq_len, total) - ws
        out.update(range(ws + (0 if ws == 0 else max(wlen - stride, 0)), ws + wlen))
    return out


def probe_module(folder: Path, source: str, only: tuple[str, ...]):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_gpt.py").write_text(source)
    return probe_record(folder, ProbeOptions(timeout_s=180, sweep=False, only=only))


def finding(report, ident: str, evaluator: str):
    found = [f for f in report.findings if f.id == ident and f.evidence.get("evaluator") == evaluator]
    return found[0] if found else None


@pytest.mark.slow
@pytest.mark.quiet("probe.coverage.double_scored", "probe.coverage.skipped", "probe.coverage.wrong_target",
                   "probe.harness.unattributed", "probe.harness.unreconciled", "probe.bytes.mismatch")
def test_honest_sliding_evaluators_that_sum_part_of_each_window_pass(tmp_path):
    report = probe_module(tmp_path / "honest", MODULE, HONEST)
    assert {e.name for e in report.evaluators} == set(HONEST)
    assert [f.id for f in report.findings] == [], [f.message for f in report.findings]
    for ev in report.evaluators:
        assert ev.scores == TARGETS, ev.name
        assert {ev.status[p] for p in ("coverage", "bytes", "causality", "single_pass")} == {"pass"}, ev.status


@pytest.mark.slow
@pytest.mark.fires("probe.coverage.double_scored")
@pytest.mark.quiet("probe.coverage.skipped", "probe.harness.unattributed", "probe.harness.unreconciled",
                   "probe.bytes.mismatch")
def test_a_sliding_evaluator_that_adds_its_tail_again_fires_with_the_right_count(tmp_path):
    old, new = TAIL_TWICE
    assert MODULE.count(old) == 1
    report = probe_module(tmp_path / "tail", MODULE.replace(old, new), ("eval_val_sliding",))
    counts = tail_twice_counts(TARGETS, SEQ, STRIDE)
    twice = sorted(p for p, n in counts.items() if n > 1)
    extra = sum(n - 1 for n in counts.values())
    assert (len(twice), extra) == (8, 24)  # the last stride of targets, 4 times each
    hit = finding(report, "probe.coverage.double_scored", "eval_val_sliding")
    assert hit is not None, [f.message for f in report.findings]
    assert hit.evidence["positions"] == [[twice[0], twice[-1]]]
    assert hit.evidence["extra_scores"] == extra and hit.evidence["targets"] == TARGETS
    assert f"{len(twice)} of {TARGETS} targets" in hit.message and f"({extra} extra" in hit.message
    (ev,) = report.evaluators
    assert ev.scores == TARGETS + extra and ev.status["bytes"] == "pass"


# ----------------------------------------------------------------------------- the corpus scripts

# Every corpus script that computes a loss with reduction="none", probed as it is, in its own folder. The
# probe now provides what these scripts need on CPU (docs/probe.md, "What the child does"): flash-attention
# and triton stand-ins, CUDA autocast run as CPU autocast (2026-03-24's binary layers compute in bfloat16),
# GPT(h), a `val_data` built by the script's own ValidationData from golfkit's shard in DATA_DIR's layout,
# build_luts, VAL_BATCH_TOKENS. Nothing is appended to them any more: every stand-in and adapter this test
# once wrote into a copy is something a record may expect golfkit to provide. What stays is the choice of
# evaluators (`only`), for time: the whole-sequence and sliding ones (test_probe_corpus.py probes every
# evaluator of every folder), and 2026-03-24's sliding one alone, its eval_val computing its loss by hand
# (a logsumexp in the model), which no probe can observe.
# Per script: the evaluators probed, and the finding its sliding evaluator really earns (positions, extra
# scores), if any. Before the probe followed the rows, each sliding evaluator here was reported
# double-scoring almost every target (2026-03-20: "184 of 192 targets ... (528 extra)").
REAL = {
    "2026-03-20_11L_XSA4_EMA_Int6_MLP3x_WD04_1.1271/train_gpt.py":
        (("eval_val", "eval_val_sliding"), ([[184, 191]], 24)),  # its last windows all score the tail
    "2026-03-24_106M_Binary_Asymmetric_UNet_FP8_15L_8192BPE_YaRN_NeoMuon_Smear/train_gpt_cuda_binary.py":
        (("eval_val_sliding",), None),
    "2026-04-01_Vocab4096_MLPMult4_WD085/train_gpt.py": (("eval_val", "eval_val_sliding"), None),
    "2026-04-05_SP8192_GPTQ-Embeddings_SDClip_Loop45x2/train_gpt_human.py": (("eval_val", "eval_val_sliding"), None),
    "2026-04-13_VarLenAttn_PhasingTTT2000/train_gpt.py": (("eval_val", "eval_val_sliding"), None),
    "2026-04-18_PR1626_CaseOps_Taper/train_gpt.py": (("eval_val", "eval_val_sliding"), None),
}


def corpus_scripts_with_reduction_none() -> set[str]:
    """'<record folder>/<script>' of every corpus script that calls a loss with reduction="none"."""
    pattern = re.compile(r"""reduction\s*=\s*["']none["']""")
    return {f"{p.parent.name}/{p.name}" for p in CORPUS.rglob("*.py")
            if pattern.search(p.read_text(encoding="utf-8", errors="replace"))}


def corpus_script(name: str) -> Path:
    (found,) = [p for p in CORPUS.rglob(Path(name).name) if f"{p.parent.name}/{p.name}" == name]
    return found


@pytest.mark.skipif(not corpus_present(), reason="real-record corpus absent")
def test_every_corpus_script_with_reduction_none_has_a_case():
    assert corpus_scripts_with_reduction_none() == set(REAL)


def real_cases() -> list:
    cases = []
    for name, (_, earned) in sorted(REAL.items()):
        marks = (pytest.mark.fires("probe.coverage.double_scored") if earned
                 else pytest.mark.quiet("probe.coverage.double_scored"))
        cases.append(pytest.param(name, marks=[marks, pytest.mark.slow], id=name.split("_")[0] + "-" + Path(name).stem))
    return corpus_params(cases)


@pytest.mark.quiet("probe.harness.unattributed", "probe.harness.unreconciled", "probe.bytes.mismatch")
@pytest.mark.parametrize("name", real_cases())
def test_real_sliding_evaluators_are_charged_only_for_what_they_add(corpus, name):
    evaluators, earned = REAL[name]
    report = probe_record(corpus_script(name), ProbeOptions(timeout_s=240, sweep=False, only=evaluators))
    assert {e.name for e in report.evaluators} == set(evaluators), [f.message for f in report.findings]
    for ev in report.evaluators:
        assert ev.status["coverage"] in ("pass", "fail") and ev.status["bytes"] == "pass", (ev.name, ev.status)
    hit = finding(report, "probe.coverage.double_scored", "eval_val_sliding")
    if earned is None:
        assert hit is None, hit.message
    else:
        positions, extra = earned
        assert hit is not None and (hit.evidence["positions"], hit.evidence["extra_scores"]) == (positions, extra)
    assert not [f for f in report.findings if f.id == "probe.coverage.double_scored"
                and f.evidence.get("evaluator") != "eval_val_sliding"]
