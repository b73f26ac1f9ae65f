"""`golfkit build --fit`: per-matrix schemes chosen by calibration loss under a byte budget.

The model is the example record's size, random-init (its calibration loss is ~30 nats: byte budgets and
files are asserted here, never loss improvements). Speed: torch runs on one thread (two spin against
each other on a shared CPU), every fit reads 1,024 calibration tokens and codes with `--codec ans`, and
`golfkit.packing.fit.tensor_options` (sizing 23 candidate schemes for every matrix, most of a fit's time)
is memoised on the exact contents of its inputs (name, codec, candidates, the tensor's bytes and its
Fisher's bytes), so that only the first fit of the module pays for it; everything else runs for real.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_no_crash, assert_usage_error
from click.testing import CliRunner

import golfkit.packing.fit as fit_mod
from golfkit.artifact.container import read_artifact
from golfkit.cli import main
from golfkit.data.shards import write_shard
from golfkit.errors import GolfkitError
from golfkit.eval.model import GPT, ModelConfig
from golfkit.packing.calib import CALIB_TOKENS, MAX_CALIB_TOKENS, calibration_shards, load_calibration
from golfkit.packing.fit import UNITS, Option, allocate, pareto, render_fit
from golfkit.packing.gptq import applies, gptq_record
from golfkit.packing.schemes import parse_scheme, quantize

CONFIG = ModelConfig(512, 4, 128, 4, 2, 2)
FAST = ("--codec", "ans", "--calib-tokens", "1024")
PINNED = "blocks.0.mlp.fc.weight"
TIGHT, MID = 280_000, 450_000
RULES = "against the challenge's rules"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def _digest(t: torch.Tensor) -> tuple[str, tuple[int, ...], str]:
    raw = t.detach().contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes()
    return str(t.dtype), tuple(t.shape), hashlib.sha256(raw).hexdigest()


@pytest.fixture(scope="module", autouse=True)
def fast(one_thread):
    """tensor_options memoised on its inputs' contents (see the module's docstring)."""
    real, cache = fit_mod.tensor_options, {}

    def tensor_options(name, w, fisher, spec, candidates=fit_mod.CANDIDATES):
        key = (name, repr(spec), tuple(candidates), _digest(w), _digest(fisher))
        if key not in cache:
            cache[key] = real(name, w, fisher, spec, candidates)
        return list(cache[key])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fit_mod, "tensor_options", tensor_options)
        yield cache


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from golfkit.data.tokenizer import make_dataset

    out = tmp_path_factory.mktemp("fitdata") / "data"
    make_dataset(out, vocab_size=512, train_docs=3000, val_docs=100, seed=0)
    return out


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = GPT(CONFIG)
    path = tmp_path_factory.mktemp("fitckpt") / "ckpt.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    return path


def _ok_json(r) -> dict:
    assert_no_crash(r)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def _stored_as(fit_scheme: str) -> str:
    """The scheme the budget table shows for a fitted scheme: a float passthrough is "raw" (its dtype is the
    scheme), and a clip rule is not part of the stored scheme's name."""
    return "raw" if fit_scheme in ("fp16", "fp32", "bf16") else fit_scheme.split(":")[0]


# --- the shared fits -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory, ckpt, data):
    """A real build: --fit auto under a cap that binds, with --code, over an existing file with --force."""
    tmp = tmp_path_factory.mktemp("written")
    code, out = tmp / "train_gpt.py", tmp / "model.gk"
    code.write_text("print('hi')\n" * 100)
    out.write_bytes(b"an older artifact")
    r = run("build", "--checkpoint", ckpt, "--fit", "--calib", data, *FAST, "--code", code, "--cap", 500_000,
            "-o", out, "--force", "--json")
    return {"out": out, "json": _ok_json(r), "code": code}


@pytest.fixture(scope="module")
def tight(tmp_path_factory, ckpt, data):
    """A dry run at a tight budget (written with a thousands separator), -o given: nothing may be written."""
    tmp = tmp_path_factory.mktemp("tight")
    out = tmp / "model.gk"
    r = run("build", "--checkpoint", ckpt, "--fit", f"{TIGHT:,}", "--calib", data, *FAST, "--dry-run", "--json",
            "-o", out)
    return {"json": _ok_json(r), "tmp": tmp}


@pytest.fixture(scope="module")
def pinned(ckpt, data):
    """Through the Python API: a mid budget with one matrix pinned by a --scheme rule."""
    from golfkit.packing.run import BuildOptions, run_build

    options = BuildOptions(checkpoint=ckpt, schemes=(f"{PINNED}=int8_row",), codec="ans", dry_run=True,
                           fit=str(MID), calib=data, calib_tokens=1024)
    return run_build(options)


