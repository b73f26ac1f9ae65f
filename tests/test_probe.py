"""`golfkit probe`: each defect in a small evaluator module is caught by its probe and no other; the
reference trainer passes every probe, wrapped or not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import assert_usage_error
from click.testing import CliRunner

from golfkit.probe.run import ProbeOptions, probe_record

ROOT = Path(__file__).resolve().parents[1]
TRAINER = ROOT / "templates" / "train_gpt.py"

# A legal evaluator module in the baseline's shape: a one-layer model with document-isolated attention
# and a smear gate closed at BOS, standard, sliding-window and score-first TTT evaluators.
# The byte tables and the shard loader in the baseline's shape (other probe tests' fixtures reuse them).
LUTS_AND_LOADER = '''def build_sentencepiece_luts(sp, vocab_size, device):
    base = np.zeros(vocab_size, np.int16)
    space = np.zeros(vocab_size, bool)
    boundary = np.ones(vocab_size, bool)
    for i in range(sp.vocab_size()):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            continue
        boundary[i] = False
        if sp.is_byte(i):
            base[i] = 1
            continue
        piece = sp.id_to_piece(i)
        if piece.startswith("\\u2581"):
            space[i] = True
            piece = piece[1:]
        base[i] = len(piece.encode())
    return torch.tensor(base), torch.tensor(space), torch.tensor(boundary)


def load_validation_tokens(pattern, seq_len):
    tokens = np.concatenate([np.fromfile(f, dtype="<u2", offset=1024) for f in sorted(glob.glob(pattern))])
    usable = (len(tokens) - 1) // seq_len * seq_len
    return torch.from_numpy(tokens[: usable + 1].astype(np.int64))
'''

BASE = '''
"""Probe fixture: a tiny evaluator module in the baseline's shape."""
import glob
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BOS = 1


class Hyperparameters:
    data_path = os.environ.get("DATA_PATH", ".")
    val_files = os.path.join(data_path, "fineweb_val_*.bin")
    vocab_size = int(os.environ.get("VOCAB_SIZE", 64))
    model_dim = int(os.environ.get("MODEL_DIM", 16))
    train_seq_len = int(os.environ.get("TRAIN_SEQ_LEN", 32))
    ttt_chunk_tokens = int(os.environ.get("TTT_CHUNK_TOKENS", 64))


def golfkit_probe_adapter():
    return {"document_isolated": True}


class GPT(nn.Module):
    def __init__(self, vocab_size, model_dim):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, model_dim)
        self.smear = nn.Parameter(torch.zeros(model_dim))
        self.qkv = nn.Linear(model_dim, 3 * model_dim, bias=False)
        self.proj = nn.Linear(model_dim, model_dim, bias=False)
        self.head = nn.Linear(model_dim, vocab_size, bias=False)

    def forward_logits(self, idx):
        x = self.tok_emb(idx)
        prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
        gate = (idx != BOS).to(x.dtype)[..., None]
        x = x + gate * torch.sigmoid(self.smear) * prev
        q, k, v = self.qkv(F.rms_norm(x, (x.size(-1),))).chunk(3, dim=-1)
        doc = torch.cumsum((idx == BOS).int(), dim=1)
        same_doc = doc[:, :, None] == doc[:, None, :]
        t = torch.arange(idx.size(1))
        allowed = (t[None, :] <= t[:, None])[None] & same_doc
        att = (q @ k.transpose(1, 2)) / math.sqrt(q.size(-1))
        att = att.masked_fill(~allowed, float("-inf")).softmax(-1)
        x = x + self.proj(att @ v)
        return self.head(F.rms_norm(x, (x.size(-1),)))

    def forward(self, idx, targets):
        logits = self.forward_logits(idx)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


''' + LUTS_AND_LOADER + '''

