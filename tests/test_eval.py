"""golfkit eval, the core: windows, token bytes, the reference-family model, the evaluation loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sentencepiece as spm
import torch
import torch.nn.functional as F
from _eval_fixtures import CONFIG, TRAIN_SEQ_LEN, dataset, random_model
from hypothesis import given, settings
from hypothesis import strategies as st

from golfkit.data.shards import read_shard
from golfkit.data.synthetic import documents
from golfkit.data.token_bytes import byte_table
from golfkit.data.tokenizer import encode_documents
from golfkit.errors import GolfkitError
from golfkit.eval.evaluate import evaluate, model_nll
from golfkit.eval.model import GPT, ModelConfig
from golfkit.eval.run import eval_stream
from golfkit.eval.windows import Window, coverage, sliding_windows, standard_windows, trimmed_length

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return dataset(tmp_path_factory.mktemp("ds"))


@pytest.fixture(scope="module")
def sp(ds):
    return spm.SentencePieceProcessor(model_file=str(ds.tokenizer))


@pytest.fixture(scope="module")
def stream(ds):
    return read_shard(ds.val_shard)


# ------------------------------------------------------------------ windows

TRIPLES = [(5, 8, 3), (1, 4, 1), (100, 16, 16), (100, 16, 7), (17, 16, 5), (64, 64, 64), (1000, 128, 48),
           (1023, 1024, 64), (4097, 1024, 64), (30, 8, 1)]


@pytest.mark.parametrize(("targets", "seq_len", "stride"), TRIPLES)
def test_sliding_windows_score_every_target_once_with_full_context(targets, seq_len, stride):
    windows = sliding_windows(targets, seq_len, stride)
    assert coverage(windows, targets).tolist() == [1] * targets
    for w in windows:
        assert w.length <= seq_len and w.start == max(0, w.end - seq_len)
        assert 0 < w.scored <= max(stride, min(seq_len, targets))


@pytest.mark.parametrize(("targets", "seq_len"), [(5, 8), (64, 16), (65, 16), (1, 1)])
def test_standard_windows_are_disjoint_and_complete(targets, seq_len):
    windows = standard_windows(targets, seq_len)
    assert coverage(windows, targets).tolist() == [1] * targets
    assert all(w.start == w.score_from for w in windows)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 300), st.data())
def test_sliding_coverage_property(targets, seq_len, data):
    stride = data.draw(st.integers(1, seq_len))
    assert (coverage(sliding_windows(targets, seq_len, stride), targets) == 1).all()


def test_coverage_exposes_the_field_bugs():
    # docs/verify.md#sliding-window-evaluation: the last S targets scored L/S times; the first L - S never scored.
    rescored = [Window(0, 16, 0), Window(4, 20, 16), Window(4, 20, 16)]
    assert coverage(rescored, 20)[16:].tolist() == [2, 2, 2, 2]
    suffix_only = [Window(max(0, b - 16), b, b - 4) for b in range(16, 33, 4)]
    assert (coverage(suffix_only, 32)[:12] == 0).all()


def test_trimmed_length_and_bad_windows():
    assert trimmed_length(62_021_633 + 500, 1024) == 62_021_633  # sp1024: 62,021,632 targets
    assert trimmed_length(2049, 1024) == 2049
    assert trimmed_length(2048, 1024) == 1025
    with pytest.raises(GolfkitError, match="fewer than train_seq_len"):
        trimmed_length(100, 1024)
    with pytest.raises(GolfkitError, match="stride"):
        sliding_windows(100, 16, 17)
    with pytest.raises(GolfkitError, match="stride"):
        sliding_windows(100, 16, 0)


# ------------------------------------------------------------------ token bytes

def _decoded_bytes(sp, stream: np.ndarray) -> int:
    """UTF-8 length of the text the stream decodes to, document by document (BOS separates them)."""
    bos, total, doc = sp.bos_id(), 0, []
    for t in stream.tolist() + [bos]:
        if t == bos:
            total += len(sp.decode(doc).encode("utf-8"))
            doc = []
        else:
            doc.append(t)
    return total


def test_byte_total_equals_utf8_length_of_validation_text(ds, sp, stream):
    table = byte_table(sp)
    kinds = {"fallback": 0, "multibyte": 0}
    for t in set(stream.tolist()):
        if sp.is_byte(t):
            kinds["fallback"] += 1
        elif len(sp.id_to_piece(t).lstrip("\u2581").encode()) > len(sp.id_to_piece(t).lstrip("\u2581")):
            kinds["multibyte"] += 1
    assert kinds["fallback"] > 0 and kinds["multibyte"] > 0, kinds  # the check exercises both kinds of pieces
    assert int(table.target_bytes(stream).sum()) == ds.val_bytes == _decoded_bytes(sp, stream)
    trimmed = stream[: trimmed_length(stream.size, TRAIN_SEQ_LEN)]
    assert int(table.target_bytes(trimmed).sum()) == _decoded_bytes(sp, trimmed)


def test_byte_total_on_rare_scripts_and_fallback(sp):
    docs = ["東京 ☕ café", "naïve — ½ °C", "Ω≈ç√∫ 𝄞 emoji 🙂 end", "  two spaces\nand a newline"]
    ids = encode_documents(sp, docs)
    assert any(sp.is_byte(int(t)) for t in ids)
    assert int(byte_table(sp).target_bytes(ids).sum()) == sum(len(d.encode("utf-8")) for d in docs)


def test_known_byte_bugs_change_the_total(sp, stream):
    # Counting every leading space (#1719) or byte-fallback pieces as 3 bytes (#1271) gives another total.
    table = byte_table(sp)
    right = int(table.target_bytes(stream).sum())
    tgt = stream[1:].astype(np.int64)
    double_space = int((table.base_bytes[tgt] + table.leading_space[tgt]).sum())
    fallback3 = right + 2 * int(sum(sp.is_byte(int(t)) for t in tgt))
    assert double_space > right and fallback3 > right


# ------------------------------------------------------------------ model

CONTRACT_SHAPES = {  # docs/reference-model.md, for CONFIG (D=64, KV=2*16=32, M=128, 3 layers)
    "tok_emb.weight": (512, 64), "skip_weights": (1, 64),
    **{f"blocks.{i}.{k}": s for i in range(3) for k, s in {
        "attn.c_q.weight": (64, 64), "attn.c_k.weight": (32, 64), "attn.c_v.weight": (32, 64),
        "attn.proj.weight": (64, 64), "attn.q_gain": (4,), "mlp.fc.weight": (128, 64), "mlp.proj.weight": (64, 128),
        "attn_scale": (64,), "mlp_scale": (64,), "resid_mix": (2, 64)}.items()},
}


def test_state_dict_is_the_contract():
    assert {k: tuple(v.shape) for k, v in GPT(CONFIG).state_dict().items()} == CONTRACT_SHAPES


def _reference_logits(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """The contract's pseudo-code, literally: loops over heads, an explicit mask, no SDPA."""
    cfg, sd = model.cfg, model.state_dict()
    hd, n_enc = cfg.head_dim, cfg.num_layers // 2
    t = idx.size(1)
    r = lambda x: x / torch.sqrt((x * x).mean(-1, keepdim=True) + torch.finfo(x.dtype).eps)
    inv = 1 / cfg.rope_base ** (torch.arange(0, hd, 2).float() / hd)
    f = torch.outer(torch.arange(t).float(), inv)

    def rot(z):
        z1, z2 = z[..., : hd // 2], z[..., hd // 2:]
        return torch.cat((z1 * f.cos() + z2 * f.sin(), -z1 * f.sin() + z2 * f.cos()), -1)

    def block(i, x, x0):
        p = lambda n: sd[f"blocks.{i}.{n}"]
        x = p("resid_mix")[0] * x + p("resid_mix")[1] * x0
        h = r(x)
        q, k, v = h @ p("attn.c_q.weight").T, h @ p("attn.c_k.weight").T, h @ p("attn.c_v.weight").T
        heads = []
        mask = torch.ones(t, t).tril().bool()
        for head in range(cfg.num_heads):
            kvh = head // (cfg.num_heads // cfg.num_kv_heads)
            qh = rot(r(q[..., head * hd:(head + 1) * hd])) * p("attn.q_gain")[head]
            kh = rot(r(k[..., kvh * hd:(kvh + 1) * hd]))
            vh = v[..., kvh * hd:(kvh + 1) * hd]
            att = (qh @ kh.transpose(-1, -2) / math.sqrt(hd)).masked_fill(~mask, float("-inf")).softmax(-1)
            heads.append(att @ vh)
        x = x + p("attn_scale") * (torch.cat(heads, -1) @ p("attn.proj.weight").T)
        m = torch.relu(r(x) @ p("mlp.fc.weight").T) ** 2
        return x + p("mlp_scale") * (m @ p("mlp.proj.weight").T)

    x = r(sd["tok_emb.weight"][idx])
    x0, skips = x, []
    for i in range(n_enc):
        x = block(i, x, x0)
        skips.append(x)
    for i in range(cfg.num_layers - n_enc):
        if skips:
            x = x + sd["skip_weights"][i] * skips.pop()
        x = block(n_enc + i, x, x0)
    return cfg.logit_softcap * torch.tanh(r(x) @ sd["tok_emb.weight"].T / cfg.logit_softcap)


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_model_matches_the_contract_pseudocode(kv_heads):
    cfg = ModelConfig(vocab_size=97, num_layers=3, model_dim=32, num_heads=4, num_kv_heads=kv_heads, mlp_mult=2)
    model = random_model(3, cfg)
    idx = torch.randint(0, 97, (2, 24))
    with torch.no_grad():
        assert torch.allclose(model(idx), _reference_logits(model, idx), atol=2e-4, rtol=1e-4)


def test_model_is_causal():
    model = random_model(4)
    idx = torch.randint(0, 512, (1, 32))
    changed = idx.clone()
    changed[0, 20:] = (changed[0, 20:] + 7) % 512
    with torch.no_grad():
        a, b = model(idx), model(changed)
    assert torch.allclose(a[:, :20], b[:, :20], atol=1e-5) and not torch.allclose(a[:, 20:], b[:, 20:])


def test_model_config_errors():
    with pytest.raises(GolfkitError, match="missing num_layers"):
        ModelConfig.from_dict({"vocab_size": 8, "model_dim": 8, "num_heads": 2, "num_kv_heads": 1, "mlp_mult": 2})
    with pytest.raises(GolfkitError, match="--trust-code"):
        ModelConfig.from_dict({"family": "other", "vocab_size": 8})
    with pytest.raises(GolfkitError, match="split into"):
        ModelConfig.from_dict({"vocab_size": 8, "num_layers": 1, "model_dim": 10, "num_heads": 3, "num_kv_heads": 1,
                               "mlp_mult": 2})
    with pytest.raises(GolfkitError, match="integer"):
        ModelConfig.from_dict({"vocab_size": 8.5, "num_layers": 1, "model_dim": 8, "num_heads": 2, "num_kv_heads": 1,
                               "mlp_mult": 2})


# ------------------------------------------------------------------ evaluation loop

def _naive_sliding(model: GPT, stream: np.ndarray, table, seq_len: int, stride: int) -> tuple[float, int, int]:
    """One window at a time, full logits, then the scored slice: the slow, obvious way."""
    toks = torch.from_numpy(stream.astype(np.int64))
    tb = table.target_bytes(stream)
    loss, n, nbytes = 0.0, 0, 0
    with torch.no_grad():
        for w in sliding_windows(stream.size - 1, seq_len, stride):
            logits = model(toks[w.start:w.end][None])[0]
            per = F.cross_entropy(logits, toks[w.start + 1:w.end + 1], reduction="none")
            loss += per[w.score_from - w.start:].double().sum().item()
            n += w.scored
            nbytes += int(tb[w.score_from:w.end].sum())
    return loss, n, nbytes


def test_batched_sliding_eval_equals_the_naive_loop(sp, stream):
    model, table = random_model(5), byte_table(sp)
    part = stream[: 40 * 16 + 1]
    want = _naive_sliding(model, part, table, 48, 16)
    windows = sliding_windows(part.size - 1, 48, 16)
    for batch_tokens in (48, 1000, 100_000):
        got = evaluate(part, table, windows, model_nll(model, torch.device("cpu")), mode="sliding", seq_len=48,
                       stride=16, batch_tokens=batch_tokens, progress=False)
        assert (got.tokens, got.bytes) == want[1:]
        assert got.loss_sum == pytest.approx(want[0], rel=1e-6)


def test_padded_batches_score_only_their_real_windows(sp, stream):
    """A compiled body gets every batch at one shape: the last batch is padded with copies of its last
    window, which must not be scored (evaluate() on CUDA with --compile)."""
    model, table = random_model(5), byte_table(sp)
    part = stream[: 40 * 16 + 1]
    windows = sliding_windows(part.size - 1, 48, 16)
    seen = []
    plain = model_nll(model, torch.device("cpu"))

    def padded(inputs, targets):
        seen.append(inputs.shape[0])
        return plain(inputs, targets)

    padded.device, padded.fixed_batch = torch.device("cpu"), True
    want = evaluate(part, table, windows, plain, mode="sliding", seq_len=48, stride=16, batch_tokens=48 * 7,
                    progress=False)
    got = evaluate(part, table, windows, padded, mode="sliding", seq_len=48, stride=16, batch_tokens=48 * 7,
                   progress=False)
    assert set(seen) == {7} and sum(seen) > len(windows)  # every batch 7 windows, padding included
    assert (got.tokens, got.bytes) == (want.tokens, want.bytes)
    assert got.loss_sum == pytest.approx(want.loss_sum, rel=1e-12)


def test_bf16_on_the_cpu_is_close_to_float32_and_not_equal(sp, stream):
    model, table = random_model(6), byte_table(sp)
    part = stream[: 8 * TRAIN_SEQ_LEN + 1]
    results = {}
    for precision in ("fp32", "bf16"):
        _, _, (r,) = eval_stream(part, table, model_nll(model, torch.device("cpu"), precision=precision),
                                 train_seq_len=TRAIN_SEQ_LEN, modes=("standard",))
        results[precision] = r.val_loss
    assert results["fp32"] != results["bf16"]
    assert results["bf16"] == pytest.approx(results["fp32"], rel=1e-2)


def test_eval_stream_counts_and_metric_definitions(sp, stream):
    model, table = random_model(6), byte_table(sp)
    targets, nbytes, results = eval_stream(stream, table, model_nll(model, torch.device("cpu")),
                                           train_seq_len=TRAIN_SEQ_LEN, stride=TRAIN_SEQ_LEN)
    standard, sliding = results
    assert targets == trimmed_length(stream.size, TRAIN_SEQ_LEN) - 1
    for r in results:
        assert (r.tokens, r.bytes) == (targets, nbytes)
        assert r.val_loss == pytest.approx(r.loss_sum / r.tokens)
        assert r.val_bpb == pytest.approx(r.val_loss / math.log(2) * r.tokens / r.bytes)
    # stride == seq_len == train_seq_len: the sliding windows are the standard ones
    assert sliding.loss_sum == pytest.approx(standard.loss_sum, rel=1e-6)


def test_stream_shorter_than_one_sliding_window(sp, stream):
    model, table = random_model(7), byte_table(sp)
    part = stream[:41]  # 40 targets, sliding windows of 128: one window, shorter than seq_len
    targets, _, (result,) = eval_stream(part, table, model_nll(model, torch.device("cpu")), train_seq_len=8,
                                        seq_len=128, stride=16, modes=("sliding",))
    assert targets == 40 and result.tokens == 40
    assert result.loss_sum == pytest.approx(_naive_sliding(model, part, table, 128, 16)[0], rel=1e-6)


def test_documents_helper_matches_dataset(ds):
    # The dataset's byte count is the UTF-8 length of the documents the tests decode against.
    assert ds.val_bytes == sum(len(d.encode()) for d in documents(60, seed=1_000_003))