@pytest.fixture(scope="module")
def explained(ckpt, data):
    r = run("build", "--checkpoint", ckpt, "--fit", MID, "--calib", data, *FAST, "--explain", "--dry-run", "--json")
    return _ok_json(r)


@pytest.fixture(scope="module")
def plan(ckpt, data):
    """The fit's measurements, made directly (golfkit.packing.fit.prepare), for the allocation's edges."""
    from safetensors.torch import load_file

    from golfkit.packing.arch import header_meta
    from golfkit.packing.part_codecs import parse_codec

    state = load_file(ckpt)
    meta = header_meta(state, ckpt, None, {}).meta
    calib = load_calibration(data, CONFIG.vocab_size, 1024, 1024)
    return fit_mod.prepare(state, CONFIG, calib, [], parse_codec("ans"), meta, 256, "artifact")


# --- 1. the budget is never exceeded -------------------------------------------------------------------


@pytest.mark.parametrize("which", ["tight", "mid", "auto"])
def test_the_model_bytes_never_exceed_the_budget(which, request):
    if which == "tight":
        b = request.getfixturevalue("tight")["json"]
        assert b["fit"]["budget_bytes"] == TIGHT
    elif which == "mid":
        report = request.getfixturevalue("pinned").fit
        b = {"model_bytes": report.model_bytes, "fit": report.to_json()}
        assert b["fit"]["budget_bytes"] == MID
    else:
        b = request.getfixturevalue("written")["json"]
    fit = b["fit"]
    assert b["model_bytes"] == fit["model_bytes"] <= fit["budget_bytes"]
    # and spends it (build_fit stops re-solving within 0.1% or 256 bytes; 2% leaves room for its last try)
    assert fit["model_bytes"] >= 0.98 * fit["budget_bytes"]


def test_auto_budget_is_the_cap_minus_the_code_and_the_total_fits_the_cap(written):
    b = written["json"]
    assert b["cap"] == 500_000 and b["code_bytes"] == 1200
    assert b["total_bytes"] == b["code_bytes"] + b["loader_bytes"] + b["model_bytes"] <= b["cap"]
    assert b["headroom_bytes"] >= 0
    # the budget is the cap less the code (and room for a decoder): it binds, and it is spent
    assert b["fit"]["budget_bytes"] <= b["cap"] - b["code_bytes"] - b["loader_bytes"]
    assert b["fit"]["budget_bytes"] >= b["cap"] - b["code_bytes"] - 5_000
    assert b["model_bytes"] >= 0.98 * b["fit"]["budget_bytes"]


def test_a_budget_no_allocation_fits_is_refused_and_nothing_is_written(tmp_path, ckpt, data):
    out = tmp_path / "m.gk"
    line = assert_usage_error(run("build", "--checkpoint", ckpt, "--fit", "10000", "--calib", data, *FAST, "-o", out),
                              "no allocation fits 10,000 model bytes")
    assert "raise the budget" in line
    assert list(tmp_path.iterdir()) == []


def test_a_tight_budget_of_260000_is_met(tmp_path, ckpt, data):
    b = _ok_json(run("build", "--checkpoint", ckpt, "--fit", "260000", "--calib", data, *FAST, "--dry-run", "--json"))
    assert b["model_bytes"] <= 260_000


def _cheapest_build_bytes(plan) -> int:
    from golfkit.packing.pipeline import build_in_memory

    cheapest = {n: min(o, key=lambda o: o.bytes).scheme for n, o in plan.options.items()}
    built = build_in_memory(plan.state, plan.rules + fit_mod.fit_rules(cheapest), plan.spec, plan.meta,
                            plan.min_numel, plan.where)
    return built.budget.model_bytes


# The first estimate of the bytes beside the fitted matrices once counted small parts raw and one by one (12,224
# bytes here, 1,395 in the file) and refused budgets the all-cheapest allocation fits; now the cheapest is built
# to learn the real remainder before a budget is refused.
def test_a_budget_the_cheapest_allocation_fits_is_not_refused(plan):
    budget = _cheapest_build_bytes(plan) + 1_000  # every fitted matrix at its cheapest option fits this
    built, _, _ = fit_mod.build_fit(plan, budget)
    assert built.budget.model_bytes <= budget


def test_every_fitted_matrix_has_a_sensitivity(plan):
    # a matrix the Fisher's hooks never saw would look free to quantize (every option predicted 0)
    assert set(plan.fisher) == set(plan.names) and len(plan.names) == 25
    for name, f in plan.fisher.items():
        assert torch.isfinite(f).all() and (f >= 0).all() and float(f.sum()) > 0, name
    assert math.isfinite(plan.float_loss)