def _score(model, x, y, first, luts):
    base, space, boundary = luts
    logits = model.forward_logits(x)
    keep = torch.arange(x.size(1))[None, :] >= first[:, None]
    nll = F.cross_entropy(logits[keep], y[keep], reduction="none")
    tgt, prev = y[keep], x[keep]
    nbytes = base[tgt].double() + (space[tgt] & ~boundary[prev]).double()
    return torch.stack([nll.double().sum(), torch.tensor(float(tgt.numel()), dtype=torch.float64), nbytes.sum()])


def _finish(s):
    return float(s[0] / s[1]), float(s[0] / math.log(2) / s[2])


def eval_val(args, model, rank, world_size, device, val_tokens, base_bytes_lut, has_leading_space_lut,
             is_boundary_token_lut):
    seq_len = args.train_seq_len
    n = (val_tokens.numel() - 1) // seq_len
    luts = (base_bytes_lut, has_leading_space_lut, is_boundary_token_lut)
    model.eval()
    with torch.no_grad():
        x = val_tokens[: n * seq_len].reshape(n, seq_len)
        y = val_tokens[1 : n * seq_len + 1].reshape(n, seq_len)
        return _finish(_score(model, x, y, torch.zeros(n, dtype=torch.long), luts))


def windows(num_targets, seq_len, stride):
    out = [(0, 0, min(seq_len, num_targets))]
    for a in range(seq_len, num_targets, stride):
        b = min(a + stride, num_targets)
        out.append((max(0, b - seq_len), a, b))
    return out


