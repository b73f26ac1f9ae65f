"""`golfkit new`: a record folder whose numbers all come from the logs and files given."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from cli_helpers import assert_usage_error
from click.testing import CliRunner

from golfkit.author import new_record as new_module
from golfkit.author.new_record import dump_json, new_record
from golfkit.cli import main
from golfkit.errors import GolfkitError
from golfkit.schema import schema_errors

TRACK = "track_non_record_16mb"
CODE = b"print('the script that ran')\n" * 40


LN2 = Decimal("0.693147180559945309417232121458")


def bpb_of(loss: str, tokens: int, val_bytes: int) -> str:
    """The val_bpb that a loss implies for `tokens` targets holding `val_bytes` bytes, 8 decimals."""
    return f"{Decimal(loss) / LN2 * tokens / val_bytes:.8f}"


def write_log(path: Path, seed: int, *, loss: str, code: bytes, model_bytes: int, bpb: str | None = None,
              steps: int = 200, traceback: bool = False, tokens: int = 4096, val_bytes: int = 16384) -> Path:
    """A log in the reference trainer's layout: the script's source, `=` rules, header, runtime lines.
    val_bpb is derived from val_loss, tokens and val_bytes unless given."""
    bpb = bpb or bpb_of(loss, tokens, val_bytes)
    rule = "=" * 100
    lines = [
        code.decode().rstrip("\n"), rule,
        "Running Python 3.11.9", "Running PyTorch 2.13.0+cpu",
        "cpu: Test CPU cores:2 torch_threads:1", rule,
        "val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path=tokenizer.model",
        f"val_loader:shards pattern=data/fineweb_val_*.bin tokens:{tokens}",
        "model_params:123456",
        "train_batch_tokens:8192 train_seq_len:256 iterations:200 warmup_steps:0 max_wallclock_seconds:120",
        f"seed:{seed}",
    ]
    for step in range(0, steps + 1, 50):
        lines.append(f"step:{step}/{steps} train_loss:{6 - step / 100:.4f} train_time:{step * 300}ms step_avg:300.00ms")
        lines.append(f"step:{step}/{steps} val_loss:{5 - step / 100:.4f} val_bpb:{3 - step / 200:.4f} "
                     f"train_time:{step * 300}ms step_avg:300.00ms")
    if traceback:
        lines += ["Traceback (most recent call last):", '  File "train_gpt.py", line 1', "RuntimeError: boom"]
    else:
        roundtrip_loss = f"{Decimal(loss) + Decimal('0.01'):.8f}"
        roundtrip_bpb = bpb_of(roundtrip_loss, tokens, val_bytes)
        lines += [
            "Serialized model: 900000 bytes",
            f"Code size: {len(code)} bytes",
            f"Total submission size: {900000 + len(code)} bytes",
            f"Serialized model int8+zstd: {model_bytes} bytes (payload:300000 raw:900000 payload_ratio:3.00x)",
            f"Total submission size int8+zstd: {model_bytes + len(code)} bytes",
            (f"final_int8_zstd_roundtrip val_loss:{Decimal(roundtrip_loss):.4f} val_bpb:{Decimal(roundtrip_bpb):.4f} "
            "eval_time:1000ms"),
            f"final_int8_zstd_roundtrip_exact val_loss:{roundtrip_loss} val_bpb:{roundtrip_bpb}",
            (f"final_sliding_window val_loss:{Decimal(loss):.4f} val_bpb:{Decimal(bpb):.4f} stride:64 "
             "seq_len:256 eval_time:2000ms"),
            f"final_sliding_window_exact val_loss:{loss} val_bpb:{bpb}",
            "total_eval_time:3.0s",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


SEEDS = {1337: ("1.41000001", "2.31000000", 250_001), 42: ("1.42000002", "2.32000000", 250_002),
         2025: ("1.43000003", "2.33000000", 250_003)}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A finished three-seed run: logs, artifacts of the logged sizes, the script."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "train_gpt.py").write_bytes(CODE)
    for seed, (bpb, loss, model) in SEEDS.items():
        write_log(run / f"train_seed{seed}.log", seed, bpb=bpb, loss=loss, code=CODE, model_bytes=model)
        (run / f"final_model_seed{seed}.int8.ptz").write_bytes(bytes(model))
    return run


def make(run: Path, tmp_path: Path, **kw):
    folder = tmp_path / "records" / TRACK / "2026-05-01_tiny_run"
    args = {
        "code": [run / "train_gpt.py"],
        "artifacts": sorted(run.glob("*.ptz")),
        "author": "Ada",
        "github_id": "ada",
        "with_plot": False,
    }
    args.update(kw)
    logs = args.pop("logs", [run / f"train_seed{s}.log" for s in SEEDS])
    return new_record(folder, logs, **args)


def test_submission_numbers_come_from_the_logs(run_dir: Path, tmp_path: Path):
    record = make(run_dir, tmp_path)
    written = json.loads((record.path / "submission.json").read_text(), parse_float=Decimal)
    assert written["val_bpb"] == Decimal("1.42000002")
    assert str(written["val_bpb"]) == "1.42000002"
    assert written["val_loss"] == Decimal("2.32000000")
    assert str(written["val_loss"]) == "2.32000000"  # printed precision kept
    assert written["val_bpb_std"] == Decimal("0.01000001")
    assert written["seeds"] == [1337, 42, 2025]
    assert written["bytes_code"] == len(CODE)
    assert written["bytes_total"] == 250_003 + len(CODE)
    assert written["track"] == "non_record_16mb"
    assert written["date"] == "2026-05-01"
    assert written["name"] == "tiny run"
    assert written["hardware"] == "CPU"
    assert written["pytorch_version"] == "2.13.0+cpu"
    assert written["extra"] == {"metric": "final_sliding_window_exact"}
    seed42 = written["seed_results"]["42"]
    assert seed42 == {
        "val_bpb": Decimal("1.42000002"), "val_loss": Decimal("2.32000000"),
        "bytes_total": 250_002 + len(CODE), "steps": 200, "train_time_ms": 60000, "eval_time_ms": 3000,
        "extra": {"bytes_model": 250_002, "log": "train_seed42.log", "artifact": "final_model_seed42.int8.ptz"},
    }
    assert written["data"] == {"variant": "custom", "val_tokens": 4096}
    assert schema_errors(json.loads((record.path / "submission.json").read_text())) == []
    names = sorted(p.name for p in record.path.iterdir())
    assert names == sorted(["README.md", "submission.json", "train_gpt.py",
                            *(f"train_seed{s}.log" for s in SEEDS),
                            *(f"final_model_seed{s}.int8.ptz" for s in SEEDS)])
    assert (record.path / "train_seed42.log").read_bytes() == (run_dir / "train_seed42.log").read_bytes()


def test_readme_has_the_results_table(run_dir: Path, tmp_path: Path):
    record = make(run_dir, tmp_path)
    readme = (record.path / "README.md").read_text()
    assert "| 42 | `final_sliding_window_exact` | 2.32000000 | 1.42000002 | 200 | 60.0 s | 250,002 |" in readme
    assert "**val_bpb 1.42000002**" in readme
    assert "${" not in readme
    assert f"golfkit verify records/{TRACK}/2026-05-01_tiny_run" in readme
    assert "\n\n\n" not in readme


def test_curves_picture_is_drawn_and_linked(run_dir: Path, tmp_path: Path):
    record = make(run_dir, tmp_path, with_plot=True)
    png = record.path / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](curves.png)" in (record.path / "README.md").read_text()
    assert record.notes == []


def test_without_matplotlib_the_picture_is_skipped_with_a_note(run_dir: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(new_module.plot, "matplotlib_available", lambda: False)
    record = make(run_dir, tmp_path, with_plot=True)
    assert not (record.path / "curves.png").exists()
    assert "golfkit[plot]" in record.notes[0]
    assert "curves.png" not in (record.path / "README.md").read_text()


def test_refuses_to_overwrite(run_dir: Path, tmp_path: Path):
    record = make(run_dir, tmp_path)
    before = (record.path / "submission.json").read_bytes()
    with pytest.raises(GolfkitError, match="already exists"):
        make(run_dir, tmp_path)
    assert (record.path / "submission.json").read_bytes() == before


@pytest.mark.parametrize("folder, message", [
    (f"records/{TRACK}/2026-05-01_my idea", "whitespace"),
    (f"records/{TRACK}/idea", "YYYY-MM-DD_slug"),
    ("records/non_record/2026-05-01_idea", "track_"),
    ("records/track_speedrun/2026-05-01_idea", "10min_16mb, non_record_16mb"),
])
def test_refuses_bad_folder_paths(run_dir: Path, tmp_path: Path, folder: str, message: str):
    with pytest.raises(GolfkitError, match=message):
        new_record(tmp_path / folder, [run_dir / "train_seed42.log"], code=[run_dir / "train_gpt.py"],
                   author="a", github_id="a")
    assert not (tmp_path / folder).exists()


def test_code_that_did_not_run_is_refused(run_dir: Path, tmp_path: Path):
    (run_dir / "train_gpt.py").write_bytes(CODE + b"# edited after the run\n")
    with pytest.raises(GolfkitError, match="Code size"):
        make(run_dir, tmp_path, artifacts=[])
    assert not (tmp_path / "records" / TRACK).exists() or not any((tmp_path / "records" / TRACK).iterdir())


def test_an_artifact_no_log_describes_is_refused(run_dir: Path, tmp_path: Path):
    (run_dir / "final_model_seed42.int8.ptz").write_bytes(bytes(123))
    with pytest.raises(GolfkitError, match="no log printed that model size"):
        make(run_dir, tmp_path)


def test_a_crashed_run_is_refused(run_dir: Path, tmp_path: Path):
    write_log(run_dir / "train_seed42.log", 42, loss="2", code=CODE, model_bytes=1,
              traceback=True)
    with pytest.raises(GolfkitError, match="traceback"):
        make(run_dir, tmp_path, artifacts=[])


def test_duplicate_seeds_are_refused(run_dir: Path, tmp_path: Path):
    log = run_dir / "train_seed42.log"
    copy = run_dir / "again_seed42.log"
    copy.write_bytes(log.read_bytes())
    with pytest.raises(GolfkitError, match="seed 42 appears in 2 logs .* and no artifact given"):
        make(run_dir, tmp_path, logs=[log, copy], artifacts=[])


def test_metric_option_picks_another_final_line(run_dir: Path, tmp_path: Path):
    record = make(run_dir, tmp_path, metric_label="final_int8_zstd_roundtrip_exact")
    assert record.submission["val_loss"] == Decimal("2.33000000")
    with pytest.raises(GolfkitError, match="no final metric line 'nope'"):
        make(run_dir, tmp_path / "other", metric_label="nope")


def test_validation_bytes_counted_from_tokenizer_and_shards(run_dir: Path, tmp_path: Path):
    from golfkit.data.shards import read_shard
    from golfkit.data.tokenizer import make_dataset

    dataset = make_dataset(tmp_path / "data", vocab_size=512, train_docs=300, val_docs=20, seed=1)
    targets = read_shard(dataset.val_shard).size - 1
    for seed, (_, loss, model) in SEEDS.items():
        write_log(run_dir / f"train_seed{seed}.log", seed, loss=loss, code=CODE, model_bytes=model,
                  tokens=targets, val_bytes=dataset.val_bytes)
    record = make(run_dir, tmp_path, data_files=[dataset.tokenizer, dataset.val_shard])
    # Every target of the whole stream: the bytes are the UTF-8 length of the documents' text.
    assert record.submission["data"] == {"variant": "custom", "val_tokens": targets,
                                         "val_bytes": dataset.val_bytes, "tokenizer": "tokenizer.model"}
    assert (record.path / "tokenizer.model").is_file()
    assert (record.path / "fineweb_val_000000.bin").is_file()


def test_dump_json_keeps_decimals_as_printed():
    text = dump_json({"a": Decimal("1.08100"), "b": [1, 2], "c": {"d": "x"}, "e": Decimal("0.00000012")})
    assert json.loads(text, parse_float=Decimal) == {"a": Decimal("1.08100"), "b": [1, 2], "c": {"d": "x"},
                                                     "e": Decimal("0.00000012")}
    assert '"a": 1.08100' in text and "0.00000012" in text


def test_cli_takes_several_logs_after_one_option(run_dir: Path, tmp_path: Path):
    folder = tmp_path / "records" / TRACK / "2026-05-01_cli_run"
    logs = [str(run_dir / f"train_seed{s}.log") for s in SEEDS]
    result = CliRunner().invoke(main, ["new", str(folder), "--logs", *logs, "--code", str(run_dir / "train_gpt.py"),
                                       "--artifact", *map(str, sorted(run_dir.glob("*.ptz"))),
                                       "--author", "Ada", "--github-id", "ada", "--no-plot"])
    assert result.exit_code == 0, result.output
    assert json.loads((folder / "submission.json").read_text())["seeds"] == [1337, 42, 2025]
    assert f"PASS  {folder}" in result.output  # verified as made


def test_cli_bad_input_is_one_line_and_exit_2(run_dir: Path, tmp_path: Path):
    folder = tmp_path / "records" / TRACK / "2026-05-01_cli_run"
    folder.mkdir(parents=True)
    result = CliRunner().invoke(main, ["new", str(folder), "--logs", str(run_dir / "train_seed42.log"),
                                       "--code", str(run_dir / "train_gpt.py"), "--author", "a", "--github-id", "a"])
    assert_usage_error(result, "already exists")


def test_a_known_validation_set_is_named_from_the_logged_token_count(run_dir: Path, tmp_path: Path):
    for seed, (_, loss, model) in SEEDS.items():
        write_log(run_dir / f"train_seed{seed}.log", seed, loss=loss, code=CODE, model_bytes=model, tokens=62_021_632)
    assert make(run_dir, tmp_path).submission["data"]["variant"] == "sp1024"
    assert make(run_dir, tmp_path / "b", variant="mine").submission["data"]["variant"] == "mine"


EXAMPLE = Path(__file__).resolve().parents[1] / "records" / TRACK / "2026-11-22_golfkit_reference_cpu"


def numbers(doc, path=()):
    """(key path, value) of every number in a JSON document; `extra` blocks are read as their parent."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from numbers(value, path if key == "extra" else (*path, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from numbers(value, (*path, index))
    elif isinstance(doc, (int, Decimal)) and not isinstance(doc, bool):
        yield path, doc