def test_the_all_cheapest_build_is_quietly_accepted_well_above_the_estimates(plan):
    # the quiet side of the refusal: a budget above the (over-)estimate of the cheapest allocation builds
    cheapest = sum(min(o.bytes for o in opts) for opts in plan.options.values()) + fit_mod._fixed_estimate(plan)
    built, choice, builds = fit_mod.build_fit(plan, cheapest + 1_000)
    assert built.budget.model_bytes <= cheapest + 1_000 and set(choice) == set(plan.names) and 1 <= builds <= 5


# --- 2. validation shards are refused ------------------------------------------------------------------


def _val_only(tmp: Path, data: Path) -> Path:
    folder = tmp / "valonly"
    folder.mkdir()
    (folder / "fineweb_val_000000.bin").write_bytes((data / "fineweb_val_000000.bin").read_bytes())
    (folder / "tokenizer.model").write_bytes((data / "tokenizer.model").read_bytes())
    return folder


def _twin(tmp: Path, data: Path) -> Path:
    folder = tmp / "twin"
    folder.mkdir()
    val = (data / "fineweb_val_000000.bin").read_bytes()
    (folder / "fineweb_val_000000.bin").write_bytes(val)
    (folder / "fineweb_train_000000.bin").write_bytes(val)
    (folder / "tokenizer.model").write_bytes((data / "tokenizer.model").read_bytes())
    return folder


@pytest.mark.parametrize("case", ["only val shards", "the val shard file", "a train-named copy of the val shard",
                                  "the copy given as a file"])
def test_validation_shards_are_refused(tmp_path, ckpt, data, case):
    if case == "only val shards":
        calib, want = _val_only(tmp_path, data), "only validation shards"
    elif case == "the val shard file":
        calib, want = data / "fineweb_val_000000.bin", "a validation shard"
    elif case == "a train-named copy of the val shard":
        calib, want = _twin(tmp_path, data), "are those of the validation shard fineweb_val_000000.bin"
    else:
        calib, want = _twin(tmp_path, data) / "fineweb_train_000000.bin", "are those of the validation shard"
    out = tmp_path / "m.gk"
    line = assert_usage_error(run("build", "--checkpoint", ckpt, "--fit", "--calib", calib, *FAST, "-o", out), want)
    assert "validation" in line and RULES in line
    assert not out.exists()
    with pytest.raises(GolfkitError, match="validation"):
        calibration_shards(calib)


def test_training_shards_are_accepted_beside_the_validation_shard(data):
    assert (data / "fineweb_val_000000.bin").is_file()
    assert calibration_shards(data) == sorted(data.glob("fineweb_train_*.bin"))
    shard = data / "fineweb_train_000000.bin"
    assert calibration_shards(shard) == [shard]


# --- 3. the reported bytes are the file's --------------------------------------------------------------


def test_the_written_file_is_the_reported_bytes_and_holds_the_fitted_schemes(written, ckpt):
    from safetensors.torch import load_file

    b, out = written["json"], written["out"]
    assert out.stat().st_size == b["model_bytes"] == b["fit"]["model_bytes"]
    assert b.get("artifact") == str(out)
    budget_rows = {t["name"]: t for t in b["tensors"]}
    fit_rows = b["fit"]["tensors"]
    assert {r["name"] for r in fit_rows} == {n for n in budget_rows if n.endswith(".weight")} and len(fit_rows) == 25
    for row in fit_rows:
        assert budget_rows[row["name"]]["scheme"] == _stored_as(row["scheme"]), row
        assert budget_rows[row["name"]]["bytes"] == row["bytes"]
    # the file decodes, and each fitted matrix is stored in its scheme's parts: the scales exactly as the scheme
    # quantizes, the values too unless GPTQ compensated them (then within the scheme's range)
    art = read_artifact(out)
    state = load_file(ckpt)
    records = {t.name: t for t in art.tensors}
    assert set(records) == set(state)
    compensated = 0
    for row in fit_rows:
        scheme = parse_scheme(row["scheme"])
        expect = quantize(row["name"], state[row["name"]], scheme)
        got = records[row["name"]]
        assert got.scheme == expect.scheme and set(got.parts) == set(expect.parts)
        for role, part in expect.parts.items():
            assert got.parts[role].dtype == part.dtype and got.parts[role].shape == part.shape
            if role == "q" and b["fit"]["gptq"] and applies(scheme, state[row["name"]]):
                assert int(got.parts[role].abs().max()) <= (1 << (scheme.bits - 1)) - 1
                compensated += not torch.equal(got.parts[role], part)
            else:
                assert torch.equal(got.parts[role], part), (row["name"], role)
    assert b["fit"]["gptq"] == (compensated > 0)