def eval_val_sliding(args, model, rank, world_size, device, val_tokens, base_bytes_lut, has_leading_space_lut,
                     is_boundary_token_lut, stride, batch_seqs=4):
    luts = (base_bytes_lut, has_leading_space_lut, is_boundary_token_lut)
    s = torch.zeros(3, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        for start, a, b in windows(val_tokens.numel() - 1, args.train_seq_len, stride):
            x, y = val_tokens[start:b][None], val_tokens[start + 1 : b + 1][None]
            s += _score(model, x, y, torch.tensor([a - start]), luts)
    return _finish(s)


def _score_chunk(model, val_tokens, c0, c1, seq_len, luts):
    model.eval()
    s = torch.zeros(3, dtype=torch.float64)
    with torch.no_grad():
        for a in range(c0, c1, seq_len):
            b = min(a + seq_len, c1)
            start = max(0, b - seq_len)
            x, y = val_tokens[start:b][None], val_tokens[start + 1 : b + 1][None]
            s += _score(model, x, y, torch.tensor([a - start]), luts)
    return s


def _train_on(model, opt, val_tokens, c0, c1):
    model.train()
    opt.zero_grad()
    model(val_tokens[c0:c1][None], val_tokens[c0 + 1 : c1 + 1][None]).backward()
    opt.step()


def eval_val_ttt(args, model, rank, world_size, device, val_tokens, base_bytes_lut, has_leading_space_lut,
                 is_boundary_token_lut):
    luts = (base_bytes_lut, has_leading_space_lut, is_boundary_token_lut)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    s = torch.zeros(3, dtype=torch.float64)
    n = val_tokens.numel() - 1
    for c0 in range(0, n, args.ttt_chunk_tokens):
        c1 = min(c0 + args.ttt_chunk_tokens, n)
        s += _score_chunk(model, val_tokens, c0, c1, args.train_seq_len, luts)
        _train_on(model, opt, val_tokens, c0, c1)
    return _finish(s)
'''

# defect -> (line of BASE, replacement); the ids each may raise are its test's fires marker (DEFECT_CASES)
DEFECTS = {
    "tail_twice": ("    return out\n", "    out.append(out[-1])\n    return out\n"),
    "first_windows_skipped": ("    out = [(0, 0, min(seq_len, num_targets))]",
                              "    out = [(0, seq_len - stride, min(seq_len, num_targets))]"),
    "leading_space_twice": ("(space[tgt] & ~boundary[prev]).double()", "2 * (space[tgt] & ~boundary[prev]).double()"),
    "cache_keyed_on_target": (
        "    keep = torch.arange(x.size(1))[None, :] >= first[:, None]\n",
        ("    keep = torch.arange(x.size(1))[None, :] >= first[:, None]\n"
        "    upto = torch.arange(x.size(1))[None, :] <= torch.arange(x.size(1))[:, None]\n"
        "    seen = ((x[:, None, :] == y[:, :, None]) & upto[None]).any(-1, keepdim=True)\n"
        "    logits = logits.scatter_add(-1, y[..., None], 3.0 * seen.to(logits.dtype))\n")),
    "train_before_score": (
        ("        s += _score_chunk(model, val_tokens, c0, c1, args.train_seq_len, luts)\n"
        "        _train_on(model, opt, val_tokens, c0, c1)\n"),
        ("        _train_on(model, opt, val_tokens, c0, c1)\n"
        "        s += _score_chunk(model, val_tokens, c0, c1, args.train_seq_len, luts)\n")),
    "two_passes": (
        "        _train_on(model, opt, val_tokens, c0, c1)\n    return _finish(s)\n",
        ("        _train_on(model, opt, val_tokens, c0, c1)\n"
        "    s = torch.zeros(3, dtype=torch.float64)\n"
        "    for c0 in range(0, n, args.ttt_chunk_tokens):\n"
        "        c1 = min(c0 + args.ttt_chunk_tokens, n)\n"
        "        s += _score_chunk(model, val_tokens, c0, c1, args.train_seq_len, luts)\n"
        "    return _finish(s)\n")),
    "smear_across_bos": ("gate = (idx != BOS).to(x.dtype)[..., None]",
                         "gate = torch.ones_like(idx, dtype=x.dtype)[..., None]"),
    "peeks_two_ahead": ("allowed = (t[None, :] <= t[:, None])[None] & same_doc",
                        "allowed = ((t[None, :] <= t[:, None]) | (t[None, :] == t[:, None] + 2))[None] & same_doc"),
}

EXPECTED_EVALUATORS = {"eval_val", "eval_val_sliding", "eval_val_ttt"}


def write_record(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_gpt.py").write_text(source)
    return folder


def ids(report) -> set[str]:
    return {f.id for f in report.findings}


@pytest.fixture(scope="module")
def base_report(tmp_path_factory):
    return probe_record(write_record(tmp_path_factory.mktemp("base"), BASE), ProbeOptions(timeout_s=120))


def test_legal_fixture_passes_every_probe(base_report):
    assert ids(base_report) == set(), [f.message for f in base_report.findings]
    assert {e.name for e in base_report.evaluators} == EXPECTED_EVALUATORS
    for ev in base_report.evaluators:
        assert set(ev.status.values()) == {"pass"} or (
            ev.name == "eval_val_ttt" and ev.status["doc_isolation"].startswith("not run")), ev.status
    assert base_report.document_isolation_claim == "golfkit_probe_adapter() says document_isolated"


# The vocabulary sweep (normalization) is the slow probe: it runs, on the evaluator the defect matters
# most to, where the defect could plausibly trip it; other defects are probed on every evaluator without
# it. The leading-space defect is probed through the CLI below.
SWEPT = {"cache_keyed_on_target": ("eval_val_sliding",), "train_before_score": ("eval_val_ttt",),
         "peeks_two_ahead": ("eval_val",)}


# Each defect fires exactly the ids of its marker (the recorder checks that each fires; the test, that
# nothing else does).
DEFECT_CASES = [
    pytest.param("cache_keyed_on_target",
                 marks=pytest.mark.fires("probe.normalization.sum", "probe.normalization.target_dependent")),
    pytest.param("first_windows_skipped", marks=pytest.mark.fires("probe.coverage.skipped")),
    pytest.param("peeks_two_ahead", marks=pytest.mark.fires("probe.causality.future_token")),
    pytest.param("smear_across_bos", marks=pytest.mark.fires("probe.doc_isolation.leak")),
    pytest.param("tail_twice", marks=pytest.mark.fires("probe.coverage.double_scored")),
    pytest.param("train_before_score", marks=pytest.mark.fires("probe.score_before_update.trained_first")),
    pytest.param("two_passes", marks=pytest.mark.fires("probe.single_pass.rescored")),
]


def test_every_defect_but_the_cli_one_has_a_case():
    assert {case.values[0] for case in DEFECT_CASES} == set(DEFECTS) - {"leading_space_twice"}


@pytest.mark.slow
@pytest.mark.parametrize("defect", DEFECT_CASES)
def test_each_defect_is_caught_by_its_probe_only(tmp_path, defect, request):
    old, new = DEFECTS[defect]
    allowed = {ident for mark in request.node.iter_markers("fires") for ident in mark.args}
    assert BASE.count(old) == 1, defect
    options = ProbeOptions(timeout_s=120, sweep=defect in SWEPT, only=SWEPT.get(defect, ()))
    report = probe_record(write_record(tmp_path / defect, BASE.replace(old, new)), options)
    found = ids(report)
    assert found, f"{defect}: no probe fired"
    assert found <= allowed, f"{defect}: unexpected findings {found - allowed}: " + \
        "; ".join(f.message for f in report.findings if f.id not in allowed)
    assert all(f.file == "train_gpt.py" and f.line for f in report.findings)


@pytest.fixture(scope="module")
def reference_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref")
    shutil.copy(TRAINER, folder / "train_gpt.py")
    return probe_record(folder, ProbeOptions(timeout_s=120))


@pytest.mark.slow
def test_reference_trainer_passes_every_probe(reference_report):
    report = reference_report
    assert report.findings == [], [f.message for f in report.findings]
    assert {e.name for e in report.evaluators} >= {"eval_val", "eval_val_sliding"}
    for ev in report.evaluators:
        assert ev.scores == 6 * 32
        assert all(v == "pass" or v.startswith("not run: the record does not claim") for v in ev.status.values())


@pytest.mark.slow
def test_minified_wrapped_trainer_gives_the_same_results(tmp_path, reference_report):
    minify = pytest.importorskip("golfkit.minify.minify")
    wrap = pytest.importorskip("golfkit.minify.wrap")
    packed = wrap.best_candidate(minify.minify_source(TRAINER.read_text()).source, codecs=("lzma",)).data
    (tmp_path / "wrapped").mkdir()
    (tmp_path / "wrapped" / "train_gpt.py").write_bytes(packed)
    wrapped = probe_record(tmp_path / "wrapped", ProbeOptions(timeout_s=120))
    assert wrapped.wrapper_layers
    assert [f.to_json() for f in wrapped.findings] == [f.to_json() for f in reference_report.findings]
    got = [(e.name, e.status, e.scores, e.returned) for e in wrapped.evaluators]
    assert got == [(e.name, e.status, e.scores, e.returned) for e in reference_report.evaluators]


def test_cli_refuses_without_trust_code(tmp_path):
    from golfkit.cli import main

    marker = tmp_path / "ran"
    folder = write_record(tmp_path / "rec", f"open({str(marker)!r}, 'w').write('x')\n")
    result = CliRunner().invoke(main, ["probe", str(folder)])
    assert result.exit_code == 2
    assert "--trust-code" in result.output
    assert not marker.exists()


@pytest.mark.fires("probe.bytes.mismatch", "probe.summary")
@pytest.mark.quiet("probe.coverage.double_scored", "probe.coverage.skipped", "probe.coverage.wrong_target",
                   "probe.causality.future_token", "probe.doc_isolation.leak")
def test_cli_json_report(tmp_path, base_report):
    from golfkit.cli import main

    folder = write_record(tmp_path / "rec", BASE.replace(*DEFECTS["leading_space_twice"][:2]))
    result = CliRunner().invoke(main, ["probe", str(folder), "--trust-code", "--format", "json", "--no-sweep"])
    assert result.exit_code == 1, result.output
    (record,) = json.loads(result.output)["records"]
    assert record["verdict"] == "fail"
    assert {f["id"] for f in record["findings"]} == {"probe.bytes.mismatch", "probe.summary"}
    probe = record["measured"]["probe"]
    assert probe["seconds"] > 0
    assert {e["name"] for e in probe["evaluators"]} == EXPECTED_EVALUATORS
    assert all(e["status"]["bytes"] == "fail" for e in probe["evaluators"])


def test_text_report_names_the_time_and_each_finding(base_report):
    from golfkit.probe.report import render

    text = render(base_report, "text")
    assert "PASS" in text and "[probe.summary] probes took" in text
    assert "eval_val_ttt (" in text and "s): 7 pass" in text


def test_missing_record_is_a_usage_error(tmp_path):
    from golfkit.cli import main

    assert_usage_error(CliRunner().invoke(main, ["probe", str(tmp_path / "nope"), "--trust-code"]))


def test_the_script_probed_is_the_one_golfkit_facts_chooses_and_a_guess_is_refused(tmp_path):
    from golfkit.errors import GolfkitError
    from golfkit.probe.run import find_script

    (tmp_path / "model.py").write_text("x = 1\n")
    assert find_script(tmp_path) == tmp_path / "model.py"
    for name in ("train_gpt_a.py", "train_gpt_b.py"):
        (tmp_path / name).write_text("x = 1\n")
    with pytest.raises(GolfkitError, match=r"several scripts \(train_gpt_a.py, train_gpt_b.py\)"):
        find_script(tmp_path)
    (tmp_path / "train_gpt.py").write_text("x = 1\n")
    assert find_script(tmp_path) == tmp_path / "train_gpt.py"




@pytest.mark.fires("probe.coverage.double_scored", "probe.summary")
@pytest.mark.quiet("probe.skipped", "probe.coverage.skipped", "probe.bytes.mismatch")
def test_verify_extra_check_reports_probe_findings(tmp_path):
    from golfkit.verify.api import verify_record
    from golfkit.verify.plugins.probes import make_probe_check
    from golfkit.verify.record import read_record

    folder = write_record(tmp_path / "rec", BASE.replace(*DEFECTS["tail_twice"][:2]))
    check = make_probe_check(ProbeOptions(sweep=False, only=("eval_val_sliding",)))
    report = verify_record(read_record(folder), extra_checks=[check])
    found = {f.id for f in report.findings}
    assert {"probe.coverage.double_scored", "probe.summary"} <= found
    assert not any(i.startswith("probe.") and i not in {"probe.coverage.double_scored", "probe.summary"}
                   for i in found)
    assert report.verdict == "fail"


@pytest.mark.fires("probe.skipped")
@pytest.mark.quiet("probe.summary")
def test_verify_extra_check_skips_a_record_without_a_script(tmp_path):
    from golfkit.verify.api import verify_record
    from golfkit.verify.plugins.probes import make_probe_check
    from golfkit.verify.record import read_record

    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "README.md").write_text("a record that ships no code\n")
    report = verify_record(read_record(folder), extra_checks=[make_probe_check(ProbeOptions(sweep=False))])
    (skipped,) = [f for f in report.findings if f.id.startswith("probe.")]
    assert skipped.id == "probe.skipped" and skipped.severity.value == "info"
    assert "no evaluation code to probe" in skipped.message


def test_isolation_claim_comes_from_the_script_or_the_record_text():
    from golfkit.probe.run import isolation_claim

    assert isolation_claim("y = flash_attn_varlen_func(q, k, v, cu_seqlens_q=cu)", []) is not None
    assert isolation_claim("x = 1", ["We evaluate with document-isolated attention."]) is not None
    assert isolation_claim("x = 1", ["Sliding window eval, stride 64."]) is None


@pytest.mark.quiet("probe.not_run", "probe.coverage.double_scored", "probe.coverage.skipped",
                   "probe.bytes.mismatch")
def test_adapter_names_the_model_and_the_evaluators(tmp_path):
    source = BASE.replace("class GPT(", "class TinyLM(").replace("def eval_val(", "def evaluate(")
    source = source.replace("def golfkit_probe_adapter():\n    return {\"document_isolated\": True}", (
        "def golfkit_probe_adapter():\n"
        "    return {'document_isolated': False,\n"
        "            'build_model': lambda args: TinyLM(args.vocab_size, args.model_dim),\n"
        "            'evaluators': {'evaluate': evaluate}}"))
    report = probe_record(write_record(tmp_path / "rec", source), ProbeOptions(sweep=False))
    assert report.findings == [], [f.message for f in report.findings]
    assert [e.name for e in report.evaluators] == ["evaluate"]
    assert report.evaluators[0].scores == 6 * 32
    assert report.document_isolation_claim is None


# The challenge baseline's shape: the loss is computed inside forward (mean over the batch, logits never
# leave the model) and eval_val accumulates mean * count, with grad_accum_steps in its signature.
BASELINE_EVAL = '''
def eval_val(args, model, rank, world_size, device, grad_accum_steps, val_tokens, base_bytes_lut,
             has_leading_space_lut, is_boundary_token_lut):
    seq_len = args.train_seq_len
    total_seqs = (val_tokens.numel() - 1) // seq_len
    loss_sum = torch.zeros((), dtype=torch.float64)
    token_count = torch.zeros((), dtype=torch.float64)
    byte_count = torch.zeros((), dtype=torch.float64)
    model.eval()
    with torch.inference_mode():
        for s in range(0, total_seqs, 2):
            e = min(s + 2, total_seqs)
            local = val_tokens[s * seq_len : e * seq_len + 1].to(dtype=torch.int64)
            x, y = local[:-1].reshape(-1, seq_len), local[1:].reshape(-1, seq_len)
            batch_loss = model(x, y).detach()
            loss_sum += batch_loss.to(torch.float64) * float(y.numel())
            token_count += float(y.numel())
            tgt, prev = y.reshape(-1), x.reshape(-1)
            nbytes = base_bytes_lut[tgt].to(torch.int16)
            nbytes += (has_leading_space_lut[tgt] & ~is_boundary_token_lut[prev]).to(torch.int16)
            byte_count += nbytes.to(torch.float64).sum()
    model.train()
    val_loss = loss_sum / token_count
    return float(val_loss), float(val_loss / math.log(2.0) * token_count / byte_count)
'''


# The loss inside forward, the sweep on and a document-isolation claim: every probe runs, and none fires.
@pytest.mark.quiet("probe.coverage.double_scored", "probe.coverage.skipped", "probe.coverage.wrong_target",
                   "probe.bytes.mismatch", "probe.causality.future_token", "probe.normalization.sum",
                   "probe.normalization.target_dependent", "probe.score_before_update.trained_first",
                   "probe.single_pass.rescored", "probe.doc_isolation.leak", "probe.not_run",
                   "probe.harness.unattributed", "probe.harness.nondeterministic", "probe.harness.unreconciled",
                   "probe.sandbox.timeout", "probe.sandbox.memory", "probe.sandbox.processes",
                   "probe.sandbox.network", "probe.sandbox.crashed")
def test_baseline_shaped_evaluator_with_loss_inside_forward(tmp_path):
    start, end = BASE.index("def eval_val("), BASE.index("def windows(")
    source = BASE[:start] + BASELINE_EVAL.lstrip() + "\n\n" + BASE[end:]
    source = source.replace("        logits = self.forward_logits(idx)\n        return F.cross_entropy(",
                            "        logits = GPT.forward_logits(self, idx)\n        return F.cross_entropy(")
    assert "GPT.forward_logits(self, idx)" in source
    report = probe_record(write_record(tmp_path / "rec", source), ProbeOptions(only=("eval_val",)))
    assert report.findings == [], [f.message for f in report.findings]
    assert report.document_isolation_claim is not None
    (ev,) = report.evaluators
    assert ev.scores == 6 * 32 and set(ev.status.values()) == {"pass"}
