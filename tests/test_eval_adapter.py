"""The automatic adapter (golfkit.eval.adapter) on real record scripts of the corpus, and its parts.

For each baseline-family script (its model runs on a CPU): a tiny random model built with the
script's own classes, its artifact written with the script's own serializer, evaluated with the
script's own evaluator; then `golfkit eval --trust-code` (the adapter, in the sandbox) and
`verify --rerun --trust-code` must give the same val_loss and val_bpb within 1e-6.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import shutil
import sys
import zlib
from pathlib import Path

import pytest
import torch
from _corpus import CORPUS, corpus_params
from _eval_fixtures import TRAIN_SEQ_LEN, VOCAB, dataset
from cli_helpers import assert_no_crash
from click.testing import CliRunner

from golfkit.artifact.record_formats import read_record_artifact, record_state_dict
from golfkit.cli import main
from golfkit.eval.adapter import dtype_recipe, environment_reads, hyperparameter_env
from golfkit.eval.precision import scripts_cuda_autocast_emulated
from golfkit.sandbox import unavailable_reason
from golfkit.verify.api import verify_paths
from golfkit.verify.plugins.rerun import rerun_check

torch.set_num_threads(1)

BASELINE_FAMILY = [
    "track_10min_16mb/2026-03-17_NaiveBaseline",
    "track_10min_16mb/2026-03-18_FP16Embed_WD3600",
    "track_10min_16mb/2026-03-18_LowerLR",
    "track_non_record_16mb/2026-03-18_Quasi10Bfrom50B_SP1024_9x512_KV4_4h_pgut3",
    "track_10min_16mb/2026-03-19_MixedQuant_Int6Int8_SlidingWindow",
]
# The tiny model, as the environment of a run (the scripts read these when their Hyperparameters are defined).
TINY = {"VOCAB_SIZE": str(VOCAB), "NUM_LAYERS": "3", "MODEL_DIM": "64", "NUM_HEADS": "4", "NUM_KV_HEADS": "2",
        "MLP_MULT": "2", "TRAIN_SEQ_LEN": str(TRAIN_SEQ_LEN), "VAL_BATCH_SIZE": str(8 * 4 * TRAIN_SEQ_LEN)}
EXTRA = {"track_10min_16mb/2026-03-18_FP16Embed_WD3600": {"MLP_HIDDEN": "96"}}  # its README sets MLP_HIDDEN=992
SANDBOX = unavailable_reason()
EQUAL = 1e-6  # the bar: golfkit and the script's own evaluator, same artifact, same precision


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return dataset(tmp_path_factory.mktemp("adapter") / "data", val_docs=12)


def import_fresh(path: Path, name: str, env: dict[str, str], monkeypatch) -> object:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Every weight random (the scripts zero-initialise output projections) in the dtype it has."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.dim() == 2:
                p.copy_((noise / math.sqrt(p.shape[1])).to(p.dtype))
            else:
                p.copy_((p.float() + 0.2 * noise).to(p.dtype))


def script_side(folder: str, ds, tmp: Path, monkeypatch, seed: int = 3, emulate_bf16: bool = False):
    """What the record's own code does with a tiny model: build it as main() does, serialize it with the
    script's quantizer + torch.save + zlib, read it back as main() does, and evaluate it with eval_val.
    Returns (artifact path, val_loss, val_bpb, env)."""
    script = CORPUS / folder / "train_gpt.py"
    env = {**TINY, **EXTRA.get(folder, {}), "DATA_PATH": str(ds.root), "TOKENIZER_PATH": str(ds.tokenizer)}
    module = import_fresh(script, f"corpus_{abs(hash(folder))}", env, monkeypatch)
    args = module.Hyperparameters()
    names = ("vocab_size", "num_layers", "model_dim", "num_heads", "num_kv_heads", "mlp_mult", "tie_embeddings",
             "tied_embed_init_std", "logit_softcap", "rope_base", "qk_gain_init")
    kwargs = {n: getattr(args, n) for n in names}
    if hasattr(args, "mlp_hidden"):
        kwargs["mlp_hidden"] = args.mlp_hidden
    model = module.GPT(**kwargs).bfloat16()  # as main(): bf16, CastedLinear back to fp32, control params fp32
    for m in model.modules():
        if isinstance(m, module.CastedLinear):
            m.float()
    module.restore_low_dim_params_to_fp32(model)
    randomise(model, seed)
    # The script's own threshold keeps every tensor of a tiny model in float; lowered, its matrices are
    # quantized as a full-size model's are (int8 per row; int6 for 2026-03-19's blocks).
    monkeypatch.setattr(module, "INT8_KEEP_FLOAT_MAX_NUMEL", 1024)
    quant_obj, _ = module.quantize_state_dict_int8(model.state_dict())
    buf = io.BytesIO()
    torch.save(quant_obj, buf)
    artifact = tmp / "final_model.int8.ptz"
    artifact.write_bytes(zlib.compress(buf.getvalue(), level=9))
    state = torch.load(io.BytesIO(zlib.decompress(artifact.read_bytes())), map_location="cpu")
    model.load_state_dict(module.dequantize_state_dict_int8(state), strict=True)
    device = torch.device("cpu")
    val_tokens = module.load_validation_tokens(args.val_files, args.train_seq_len)
    import sentencepiece as spm

    luts = module.build_sentencepiece_luts(spm.SentencePieceProcessor(model_file=str(ds.tokenizer)),
                                           args.vocab_size, device)
    with scripts_cuda_autocast_emulated() if emulate_bf16 else _nothing():
        val_loss, val_bpb = module.eval_val(args, model, 0, 1, device, 8, val_tokens, *luts)
    return artifact, val_loss, val_bpb, env


class _nothing:  # a null context
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def eval_cli(*args):
    result = CliRunner().invoke(main, ["eval", *map(str, args)])
    assert_no_crash(result)
    return result.exit_code, result.output


def hparams(env: dict[str, str]) -> list[str]:
    return [x for k, v in env.items() if k not in ("DATA_PATH", "TOKENIZER_PATH") for x in ("--hparam", f"{k}={v}")]


needs_sandbox = pytest.mark.skipif(SANDBOX is not None, reason=f"golfkit's sandbox cannot run here: {SANDBOX}")


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("folder", corpus_params(BASELINE_FAMILY))
def test_golfkit_eval_equals_the_scripts_own_evaluator(folder, ds, tmp_path, monkeypatch):
    artifact, val_loss, val_bpb, env = script_side(folder, ds, tmp_path, monkeypatch)
    shutil.copy(CORPUS / folder / "train_gpt.py", tmp_path / "train_gpt.py")
    code, out = eval_cli(artifact, "--data", ds.root, "--tokenizer", ds.tokenizer, "--trust-code", "--mode",
                         "standard", "--precision", "fp32", *hparams(env), "--json")
    assert code == 0, out
    report = json.loads(out)
    (standard,) = report["results"]
    print("\nFIGURE", folder, val_loss, standard["val_loss"] - val_loss, val_bpb, standard["val_bpb"] - val_bpb)
    assert abs(standard["val_loss"] - val_loss) < EQUAL, (standard, val_loss)
    assert abs(standard["val_bpb"] - val_bpb) < EQUAL, (standard, val_bpb)
    model = report["model"]
    assert model["weights"] == "dequantize_state_dict_int8() of the script"
    assert "bfloat16" in model["dtypes"] and "restore_low_dim_params_to_fp32" in model["dtypes"]
    assert report["precision"] == "fp32"


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("folder", corpus_params(BASELINE_FAMILY[:2] + BASELINE_FAMILY[4:]))
def test_bf16_emulation_equals_the_scripts_own_evaluator_under_it(folder, ds, tmp_path, monkeypatch):
    artifact, val_loss, val_bpb, env = script_side(folder, ds, tmp_path, monkeypatch, emulate_bf16=True)
    shutil.copy(CORPUS / folder / "train_gpt.py", tmp_path / "train_gpt.py")
    code, out = eval_cli(artifact, "--data", ds.root, "--tokenizer", ds.tokenizer, "--trust-code", "--mode",
                         "standard", *hparams(env), "--json")
    assert code == 0, out
    report = json.loads(out)
    (standard,) = report["results"]
    print("\nFIGURE-bf16", folder, val_loss, standard["val_loss"] - val_loss, val_bpb, standard["val_bpb"] - val_bpb)
    assert report["precision"] == "bf16 autocast (CUDA's policy, emulated on cpu)"
    assert abs(standard["val_loss"] - val_loss) < EQUAL, (standard, val_loss)
    assert abs(standard["val_bpb"] - val_bpb) < EQUAL, (standard, val_bpb)


def make_record(folder: str, ds, root: Path, monkeypatch) -> tuple[Path, dict]:
    """A record folder as the challenge lays it out, around an artifact the script's own code wrote and
    evaluated under CUDA's bf16 autocast (emulated; a GPU run's precision): the script, a README whose run
    command sets the tiny model's environment, a log in the baseline's style (which prints only some
    hyperparameters), the claim in submission.json, and the validation data."""
    rec = root / "track_10min_16mb" / Path(folder).name
    rec.mkdir(parents=True)
    artifact, val_loss, val_bpb, env = script_side(folder, ds, rec, monkeypatch, emulate_bf16=True)
    shutil.copy(CORPUS / folder / "train_gpt.py", rec / "train_gpt.py")
    shutil.copy(ds.tokenizer, rec / "tokenizer.model")
    shutil.copy(ds.val_shard, rec / "fineweb_val_000000.bin")
    command = [f"{k}={v} \\" for k, v in env.items() if k not in ("NUM_HEADS", "NUM_KV_HEADS", "TRAIN_SEQ_LEN")]
    (rec / "README.md").write_text("# tiny\n\n```bash\nRUN_ID=tiny \\\n" + "\n".join(command)
                                   + "\ntorchrun --standalone --nproc_per_node=8 train_gpt.py\n```\n")
    size = artifact.stat().st_size
    (rec / "train.log").write_text(
        "model_params:1234\nworld_size:8 grad_accum_steps:1\n"
        f"attention_mode:gqa num_heads:{env['NUM_HEADS']} num_kv_heads:{env['NUM_KV_HEADS']}\n"
        f"train_batch_tokens:4096 train_seq_len:{env['TRAIN_SEQ_LEN']} iterations:20 warmup_steps:1\nseed:1337\n"
        "step:20/20 train_loss:6.0000 train_time:1000ms step_avg:50.00ms\n"
        f"Serialized model int8+zlib: {size} bytes (payload:1 raw_torch:1 payload_ratio:1.00x)\n"
        f"Total submission size int8+zlib: {size + (rec / 'train_gpt.py').stat().st_size} bytes\n"
        f"final_int8_zlib_roundtrip val_loss:{val_loss:.4f} val_bpb:{val_bpb:.4f} eval_time:100ms\n"
        f"final_int8_zlib_roundtrip_exact val_loss:{val_loss:.8f} val_bpb:{val_bpb:.8f}\n")
    (rec / "submission.json").write_text(json.dumps({"name": "tiny", "val_loss": round(val_loss, 8),
                                                     "val_bpb": round(val_bpb, 8)}))
    return rec, {"val_loss": val_loss, "val_bpb": val_bpb}


def rerun_findings(rec: Path, **kw) -> dict[str, list]:
    (report,) = verify_paths([rec], extra_checks=[rerun_check(trust_code=True, **kw)])
    found: dict[str, list] = {}
    for f in report.findings:
        if f.id.startswith(("rerun.", "check.failed")):
            found.setdefault(f.id, []).append(f)
    return found


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("folder", corpus_params([BASELINE_FAMILY[0], BASELINE_FAMILY[1], BASELINE_FAMILY[4]]))
def test_verify_rerun_equals_the_scripts_own_evaluator(folder, ds, tmp_path, monkeypatch):
    rec, claim = make_record(folder, ds, tmp_path, monkeypatch)
    found = rerun_findings(rec)
    errors = [f for fs in found.values() for f in fs if f.severity.value == "error"]
    assert not errors, errors
    (metrics,) = found["rerun.metrics"]
    standard = metrics.evidence["results"]["standard"]
    print("\nFIGURE-rerun", folder, standard["val_loss"] - claim["val_loss"], standard["val_bpb"] - claim["val_bpb"])
    assert abs(standard["val_loss"] - claim["val_loss"]) < EQUAL
    assert abs(standard["val_bpb"] - claim["val_bpb"]) < EQUAL
    precision = metrics.evidence["precision"]
    assert precision["record"] == "bf16" and "emulated" in precision["rerun"] and precision["tolerance"] == 2e-4
    assert "the CPU's emulation of bf16 autocast gave the GPU's logged metrics" in precision["why"]
    assert metrics.evidence["model"]["environment"]["NUM_LAYERS"] == TINY["NUM_LAYERS"]  # from the README
    assert found["rerun.val_bpb.matched"] and found["rerun.val_loss.matched"]


# ----------------------------------------------------------------------------- the parts, one by one


def test_hyperparameters_map_to_the_variables_the_script_reads():
    source = (
        "import os\n"
        "class Hyperparameters:\n"
        "    num_layers = int(os.environ.get('NUM_LAYERS', 9))\n"
        "    tie_embeddings = bool(int(os.environ.get('TIE_EMBEDDINGS', '1')))\n"
        "    max_wallclock_seconds = float(os.environ.get('MAX_WALLCLOCK_SECONDS', 600.0))\n"
        "    train_batch_tokens: int = int(os.getenv('TRAIN_BATCH_TOKENS', 524288))\n"
        "EXTRA = os.environ['SW_EVAL_BATCH']\n")
    attrs, read = environment_reads(source)
    assert attrs["num_layers"] == ("NUM_LAYERS", "int") and attrs["tie_embeddings"] == ("TIE_EMBEDDINGS", "bool")
    assert read == {"NUM_LAYERS", "TIE_EMBEDDINGS", "MAX_WALLCLOCK_SECONDS", "TRAIN_BATCH_TOKENS", "SW_EVAL_BATCH"}
    env, ignored = hyperparameter_env(source, {"num_layers": "11", "tie_embeddings": "True", "train_batch_tokens":
                                               "524288.000", "SW_EVAL_BATCH": "8", "world_size": "8",
                                               "max_wallclock_seconds": "600.000"})
    assert env == {"NUM_LAYERS": "11", "TIE_EMBEDDINGS": "1", "TRAIN_BATCH_TOKENS": "524288", "SW_EVAL_BATCH": "8",
                   "MAX_WALLCLOCK_SECONDS": "600.000"}
    assert ignored == ["world_size"]


@pytest.mark.parametrize("folder, where, steps", corpus_params([
    ("track_10min_16mb/2026-03-17_NaiveBaseline/train_gpt.py", "main()",
     [("float_modules", "CastedLinear"), ("call", "restore_low_dim_params_to_fp32")]),
    ("track_10min_16mb/2026-04-01_Vocab4096_MLPMult4_WD085/train_gpt.py", "deserialize()",
     [("call", "restore_fp32_params")]),
    (("track_non_record_16mb/2026-03-24_106M_Binary_Asymmetric_UNet_FP8_15L_8192BPE_YaRN_NeoMuon_Smear/"
     "train_gpt_cuda_binary.py"), "main()", None),
], width=3))
def test_dtype_recipe_is_read_from_the_scripts_own_code(folder, where, steps):
    recipe = dtype_recipe((CORPUS / folder).read_text(encoding="utf-8"))
    assert recipe.cast == "bfloat16" and recipe.where == where
    if steps is not None:
        assert recipe.steps == steps
    assert recipe.steps, recipe


@pytest.mark.parametrize("folder", corpus_params(["track_10min_16mb/2026-03-17_NaiveBaseline",
                                                  "track_10min_16mb/2026-03-19_MixedQuant_Int6Int8_SlidingWindow"]))
def test_readers_give_the_scripts_own_dequantized_state(folder, tmp_path, monkeypatch):
    """golfkit's reader, on an artifact the script wrote, gives exactly the state the script's own
    dequantize function gives: values and dtypes (bf16 embedding, fp32 matrices, fp16-stored controls)."""
    env = {**TINY, "DATA_PATH": str(tmp_path), "TOKENIZER_PATH": str(tmp_path / "t.model")}
    module = import_fresh(CORPUS / folder / "train_gpt.py", f"reader_{abs(hash(folder))}", env, monkeypatch)
    args = module.Hyperparameters()
    model = module.GPT(**{n: getattr(args, n) for n in (
        "vocab_size", "num_layers", "model_dim", "num_heads", "num_kv_heads", "mlp_mult", "tie_embeddings",
        "tied_embed_init_std", "logit_softcap", "rope_base", "qk_gain_init")}).bfloat16()
    randomise(model, 5)
    monkeypatch.setattr(module, "INT8_KEEP_FLOAT_MAX_NUMEL", 1024)
    obj, _ = module.quantize_state_dict_int8(model.state_dict())
    buf = io.BytesIO()
    torch.save(obj, buf)
    path = tmp_path / "final_model.int8.ptz"
    path.write_bytes(zlib.compress(buf.getvalue(), 9))
    theirs = module.dequantize_state_dict_int8(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    art = read_record_artifact(path)
    assert art.layers == ["zlib"] and art.format == "int8_clean_per_row_v1"
    ours = record_state_dict(art)
    assert set(ours) == set(theirs)
    for name, t in theirs.items():
        assert ours[name].dtype == t.dtype, name
        assert torch.equal(ours[name], t), name


def test_wm_format_takes_the_templates_dtypes(tmp_path):
    """`{"w", "m"}` payloads do not record dtypes: the template (the script's model) gives them, as the
    scripts' dequantize_mixed does."""
    import zstandard

    q = torch.randint(-31, 32, (8, 16), dtype=torch.int8)
    scale = (torch.rand(8) / 31 + 0.01).half()
    w = {"emb.q": q, "emb.scale": scale, "gain": torch.rand(16).half(), "mix": torch.rand(16)}
    m = {"emb": {"type": "int6"}, "gain": "passthrough", "mix": "passthrough_ctrl"}
    buf = io.BytesIO()
    torch.save({"w": w, "m": m}, buf)
    path = tmp_path / "final_model.int6.ptz"
    path.write_bytes(zstandard.ZstdCompressor(level=22).compress(buf.getvalue()))
    art = read_record_artifact(path)
    template = {"emb": torch.zeros(8, 16, dtype=torch.bfloat16), "gain": torch.zeros(16), "mix": torch.zeros(16)}
    state = record_state_dict(art, template)
    assert state["emb"].dtype == torch.bfloat16 and state["gain"].dtype == torch.float32
    assert torch.equal(state["emb"], (q.float() * scale.float()[:, None]).bfloat16())
    assert torch.equal(state["gain"], w["gain"].float())
    assert record_state_dict(art)["emb"].dtype == torch.float32  # no template: float32


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("folder", corpus_params(["track_10min_16mb/2026-03-17_NaiveBaseline"]))
def test_without_the_scripts_dequantizer_golfkits_reader_gives_the_same(folder, ds, tmp_path, monkeypatch):
    artifact, val_loss, val_bpb, env = script_side(folder, ds, tmp_path, monkeypatch)
    source = (CORPUS / folder / "train_gpt.py").read_text(encoding="utf-8")
    (tmp_path / "train_gpt.py").write_text(source.replace("def dequantize_state_dict_int8(", "def _unpack_int8("))
    code, out = eval_cli(artifact, "--data", ds.root, "--tokenizer", ds.tokenizer, "--trust-code", "--mode",
                         "standard", "--precision", "fp32", *hparams(env), "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["model"]["weights"] == "golfkit's reader"
    (standard,) = report["results"]
    assert abs(standard["val_loss"] - val_loss) < EQUAL and abs(standard["val_bpb"] - val_bpb) < EQUAL


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("folder", corpus_params(["track_10min_16mb/2026-03-17_NaiveBaseline"]))
def test_a_self_extracting_wrapper_is_decoded_then_adapted(folder, ds, tmp_path, monkeypatch):
    import base64
    import lzma

    artifact, val_loss, _, env = script_side(folder, ds, tmp_path, monkeypatch)
    payload = base64.b85encode(lzma.compress((CORPUS / folder / "train_gpt.py").read_bytes())).decode()
    (tmp_path / "train_gpt.py").write_text(f'import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("{payload}")))\n')
    code, out = eval_cli(artifact, "--data", ds.root, "--tokenizer", ds.tokenizer, "--trust-code", "--mode",
                         "standard", "--precision", "fp32", *hparams(env), "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["model"]["wrapper"] == "base85+xz"
    assert abs(report["results"][0]["val_loss"] - val_loss) < EQUAL


LOSS_ONLY = '''
import os
import torch
import torch.nn.functional as F


class Hyperparameters:
    vocab_size = int(os.environ.get("VOCAB_SIZE", 512))
    train_seq_len = int(os.environ.get("TRAIN_SEQ_LEN", 64))


class GPT(torch.nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab_size, 16)
        self.head = torch.nn.Linear(16, vocab_size, bias=False)

    def forward(self, input_ids, target_ids):
        logp = torch.log_softmax(self.head(self.emb(input_ids)).float(), dim=-1)
        return -logp.gather(-1, target_ids[..., None]).mean()
'''


@pytest.mark.slow
@needs_sandbox
def test_a_model_that_hides_its_logits_gets_one_line_naming_the_hook(ds, tmp_path):
    (tmp_path / "train_gpt.py").write_text(LOSS_ONLY)
    torch.manual_seed(0)
    state = {"emb.weight": torch.randn(VOCAB, 16), "head.weight": torch.randn(VOCAB, 16)}
    buf = io.BytesIO()
    torch.save(state, buf)
    (tmp_path / "final_model.pt.ptz").write_bytes(zlib.compress(buf.getvalue()))
    code, out = eval_cli(tmp_path / "final_model.pt.ptz", "--data", ds.root, "--tokenizer", ds.tokenizer,
                         "--trust-code", "--mode", "standard")
    assert code == 2
    (line,) = [ln for ln in out.strip().splitlines() if ln.strip()]
    assert "returns only its loss" in line and "add forward_logits(self, input_ids)" in line
    assert "Traceback" not in out


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("folder", corpus_params(["track_10min_16mb/2026-03-17_NaiveBaseline"]))
def test_rerun_in_another_precision_widens_the_tolerance_and_says_why(folder, ds, tmp_path, monkeypatch):
    rec, claim = make_record(folder, ds, tmp_path, monkeypatch)
    found = rerun_findings(rec, precision="fp32")
    (metrics,) = found["rerun.metrics"]
    precision = metrics.evidence["precision"]
    assert precision["record"] == "bf16" and precision["rerun"] == "fp32" and precision["tolerance"] == 1e-3
    assert "float32 and bf16 autocast differ" in precision["why"] and precision["why"] in metrics.message
    off = abs(metrics.evidence["results"]["standard"]["val_bpb"] - claim["val_bpb"])
    assert 1e-5 < off < 1e-3  # a real difference, which the widened tolerance accepts
    assert "rerun.val_bpb.mismatch" not in found and found["rerun.val_bpb.matched"]


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("folder", corpus_params(["track_10min_16mb/2026-03-17_NaiveBaseline"]))
def test_the_text_report_says_what_the_adapter_did(folder, ds, tmp_path, monkeypatch):
    artifact, _, _, env = script_side(folder, ds, tmp_path, monkeypatch)
    shutil.copy(CORPUS / folder / "train_gpt.py", tmp_path / "train_gpt.py")
    code, out = eval_cli(artifact, "--data", ds.root, "--tokenizer", ds.tokenizer, "--trust-code", "--mode",
                         "standard", *hparams(env))
    assert code == 0, out
    assert "precision: bf16 autocast (CUDA's policy, emulated on cpu)" in out  # auto: the script evaluates in bf16
    assert ("adapter: logits from the logits forward(input_ids, target_ids) passes to F.cross_entropy; weights by "
            "dequantize_state_dict_int8() of the script; dtypes .bfloat16()") in out