def test_inspect_reads_the_written_artifact(written):
    r = run("inspect", written["out"], "--json", "--code", written["code"])
    b = _ok_json(r)
    assert b["model_bytes"] == written["json"]["model_bytes"]
    assert b["total_bytes"] == written["json"]["total_bytes"]


def test_force_overwrote_the_older_file(written):
    assert not written["out"].read_bytes().startswith(b"an older artifact")


@pytest.mark.parametrize("explain", [False, True])
def test_an_existing_output_is_refused_without_force(tmp_path, ckpt, data, explain):
    out = tmp_path / "m.gk"
    out.write_bytes(b"keep me")
    started = time.perf_counter()
    assert_usage_error(run("build", "--checkpoint", ckpt, "--fit", "--calib", data, *FAST, "-o", out,
                           *(["--explain"] if explain else [])),
                       "already exists; pass --force")
    assert out.read_bytes() == b"keep me"
    # refused before the calibration's work (with --explain: before eleven builds), not after it
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("name", ["fineweb_val.bin", "val.bin", "validation_0.bin"])
def test_validation_shards_named_otherwise_are_refused_as_a_file(tmp_path, data, name):
    shard = tmp_path / name
    shard.write_bytes((data / "fineweb_val_000000.bin").read_bytes())
    with pytest.raises(GolfkitError, match="a validation shard"):
        calibration_shards(shard)


# --- 4. errors: exit 2, one line, no traceback, nothing written ---------------------------------------


def _refused(tmp_path: Path, ckpt, *args, want: str) -> str:
    out = tmp_path / "m.gk"
    line = assert_usage_error(run("build", "--checkpoint", ckpt, *args, "-o", out), want)
    assert not out.exists()
    return line


@pytest.mark.parametrize(("args", "want"), [
    (("--fit",), "--fit needs a calibration set: --calib DIR"),
    (("--fit", "500000"), "--fit needs a calibration set"),
    (("--fit", "abc", "--calib", "DATA"), "--fit 'abc': give the model's bytes"),
    (("--fit", "0", "--calib", "DATA"), "--fit 0: the model's bytes must be positive"),
    (("--fit", "--calib", "DATA", "--emit-loader"), "--emit-loader prints a decoder only"),
    (("--calib", "DATA"), "--calib is the calibration set of --fit"),
    (("--fit", "--calib", "DATA", "--calib-tokens", "0"), "--calib-tokens 0: give 1 to"),
    (("--fit", "--calib", "NOWHERE"), "no such file or folder"),
    (("--fit", "--calib", "DATA", "--scheme", "*=int6_row"), "--fit has no matrix to choose for"),
    (("--fit", "--calib", "DATA", "--min-numel", "1000000"), "none is larger than --min-numel"),
])
def test_bad_fit_options_are_clear_errors(tmp_path, ckpt, data, args, want):
    args = [str(data) if a == "DATA" else str(tmp_path / "nowhere") if a == "NOWHERE" else a for a in args]
    _refused(tmp_path, ckpt, *args, *FAST[:2], want=want)


def test_a_negative_fit_is_refused_by_the_option_parser(tmp_path, ckpt, data):
    # click reads "-5" after an option whose value is optional as an option of its own: a usage error
    # (exit 2, click's usage lines), not a fit with a negative budget
    out = tmp_path / "m.gk"
    r = run("build", "--checkpoint", ckpt, "--fit", "-5", "--calib", data, *FAST, "-o", out)
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit) and "'-5'" in r.output
    assert not out.exists()


def test_fit_bytes_parses_auto_and_numbers():
    from golfkit.packing.cli import _fit_bytes

    assert _fit_bytes(None) is None
    assert _fit_bytes("auto") == _fit_bytes(" AUTO ") == "auto"
    assert _fit_bytes("15,000,000") == _fit_bytes("15_000_000") == "15000000"
    for bad in ("abc", "0", "-1", "1.5e6", ""):
        with pytest.raises(GolfkitError, match="--fit"):
            _fit_bytes(bad)


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path, data):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.randn(300, 300)}, path)
    line = _refused(tmp_path, path, "--fit", "--calib", data, *FAST, want="another architecture")
    assert "--scheme" in line


def test_tokens_outside_the_vocabulary_are_refused(tmp_path, ckpt):
    calib = tmp_path / "calib"
    calib.mkdir()
    tokens = np.arange(3000, dtype=np.int64) % 500
    tokens[500] = 600  # within the first window: what is read is checked
    write_shard(calib / "fineweb_train_000000.bin", tokens)
    _refused(tmp_path, ckpt, "--fit", "--calib", calib, *FAST, want="token 600 is outside the model's vocabulary of 512")