@pytest.mark.skipif(not (EXAMPLE / "submission.json").is_file(), reason="example record not generated")
@pytest.mark.fires("claim.val_bpb.matched", "claim.seed_val_bpb.matched", "time.not_checked")
@pytest.mark.quiet("claim.val_bpb.not_in_logs", "claim.seed_val_bpb.not_in_log", "size.bytes_total.not_in_logs",
                   "code.bytes_code.mismatch", "data.bytes.mismatch", "submission.schema", "submission.wrong_type")
def test_new_on_the_example_run_rebuilds_its_submission_and_verifies_clean(tmp_path: Path):
    from golfkit.verify.api import verify_paths

    example = json.loads((EXAMPLE / "submission.json").read_text(), parse_float=Decimal)
    seeds = example["seeds"]
    record = new_record(
        tmp_path / "records" / TRACK / EXAMPLE.name,
        [EXAMPLE / f"train_seed{s}.log" for s in seeds],
        code=[EXAMPLE / "train_gpt.py"],
        artifacts=[EXAMPLE / f"final_model_seed{s}.int8.ptz" for s in seeds],
        data_files=[EXAMPLE / "tokenizer.model", EXAMPLE / "fineweb_val_000000.bin"],
        author=example["author"], github_id=example["github_id"], name=example["name"], blurb=example["blurb"],
    )
    made = json.loads((record.path / "submission.json").read_text(), parse_float=Decimal)
    ours = dict(numbers(made))
    theirs = dict(numbers(example))
    assert theirs, "the example's submission.json holds no numbers"
    assert {p: ours.get(p) for p in theirs} == theirs
    [report] = verify_paths([record.path])
    problems = [f"{f.id}: {f.message}" for f in report.findings if f.severity.value != "info"]
    assert report.verdict == "pass" and problems == []


@pytest.mark.parametrize("folder, seeds", [
    ("track_10min_16mb/2026-03-17_NaiveBaseline", None),
    ("track_10min_16mb/2026-03-19_MixedQuant_Int6Int8_SlidingWindow", None),
    ("track_10min_16mb/2026-04-08_SP8192_ParallelResid_ScoreFirstTTT", (42, 314, 999)),
])
def test_new_on_real_logs_reproduces_the_claims(corpus: Path, tmp_path: Path, folder: str, seeds):
    source = corpus / folder
    logs = [source / f"train_seed{s}.log" for s in seeds] if seeds else [source / "train.log"]
    record = new_record(tmp_path / "records" / "track_10min_16mb" / f"2026-01-01_{source.name.split('_', 1)[1]}",
                        logs, code=[source / "train_gpt.py"], author="a", github_id="a", with_plot=False)
    claimed = json.loads((source / "submission.json").read_text(), parse_float=Decimal)
    assert record.submission["val_bpb"] == claimed["val_bpb"]
    if "bytes_total" in claimed:
        assert record.submission["bytes_total"] == claimed["bytes_total"]
    for seed, result in claimed.get("seed_results", {}).items():
        assert record.submission["seed_results"][seed]["val_bpb"] == result["val_bpb"]