def test_a_tokenizer_of_another_vocabulary_beside_the_shards_is_refused(tmp_path, ckpt, data):
    from golfkit.data.tokenizer import make_dataset

    other = tmp_path / "other"
    make_dataset(other, vocab_size=384, train_docs=300, val_docs=10, seed=1)
    calib = tmp_path / "calib"
    calib.mkdir()
    (calib / "tokenizer.model").write_bytes((other / "tokenizer.model").read_bytes())
    (calib / "fineweb_train_000000.bin").write_bytes((data / "fineweb_train_000000.bin").read_bytes())
    _refused(tmp_path, ckpt, "--fit", "--calib", calib, *FAST, want="tokenizer has 384 pieces but VOCAB_SIZE is 512")


def test_fewer_tokens_than_one_window_are_refused(tmp_path, ckpt):
    calib = tmp_path / "calib"
    calib.mkdir()
    write_shard(calib / "fineweb_train_000000.bin", np.arange(10))
    _refused(tmp_path, ckpt, "--fit", "--calib", calib, *FAST, want="10 tokens is less than one window of 1,025")


# --- 5. --scheme rules pin matrices --------------------------------------------------------------------


def test_a_scheme_rule_pins_its_matrix(pinned):
    report, budget = pinned.fit, pinned.built.budget
    assert report.pinned == [PINNED] and report.to_json()["pinned"] == [PINNED]
    assert PINNED not in {r.name for r in report.rows} and len(report.rows) == 24
    assert {t.name: t.scheme for t in budget.tensors}[PINNED] == "int8_row"
    assert "pinned by --scheme (not fitted): 1 matrices" in render_fit(report)


def test_without_rules_nothing_is_pinned(tight):
    fit = tight["json"]["fit"]
    assert fit["pinned"] == [] and PINNED in {r["name"] for r in fit["tensors"]}


# --- 6. --dry-run, --json and --explain ---------------------------------------------------------------


def test_dry_run_writes_nothing(tight):
    assert list(tight["tmp"].iterdir()) == []


def test_the_json_fit_object(tight):
    b = tight["json"]
    fit = b["fit"]
    for key in ("budget_bytes", "model_bytes", "float_loss", "loss", "predicted_increase", "tensors", "pinned",
                "calib_tokens", "builds"):
        assert key in fit, key
    assert fit["calib_tokens"] == 1024 and 1 <= fit["builds"] <= 5
    assert math.isfinite(fit["float_loss"]) and math.isfinite(fit["loss"])
    assert fit["increase"] == pytest.approx(fit["loss"] - fit["float_loss"])
    assert fit["predicted_increase"] == pytest.approx(sum(t["predicted_increase"] for t in fit["tensors"]))
    for t in fit["tensors"]:
        assert t["predicted_increase"] >= 0 and isinstance(t["measured_increase"], float), t
        assert t["scheme"] in fit_mod.CANDIDATES
    assert fit["trade"] == []  # only with --explain


def test_the_text_report(tmp_path, ckpt, data):
    # the text form of a fit: the budget table, then the fit's own report
    r = run("build", "--checkpoint", ckpt, "--fit", "400000", "--calib", data, *FAST, "--dry-run")
    assert_no_crash(r)
    assert r.exit_code == 0, r.output
    assert "fit: " in r.output and "-byte budget" in r.output and "calibration loss: float" in r.output
    assert "round trip: every part decoded exactly" in r.output and "trade:" not in r.output


def test_explain_compares_the_fit_with_uniform_bits_and_the_hand_policy(explained):
    trade = {p["policy"]: p for p in explained["fit"]["trade"]}
    refs = [f"uniform int{b}" for b in (5, 6, 7, 8)] + ["hand (PR #99 style)"]
    for label in refs:
        assert label in trade, sorted(trade)
        at = trade.get(f"--fit at {label}'s bytes")
        assert at is not None, sorted(trade)
        assert at["model_bytes"] <= trade[label]["model_bytes"], label
    assert trade["--fit at the budget"]["model_bytes"] == explained["model_bytes"]
    assert [p["model_bytes"] for p in (trade[f"uniform int{b}"] for b in (5, 6, 7, 8))] == sorted(
        p["model_bytes"] for p in (trade[f"uniform int{b}"] for b in (5, 6, 7, 8)))


# --- 7. allocate and pareto ----------------------------------------------------------------------------


def _brute(options: dict[str, list[Option]], budget: int) -> float | None:
    """The least total predicted loss over every combination whose bytes, rounded up to allocate's units,
    fit the budget in those units."""
    unit = max(1, math.ceil(budget / UNITS))
    best = None
    for combo in itertools.product(*options.values()):
        if sum(math.ceil(o.bytes / unit) for o in combo) <= budget // unit:
            total = sum(o.predicted for o in combo)
            best = total if best is None else min(best, total)
    return best


def _instance(rng: random.Random, scale: int) -> dict[str, list[Option]]:
    return {f"m{i}": [Option(f"s{k}", rng.randint(1, scale), rng.random()) for k in range(rng.randint(2, 4))]
            for i in range(rng.randint(3, 5))}


@pytest.mark.parametrize("scale", [300, 40_000, 2_000_000])
def test_allocate_is_the_brute_force_optimum(scale):
    rng = random.Random(scale)
    for _ in range(60):
        options = _instance(rng, scale)
        lo = sum(min(o.bytes for o in opts) for opts in options.values())
        hi = sum(max(o.bytes for o in opts) for opts in options.values())
        if rng.random() < 0.5:
            budget = rng.randint(max(1, lo - scale // 10), hi + scale // 10)
        else:  # at the edge of a combination's bytes, where rounding decides
            combo = [rng.choice(opts) for opts in options.values()]
            budget = max(1, sum(o.bytes for o in combo) + rng.randint(-3, 3))
        want = _brute(options, budget)
        got = allocate(options, budget)
        if want is None:
            assert got is None, (options, budget)
            continue
        assert got is not None and list(got) == list(options), (options, budget)
        assert all(got[n] in options[n] for n in options)
        assert sum(o.bytes for o in got.values()) <= budget
        assert sum(o.predicted for o in got.values()) == pytest.approx(want, abs=1e-12), (options, budget)


def test_allocate_is_exact_when_bytes_are_whole_units():
    rng = random.Random(7)
    for _ in range(40):
        budget = rng.randint(100_000, 3_000_000)
        unit = math.ceil(budget / UNITS)
        options = {f"m{i}": [Option(f"s{k}", unit * rng.randint(1, 4 * UNITS // 5), rng.random())
                             for k in range(rng.randint(2, 4))] for i in range(rng.randint(3, 5))}
        exact = [sum(o.predicted for o in c) for c in itertools.product(*options.values())
                 if sum(o.bytes for o in c) <= budget]
        got = allocate(options, budget)
        if not exact:
            assert got is None
            continue
        assert sum(o.bytes for o in got.values()) <= budget
        assert sum(o.predicted for o in got.values()) == pytest.approx(min(exact), abs=1e-12)


def test_allocate_edges():
    assert allocate({}, 1000) == {}
    assert allocate({}, 0) == {}
    options = {"a": [Option("int4_row", 600, 0.5), Option("int8_row", 900, 0.1)],
               "b": [Option("int4_row", 500, 0.4), Option("int8_row", 800, 0.2)]}
    assert allocate(options, 1099) is None  # the cheapest take 1,100
    assert allocate(options, 0) is None
    assert {n: o.scheme for n, o in allocate(options, 1100).items()} == {"a": "int4_row", "b": "int4_row"}
    assert {n: o.scheme for n, o in allocate(options, 1400).items()} == {"a": "int8_row", "b": "int4_row"}
    assert {n: o.scheme for n, o in allocate(options, 1700).items()} == {"a": "int8_row", "b": "int8_row"}
    assert allocate({"a": []}, 1000) is None
    assert allocate({"a": [Option("fp16", 1000, 0.0)]}, 1000) == {"a": Option("fp16", 1000, 0.0)}  # exactly
    # bytes count rounded up to units of budget / 20,000 (2 bytes here), never down: 40,002 > 40,000
    assert allocate({"a": [Option("int4_row", 20_001, 0.0)], "b": [Option("int4_row", 20_001, 0.0)]}, 40_000) is None


def test_pareto_drops_dominated_options():
    a, b, c = Option("int4_row", 100, 0.9), Option("int6_row", 150, 0.3), Option("int5_g64", 160, 0.5)
    d, e = Option("int8_row", 200, 0.1), Option("fp16", 200, 0.2)
    assert pareto([c, d, a, e, b]) == [a, b, d]  # c: more bytes and more loss than b; e: than d
    assert pareto([a]) == [a] and pareto([]) == []
    same = Option("int4_g64", 100, 0.9)
    assert len(pareto([a, same])) == 1  # equal on both: one is kept
    assert pareto([Option("x", 100, 0.5), Option("y", 120, 0.5)]) == [Option("x", 100, 0.5)]


def test_pareto_keeps_exactly_the_undominated_options_of_random_sets():
    rng = random.Random(3)
    for _ in range(50):
        opts = [Option(f"s{k}", rng.randint(1, 50), rng.randint(0, 50) / 10) for k in range(rng.randint(1, 12))]
        pairs = {(o.bytes, o.predicted) for o in opts}
        undominated = {p for p in pairs if not any(q != p and q[0] <= p[0] and q[1] <= p[1] for q in pairs)}
        kept = pareto(opts)
        assert all(o in opts for o in kept)
        assert sorted((o.bytes, o.predicted) for o in kept) == sorted(undominated), (opts, kept)
        assert [o.bytes for o in kept] == sorted(o.bytes for o in kept)


# --- 8. the calibration set ----------------------------------------------------------------------------


@pytest.mark.parametrize(("tokens", "seq_len"), [(1, 256), (1500, 256), (1024, 1024), (2048, 512)])
def test_load_calibration_reads_whole_windows_and_only_those(data, monkeypatch, tokens, seq_len):
    read = []
    real = np.fromfile

    def spy(*args, **kwargs):
        arr = real(*args, **kwargs)
        read.append(arr.size)
        return arr

    monkeypatch.setattr(np, "fromfile", spy)
    calib = load_calibration(data, 512, seq_len, tokens)
    windows = math.ceil(tokens / seq_len)
    assert calib.tokens == windows * seq_len and tuple(calib.inputs.shape) == (windows, seq_len)
    assert sum(read) == windows * seq_len + 1
    stream = real(data / "fineweb_train_000000.bin", dtype="<u2", count=windows * seq_len + 1, offset=1024)
    assert torch.equal(calib.inputs.flatten(), torch.from_numpy(stream[:-1].astype(np.int64)))
    assert torch.equal(calib.targets.flatten(), torch.from_numpy(stream[1:].astype(np.int64)))


def test_load_calibration_spans_shards_and_stops_reading(tmp_path):
    calib_dir = tmp_path / "calib"
    calib_dir.mkdir()
    write_shard(calib_dir / "fineweb_train_000000.bin", np.arange(300) % 500)
    write_shard(calib_dir / "fineweb_train_000001.bin", np.arange(300, 600) % 500)
    write_shard(calib_dir / "fineweb_train_000002.bin", np.full(300, 999))  # never read: not needed
    calib = load_calibration(calib_dir, 512, 256, 512)
    assert calib.tokens == 512 and len(calib.shards) == 3
    assert torch.equal(calib.inputs.flatten(), torch.arange(512) % 500)
    assert torch.equal(calib.targets.flatten(), torch.arange(1, 513) % 500)
    with pytest.raises(GolfkitError, match="token 999 is outside"):
        load_calibration(calib_dir, 512, 256, 768)  # needs the third shard


@pytest.mark.parametrize("tokens", [0, -1, MAX_CALIB_TOKENS + 1])
def test_load_calibration_refuses_a_token_count_out_of_range(data, tokens):
    with pytest.raises(GolfkitError, match=f"--calib-tokens {tokens:,}: give 1 to"):
        load_calibration(data, 512, 1024, tokens)


def test_the_default_token_count_is_accepted(data):
    calib = load_calibration(data, 512, 1024)
    assert calib.tokens == CALIB_TOKENS and calib.subset(4096).tokens == 4096


# --- the per-matrix measurement re-runs only the blocks from the changed one ----------------------------


def test_the_block_cache_gives_the_full_forwards_loss_for_every_matrix():
    from golfkit.packing.calib import Calibration, calibration_loss
    from golfkit.packing.fit import BlockCache

    torch.manual_seed(0)
    model = GPT(ModelConfig(512, 5, 128, 4, 2, 2)).eval()  # odd depth: a decoder block without a skip
    tokens = torch.randint(0, 512, (4 * 64 + 1,))
    calib = Calibration("t", (), tokens[:-1].view(4, 64), tokens[1:].view(4, 64))
    cache = BlockCache(model, calib)
    base = cache.loss("")
    assert base == calibration_loss(model, calib)
    params = dict(model.named_parameters())
    for name in [n for n in params if n.endswith(".weight") and params[n].dim() == 2]:
        with torch.no_grad():
            kept = params[name].clone()
            params[name].add_(torch.randn_like(kept) * kept.std())  # not a scale: q and k are RMS-normed
            changed, full = cache.loss(name), calibration_loss(model, calib)
            params[name].copy_(kept)
        assert changed == pytest.approx(full, rel=1e-6, abs=1e-6), name
        assert changed != base, name  # the change is seen: the cache does not replay the old stream



# --- GPTQ: the chosen integer schemes, compensated, kept only when it pays --------------------------------


def _correlated_inputs(cols: int, n: int = 4096, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(cols, cols, generator=g) / cols**0.5 + torch.eye(cols)
    return torch.randn(n, cols, generator=g) @ mix  # inputs whose features are correlated, as activations are


@pytest.mark.parametrize("text", ["int4_row", "int5_row:std4", "int4_g32"])
def test_gptq_lowers_the_output_error_in_the_schemes_own_parts(text):
    torch.manual_seed(1)
    w, x = torch.randn(48, 64) * 0.05, _correlated_inputs(64)
    h, scheme = x.T @ x, parse_scheme(text)
    rounded, compensated = quantize("w", w, scheme), gptq_record("w", w, scheme, h)
    assert compensated.scheme == rounded.scheme and set(compensated.parts) == set(rounded.parts)
    assert torch.equal(compensated.parts["scale"], rounded.parts["scale"])
    assert compensated.parts["q"].dtype == torch.int8 and compensated.parts["q"].shape == rounded.parts["q"].shape

    def output_error(rec) -> float:
        return float(((rec.dequantize().float() - w) @ x.T).square().sum())

    assert output_error(compensated) < 0.8 * output_error(rounded)


def test_gptq_with_uncorrelated_inputs_is_rounding_to_nearest():
    # the quiet case: a diagonal H spreads no error to other columns
    torch.manual_seed(2)
    w = torch.randn(32, 64) * 0.05
    scheme = parse_scheme("int5_row")
    h = torch.diag(torch.rand(64) + 0.5)
    assert torch.equal(gptq_record("w", w, scheme, h).parts["q"], quantize("w", w, scheme).parts["q"])


def test_gptq_survives_dead_inputs_and_refuses_a_broken_hessian():
    torch.manual_seed(3)
    w, x = torch.randn(16, 32), _correlated_inputs(32)
    x[:, 5] = 0  # an input that is always zero
    rec = gptq_record("w", w, parse_scheme("int6_row"), x.T @ x)
    assert rec is not None and torch.isfinite(rec.dequantize()).all()
    assert gptq_record("w", w, parse_scheme("int6_row"), torch.full((32, 32), float("nan"))) is None
    assert not applies(parse_scheme("int8_row"), w)  # the version-1 int8 reader's files keep its rounding
    assert not applies(parse_scheme("fp16"), w) and applies(parse_scheme("int8_row:std6"), w)


def test_gptq_is_kept_when_it_lowers_the_calibration_loss(written):
    fit = written["json"]["fit"]
    assert fit["rounded_loss"] is not None
    assert fit["gptq"] == (fit["loss"] < fit["rounded_loss"])


def test_gptq_that_does_not_pay_is_dropped_and_the_file_rounds_to_nearest(ckpt, data, monkeypatch):
    import golfkit.packing.run as run_mod
    from golfkit.packing.run import BuildOptions, run_build

    # a calibration set on which rounding to nearest measures lower than anything compensated can
    monkeypatch.setattr(run_mod, "rounded_loss", lambda plan, built: -1.0)
    run = run_build(BuildOptions(checkpoint=ckpt, codec="ans", dry_run=True, fit=str(MID), calib=data,
                                 calib_tokens=1024))
    assert run.fit.gptq is False and run.fit.rounded_loss == -1.0
    assert "no lower: built without" in fit_mod.render_fit(run.fit)
    state = _load(ckpt)
    for rec in run.built.artifact.tensors:
        a = next(a for a in run.built.assignments if a.name == rec.name)
        assert torch.equal(rec.parts.get("q", torch.zeros(0)), quantize(a.name, state[a.name], a.scheme).parts.get(
            "q", torch.zeros(0))), rec.name


def test_no_gptq_builds_rounding_to_nearest_and_says_nothing_of_it(ckpt, data):
    r = run("build", "--checkpoint", ckpt, "--fit", str(MID), "--calib", data, *FAST, "--no-gptq", "--dry-run",
            "--json")
    fit = _ok_json(r)["fit"]
    assert fit["gptq"] is False and fit["rounded_loss"] is None


def _load(ckpt):
    from safetensors.torch import load_file

    return load_file(ckpt)


def test_codec_best_corrects_with_ans_and_writes_best_within_the_budget(ckpt, data):
    r = run("build", "--checkpoint", ckpt, "--fit", str(MID), "--calib", data, "--codec", "best",
            "--calib-tokens", "1024", "--dry-run", "--json")
    b = _ok_json(r)
    assert 0.98 * MID <= b["model_bytes"] <= MID
    assert any(t["coding"] != "outer" for t in b["tensors"])  # best's per-part codings, not a whole-file zstd
