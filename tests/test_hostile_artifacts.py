"""Issue 13, the artifact readers and the writers: hostile artifacts (each file under 100 KB) and special
files refused in one line by `inspect` and `eval` (exit 2) and as a finding by `verify --rerun`; writes
that a signal interrupts leave nothing behind; every writing command refuses an existing file without
--force.

Each hostile case runs end to end in a child under tests/hostile.py (no traceback, no hang, peak RSS
under 1 GB, exit 0/1/2) and in-process (CliRunner, or the library call).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import struct
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import zstandard
from _eval_fixtures import dataset, random_model, write_model
from cli_helpers import assert_no_crash, assert_usage_error
from click.testing import CliRunner
from hostile import assert_contained, run_capped
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golfkit import writes
from golfkit.artifact.container import (
    MAGIC,
    MAX_HEADER_DEPTH,
    ContainerError,
    decode_container,
    json_depth,
    parse_header,
    read_artifact,
    write_artifact,
)
from golfkit.cli import main
from golfkit.errors import GolfkitError
from golfkit.eval.model import FAMILY, ModelConfig
from golfkit.verify.plugins.rerun import RerunOptions, rerun_record
from golfkit.verify.record import read_record

TRACK = "track_non_record_16mb"
HUGE = 1 << 40


# ---------------------------------------------------------------- hostile artifacts


def container(header: dict | bytes, data: bytes = b"", version: int = 1) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return MAGIC + bytes([version]) + struct.pack("<I", len(raw)) + raw + data


def zstd(payload: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(payload)


def raw_entry(shape, part_shape=None, nbytes=None, dtype="float32") -> dict:
    part_shape = shape if part_shape is None else part_shape
    return {"name": "w", "dtype": dtype, "shape": shape, "scheme": "raw",
            "parts": {"data": {"dtype": dtype, "shape": part_shape, "offset": 0,
                               "nbytes": 4 if nbytes is None else nbytes}}}


def _deep(n: int) -> bytes:
    return b'{"meta":' + b'{"a":' * n + b"1" + b"}" * n + b',"tensors":[]}'


def _bomb() -> bytes:
    """A 1 GiB golfkit container of zeros, zstd-compressed to about 33 KB."""
    size = 1 << 30
    header = json.dumps({"meta": {}, "tensors": [raw_entry([size], nbytes=size, dtype="uint8")]}).encode()
    compressor = zstandard.ZstdCompressor(level=1).compressobj()
    out = [compressor.compress(container(header))]
    zeros = bytes(1 << 22)
    out += [compressor.compress(zeros) for _ in range(size // len(zeros))]
    return b"".join(out) + compressor.flush()


def _stride_zero_payload() -> bytes:
    """A torch.save zip of one float whose tensor claims 2**40 values (stride 0), zstd-compressed."""
    import io

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(1).expand(HUGE)}, buf)
    return zstd(buf.getvalue())


def _deflated_zip() -> bytes:
    """A torch.save zip whose one storage is 1 GiB of zeros, deflated (torch.save stores; torch.load inflates)."""
    import io
    import zipfile

    buf, out = io.BytesIO(), io.BytesIO()
    torch.save({"w": torch.zeros(4)}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, bytes(1 << 30) if info.filename.endswith("/data/0") else src.read(info))
    return zstd(out.getvalue())


# name -> (artifact bytes, the words the one-line refusal holds)
ARTIFACT_CASES = {
    "json-nested-100k-deep": (lambda: zstd(container(b"[" * 100_000 + b"]" * 100_000)), "nests 100,000 deep"),
    "meta-nested-100k-deep": (lambda: zstd(container(_deep(100_000))), "nests 100,001 deep"),
    "shape-of-5000-digits": (lambda: zstd(container(
        b'{"tensors":[{"name":"w","dtype":"float32","shape":[' + b"9" * 5000 + b'],"scheme":"raw","parts":{}}]}')),
        "number of 5,000 characters"),
    "float-1e999999999": (lambda: zstd(container(b'{"meta":{"seed":1e999999999},"tensors":[]}')), "too large"),
    "nan-constant": (lambda: zstd(container(b'{"meta":{"seed":NaN},"tensors":[]}')), "NaN"),
    "shape-product-2**160": (lambda: zstd(container({"tensors": [raw_entry([1 << 40] * 4, nbytes=4)]})),
                             "nbytes 4 !="),
    "shape-2**40-past-the-end": (lambda: zstd(container({"tensors": [raw_entry([HUGE], nbytes=HUGE * 4)]})),
                                 "past the end"),
    "coded-part-claims-4-TiB": (lambda: zstd(container({"tensors": [{
        "name": "w", "dtype": "float32", "shape": [HUGE], "scheme": "raw", "parts": {"data": {
            "dtype": "float32", "shape": [HUGE], "offset": 0, "nbytes": 9,
            "coding": {"codec": "zstd", "layout": "row"}}}}]}, zstd(b"\0" * 16)[:9], version=2)),
        "would decode to more than"),
    "100-dimensions": (lambda: zstd(container({"tensors": [raw_entry([1] * 100)]}, b"\0" * 4)), "at most 8 sizes"),
    "dtype-a-list": (lambda: zstd(container({"tensors": [raw_entry([1], dtype=[])]}, b"\0" * 4)),
                     "unsupported dtype []"),
    "shape-of-strings": (lambda: zstd(container({"tensors": [raw_entry(["a"])]}, b"\0" * 4)), "not a list of"),
    "zstd-bomb-of-1-GiB": (_bomb, "no trained model compresses that well"),
    "torch-view-of-2**40-floats": (_stride_zero_payload, "over a storage of 4"),
    "torch-zip-deflated-1-GiB": (_deflated_zip, "zip unpacks to 1,073,74"),
}
SPECIAL_CASES = ("symlink-to-dev-zero", "fifo", "symlink-to-an-artifact", "folder")
# A well-formed artifact whose header claims a model that cannot be its tensors: inspect shows it, eval refuses.
MODEL_CASES = {"num_layers": 10**9, "model_dim": 1 << 40, "vocab_size": 10**15}
TINY = ModelConfig(vocab_size=512, num_layers=2, model_dim=32, num_heads=2, num_kv_heads=1, mlp_mult=1)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("good") / "model.ptz"
    write_model(path, random_model(0))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return dataset(tmp_path_factory.mktemp("data"), val_docs=20)


def make_artifact(folder: Path, case: str, good: Path) -> Path:
    """The hostile artifact `case` (from ARTIFACT_CASES, SPECIAL_CASES or model:KEY) as folder/model.ptz."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.ptz"
    if case in ARTIFACT_CASES:
        blob = ARTIFACT_CASES[case][0]()
        assert len(blob) < 100_000, (case, len(blob))
        path.write_bytes(blob)
    elif case == "symlink-to-dev-zero":
        path.symlink_to("/dev/zero")
    elif case == "fifo":
        os.mkfifo(path)
    elif case == "symlink-to-an-artifact":
        path.symlink_to(good)
    elif case == "folder":
        path.mkdir()
    else:
        key = case.removeprefix("model:")
        write_model(path, random_model(0, TINY))
        art = read_artifact(path)
        art.meta["model"] = {"family": FAMILY, **asdict(TINY), key: MODEL_CASES[key]}
        write_artifact(path, art, force=True)
    return path


SPECIAL_WORDS = {"symlink-to-dev-zero": "a symlink", "fifo": "not a regular file (a FIFO)",
                 "symlink-to-an-artifact": "a symlink", "folder": "a folder"}
ALL_CASES = [*ARTIFACT_CASES, *SPECIAL_CASES]


def words(case: str, command: str = "inspect") -> str:
    if command == "eval" and case.startswith("torch-"):
        return "not a golfkit container"  # eval reads golfkit containers only (--trust-code for the rest)
    return ARTIFACT_CASES[case][1] if case in ARTIFACT_CASES else SPECIAL_WORDS[case]


def eval_args(path: Path, data) -> list[str]:
    return ["eval", str(path), "--data", str(data.root), "--tokenizer", str(data.tokenizer), "--device", "cpu"]


@pytest.mark.parametrize("case", ALL_CASES)
def test_inspect_refuses_a_hostile_artifact_in_one_line(tmp_path, good, case):
    path = make_artifact(tmp_path, case, good)
    assert_usage_error(CliRunner().invoke(main, ["inspect", str(path)]), str(path), words(case))
    run = run_capped(["inspect", str(path)], timeout_s=60)
    assert_contained(run, codes=(2,))
    assert run.stderr.count("\n") == 1 and words(case) in run.stderr, run.stderr


# eval reads an artifact through read_artifact, the container path inspect takes too: in a capped child
# for the cases that stress memory or blocking (each child pays for importing torch), in-process for all.
EVAL_CAPPED = {"json-nested-100k-deep", "coded-part-claims-4-TiB", "zstd-bomb-of-1-GiB", *SPECIAL_CASES}


@pytest.mark.parametrize("case", ALL_CASES)
def test_eval_refuses_a_hostile_artifact_in_one_line(tmp_path, good, data, case):
    path = make_artifact(tmp_path, case, good)
    assert_usage_error(CliRunner().invoke(main, eval_args(path, data)), str(path), words(case, "eval"))
    if case in EVAL_CAPPED:
        run = run_capped(eval_args(path, data), timeout_s=60)
        assert_contained(run, codes=(2,))
        assert run.stderr.count("\n") == 1 and words(case, "eval") in run.stderr, run.stderr


@pytest.mark.parametrize("key", MODEL_CASES)
def test_a_header_model_larger_than_the_artifact_is_refused_before_it_is_built(tmp_path, good, data, key):
    path = make_artifact(tmp_path, f"model:{key}", good)
    assert path.stat().st_size < 100_000
    line = assert_usage_error(CliRunner().invoke(main, eval_args(path, data)), "parameters, but the artifact holds")
    assert f"{MODEL_CASES[key]:,}" in line or str(MODEL_CASES[key]) in line
    run = run_capped(eval_args(path, data), timeout_s=60)
    assert_contained(run, codes=(2,))
    assert "parameters, but the artifact holds" in run.stderr
    # inspect does not build a model: it shows the bytes
    assert CliRunner().invoke(main, ["inspect", str(path)]).exit_code == 0


def test_the_bounds_refuse_nothing_real(tmp_path, good, data):
    # the same model evaluates; its tensors match the header exactly
    r = CliRunner().invoke(main, [*eval_args(good, data), "--mode", "standard", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["results"][0]["val_bpb"] > 0
    deep_ok = {"meta": {"notes": json.loads("[" * (MAX_HEADER_DEPTH - 3) + "]" * (MAX_HEADER_DEPTH - 3))},
               "tensors": []}
    assert decode_container(container(deep_ok)).meta == deep_ok["meta"]


@pytest.mark.parametrize(("tokenizer_case", "data_case"), [("fifo", None), ("device", None), (None, "fifo")])
def test_eval_never_opens_a_fifo_or_device_as_tokenizer_or_shard(tmp_path, good, data, tokenizer_case, data_case):
    tokenizer, shards = data.tokenizer, data.root
    if tokenizer_case == "fifo":
        tokenizer = tmp_path / "tokenizer.model"
        os.mkfifo(tokenizer)
    elif tokenizer_case == "device":
        tokenizer = tmp_path / "tokenizer.model"
        tokenizer.symlink_to("/dev/zero")  # named on the command line: followed, and refused as a device
    if data_case == "fifo":
        shards = tmp_path / "shards"
        shards.mkdir()
        os.mkfifo(shards / "fineweb_val_000000.bin")
    args = ["eval", str(good), "--data", str(shards), "--tokenizer", str(tokenizer), "--device", "cpu"]
    line = assert_usage_error(CliRunner().invoke(main, args), "not a regular file")
    assert ("a FIFO" if "fifo" in (tokenizer_case, data_case) else "a device") in line
    assert_contained(run_capped(args, timeout_s=60), codes=(2,))


def hostile_record(root: Path, index: int, case: str, good: Path) -> Path:
    rec = root / TRACK / f"2026-01-{index + 1:02d}_{case.replace('*', 'x')}"
    make_artifact(rec, case, good)
    (rec / "train_gpt.py").write_text("print('hi')\n")
    (rec / "tokenizer.model").write_bytes(b"not read before the artifact")
    (rec / "fineweb_val_000000.bin").write_bytes(b"not read before the artifact")
    return rec


def _rerun_ids(rec: Path, **options) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in rerun_record(read_record(rec), RerunOptions(**options)):
        out.setdefault(f.id, []).append(f)
    return out


@pytest.mark.fires("rerun.failed")
@pytest.mark.quiet("rerun.input.not_regular")
@pytest.mark.parametrize("case", list(ARTIFACT_CASES))
def test_rerun_makes_a_hostile_artifact_a_finding(tmp_path, good, case):
    rec = hostile_record(tmp_path, 0, case, good)
    ids = _rerun_ids(rec)
    assert list(ids) == ["rerun.failed"], ids
    assert words(case, "eval") in ids["rerun.failed"][0].message


@pytest.mark.fires("rerun.input.not_regular")
@pytest.mark.quiet("rerun.failed")
@pytest.mark.parametrize("case", SPECIAL_CASES)
def test_rerun_reports_a_special_artifact_and_never_opens_it(tmp_path, good, case):
    rec = hostile_record(tmp_path, 0, case, good)
    ids = _rerun_ids(rec)
    assert list(ids) == ["rerun.input.not_regular"], ids
    assert ids["rerun.input.not_regular"][0].file == "model.ptz"


@pytest.mark.fires("rerun.input.not_regular")
@pytest.mark.parametrize("which", ["tokenizer.model", "fineweb_val_000000.bin"])
def test_rerun_never_follows_a_records_tokenizer_or_shard(tmp_path, good, which):
    rec = hostile_record(tmp_path, 0, "folder", good)
    (rec / "model.ptz").rmdir()
    (rec / "model.ptz").symlink_to(good)  # refused too: the record's artifact is never read through a link
    (rec / which).unlink()
    (rec / which).symlink_to("/dev/zero")
    ids = _rerun_ids(rec)
    assert sorted(f.file for f in ids["rerun.input.not_regular"]) == sorted(["model.ptz", which])
    assert "rerun.failed" not in ids and "rerun.metrics" not in ids


@pytest.mark.fires("rerun.failed")
@pytest.mark.quiet("rerun.input.not_regular")
def test_rerun_follows_a_tokenizer_the_reviewer_names(tmp_path, good, data):
    rec = hostile_record(tmp_path, 0, "model:num_layers", good)
    link = tmp_path / "tok.model"
    link.symlink_to(data.tokenizer)
    ids = _rerun_ids(rec, data=data.root, tokenizer=link)
    assert "parameters, but the artifact holds" in ids["rerun.failed"][0].message


def test_verify_rerun_over_every_hostile_record_in_one_capped_run(tmp_path, good):
    cases = [*ALL_CASES, *(f"model:{k}" for k in MODEL_CASES)]
    for i, case in enumerate(cases):
        hostile_record(tmp_path, i, case, good)
    run = run_capped(["verify", "--rerun", "--json", str(tmp_path)], timeout_s=300)
    assert_contained(run, codes=(1,))
    reports = json.loads(run.stdout)
    reports = reports["records"] if isinstance(reports, dict) else reports
    by_case = {Path(r["path"]).name.split("_", 1)[1]: {f["id"] for f in r["findings"]} for r in reports}
    assert len(by_case) == len(cases)
    for case in cases:
        ids = by_case[case.replace("*", "x")]
        want = "rerun.input.not_regular" if case in SPECIAL_CASES else "rerun.failed"
        assert want in ids, (case, sorted(ids))


# ---------------------------------------------------------------- the header reader, fuzzed

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(
    max_size=8)
JSON = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=6), inner, max_size=4), max_leaves=20)
FIELDS = st.sampled_from(["name", "dtype", "shape", "scheme", "parts", "offset", "nbytes", "coding", "codec",
                          "layout", "stride", "lo", "hi", "rg", "cg", "mode", "dict", "lc", "lp", "pb"])
VALUES = JSON | st.sampled_from(["float32", "int8", "uint8", "bfloat16", "raw", "int8_row", "int4_g64", "q",
                                 "scale", "data", "zstd", "zlib", "lzma", "ans", "none", "col", "shuffle"]) | \
    st.lists(st.integers(-2, 1 << 33), max_size=3) | st.integers(-1, 1 << 62)


def _entries():
    part = st.dictionaries(FIELDS, VALUES, max_size=6)
    parts = st.dictionaries(st.sampled_from(["data", "q", "scale", "x"]), part | JSON, max_size=3)
    return st.lists(st.fixed_dictionaries({}, optional={
        "name": st.text(max_size=4), "dtype": VALUES, "shape": VALUES, "scheme": VALUES, "parts": parts}),
        max_size=3)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(header=st.fixed_dictionaries({"tensors": _entries()}, optional={"meta": JSON}),
       version=st.sampled_from([1, 2]), data=st.binary(max_size=64))
def test_fuzz_the_container_header_reader(header, version, data):
    """Any header of plain JSON values: an Artifact or a ContainerError/GolfkitError, never another exception."""
    try:
        decode_container(container(header, data, version))
    except GolfkitError as exc:
        assert "\n" not in str(exc)


@settings(deadline=None, max_examples=200)
@given(raw=st.binary(max_size=200) | st.text(alphabet='[]{}":,0123456789.eE-\\ aNI', max_size=300).map(str.encode))
def test_fuzz_the_header_parser_on_raw_bytes(raw):
    try:
        parse_header(raw)
    except ContainerError as exc:
        assert "\n" not in str(exc)


@settings(deadline=None, max_examples=100)
@given(value=JSON)
def test_json_depth_is_the_nesting_of_the_value(value):
    def depth(v):
        if isinstance(v, list):
            return 1 + max(map(depth, v), default=0)
        if isinstance(v, dict):
            return 1 + max(map(depth, v.values()), default=0)
        return 0
    assert json_depth(json.dumps(value).encode()) == depth(value)


# ---------------------------------------------------------------- interrupted writes


def _checkpoint(folder: Path) -> Path:
    g = torch.Generator().manual_seed(0)
    path = folder / "ckpt.pt"
    torch.save({"tok_emb.weight": torch.randn(512, 256, generator=g), "blocks.0.mlp_scale": torch.ones(256)}, path)
    return path


def _start_paused(args: list[str], marker: Path, named: bool, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, writes.PAUSE_ENV: str(marker)}
    env.pop(writes.NAMED_ENV, None)
    if named:
        env[writes.NAMED_ENV] = "1"
    return subprocess.Popen([sys.executable, "-m", "golfkit", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(marker: Path, proc: subprocess.Popen) -> None:
    """Until the child has written its bytes and stopped before putting them in place (or has ended)."""
    deadline = time.monotonic() + 300  # a safety net for a broken child, not a timing assertion
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"golfkit ended before the write paused: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the write never paused")
        time.sleep(0.05)


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("named", [False, True], ids=["o_tmpfile", "named-temp"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["TERM", "INT", "KILL"])
@pytest.mark.parametrize("force", [False, True], ids=["new-file", "over-existing"])
def test_a_build_killed_while_it_writes_leaves_nothing_behind(tmp_path, signum, named, force):
    ckpt, out = _checkpoint(tmp_path), tmp_path / "out"
    out.mkdir()
    if force:
        (out / "model.ptz").write_bytes(b"the artifact from before")
    before = _listing(out)
    marker = tmp_path / "paused"
    args = ["build", "--checkpoint", str(ckpt), "--codec", "zstd", "-o", str(out / "model.ptz")]
    proc = _start_paused([*args, *(["--force"] if force else [])], marker, named, tmp_path)
    _wait_for(marker, proc)
    if named:  # the bytes are there under a temporary name, as a killed build used to leave them
        assert [p.name for p in out.iterdir() if p.name.endswith(writes.TMP_SUFFIX)]
    proc.send_signal(signum)
    _, err = proc.communicate()
    if signum == signal.SIGINT:  # a KeyboardInterrupt, which click ends as "Aborted!" with status 1
        assert proc.returncode == 1 and err.decode().strip() == "Aborted!", err.decode()
    else:  # ended by the signal, as without golfkit's handlers
        assert proc.returncode == -signum
    if named and signum == signal.SIGKILL:
        # a SIGKILL cannot be caught: the temporary file stays until the next write of the same name
        (left,) = [p for p in out.iterdir() if p.name.endswith(writes.TMP_SUFFIX)]
        assert left.stat().st_size > 100_000
        r = CliRunner().invoke(main, [*args, "--force"])
        assert r.exit_code == 0, r.output
        assert sorted(p.name for p in out.iterdir()) == ["model.ptz"]
    else:
        assert _listing(out) == before


def test_new_killed_while_it_writes_leaves_no_staging_folder(tmp_path):
    from test_new import CODE, SEEDS, write_log

    run = tmp_path / "run"
    run.mkdir()
    (run / "train_gpt.py").write_bytes(CODE)
    seed, (bpb, loss, model) = next(iter(SEEDS.items()))
    write_log(run / f"train_seed{seed}.log", seed, bpb=bpb, loss=loss, code=CODE, model_bytes=model)
    records = tmp_path / "records" / TRACK
    records.mkdir(parents=True)
    args = ["new", str(records / "2026-05-01_tiny"), "--logs", str(run / f"train_seed{seed}.log"), "--code",
            str(run / "train_gpt.py"), "--author", "Ada", "--github-id", "ada", "--no-plot"]
    marker = tmp_path / "paused"
    proc = _start_paused(args, marker, True, tmp_path)
    _wait_for(marker, proc)
    assert [p.name for p in records.iterdir()] == [".2026-05-01_tiny.golfkit-new"]
    proc.send_signal(signal.SIGTERM)
    proc.communicate()
    assert proc.returncode == -signal.SIGTERM
    assert list(records.iterdir()) == []


def test_write_file_is_whole_or_nothing_and_never_clobbers(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    assert writes.write_file(target, b"one") == 3 and target.read_bytes() == b"one"
    with pytest.raises(GolfkitError, match="already exists; pass --force"):
        writes.write_file(target, b"two")
    assert target.read_bytes() == b"one"
    writes.write_file(target, "two", force=True)
    assert target.read_text() == "two"
    # a name that appears between the check and the link is not clobbered
    monkeypatch.setattr(writes, "refuse_existing", lambda *a, **k: None)
    with pytest.raises(GolfkitError, match="appeared while it was being written"):
        writes.write_file(target, b"three")
    monkeypatch.setenv(writes.NAMED_ENV, "1")
    with pytest.raises(GolfkitError, match="appeared while it was being written"):
        writes.write_file(target, b"three")
    assert target.read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_write_file_replaces_a_symlink_not_its_target_and_never_a_folder(tmp_path):
    real, link = tmp_path / "real.txt", tmp_path / "link.txt"
    real.write_text("mine")
    link.symlink_to(real)
    with pytest.raises(GolfkitError, match="already exists"):
        writes.write_file(link, "new")
    writes.write_file(link, "new", force=True)
    assert real.read_text() == "mine" and not link.is_symlink() and link.read_text() == "new"
    (tmp_path / "dir").mkdir()
    with pytest.raises(GolfkitError, match="a folder is in the way"):
        writes.write_file(tmp_path / "dir", "x", force=True)
    with pytest.raises(GolfkitError, match="no such folder"):
        writes.write_file(tmp_path / "missing" / "x", "x")


def test_stale_temporaries_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    stale = tmp_path / f".a.ptz.{dead}{writes.TMP_SUFFIX}"
    live = tmp_path / f".a.ptz.{os.getppid()}{writes.TMP_SUFFIX}"
    other = tmp_path / f".b.ptz.{dead}{writes.TMP_SUFFIX}"
    for p in (stale, live, other):
        p.write_bytes(b"x")
    assert writes.remove_stale(tmp_path, "a.ptz") == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])


def test_signals_interrupt_restores_the_handlers_it_found():
    before = {s: signal.getsignal(s) for s in writes.CAUGHT_SIGNALS}
    with writes.signals_interrupt():
        assert all(signal.getsignal(s) is not before[s] for s in writes.CAUGHT_SIGNALS)
    assert {s: signal.getsignal(s) for s in writes.CAUGHT_SIGNALS} == before
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda s, f: seen.append(s))
    try:
        with pytest.raises(writes.Interrupted), writes.signals_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs at once; this line is not reached
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIGTERM]  # delivered again to the handler that was there


# ---------------------------------------------------------------- --force on every command that writes

SCRIPT = "import os\n\ndef main():\n    print(os.getcwd())\n\nmain()\n"


def _wrapper(tmp_path: Path) -> Path:
    import base64
    import lzma

    path = tmp_path / "wrapped.py"
    payload = base64.b85encode(lzma.compress(SCRIPT.encode())).decode()
    path.write_text(f"import lzma as L,base64 as B\nexec(L.decompress(B.b85decode({payload!r})))\n")
    return path


def _plot_record(tmp_path: Path) -> Path:
    from test_new import CODE, write_log

    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "train_gpt.py").write_bytes(CODE)
    write_log(rec / "train_seed1.log", 1, loss="2.3", code=CODE, model_bytes=1000)
    return rec


def _writing_commands(tmp_path: Path) -> dict[str, tuple[list[str], Path]]:
    script = tmp_path / "train_gpt.py"
    script.write_text(SCRIPT)
    ckpt = _checkpoint(tmp_path)
    rec = _plot_record(tmp_path)
    wrapped = _wrapper(tmp_path)
    return {
        "build -o": (["build", "--checkpoint", str(ckpt), "--codec", "zstd", "-o", str(tmp_path / "m.ptz")],
                     tmp_path / "m.ptz"),
        "minify -o": (["minify", str(script), "--codecs", "stdlib", "-o", str(tmp_path / "out.py")],
                      tmp_path / "out.py"),
        "minify (default output)": (["minify", str(script), "--codecs", "stdlib"], tmp_path / "train_gpt.min.py"),
        "unwrap -o": (["unwrap", str(wrapped), "-o", str(tmp_path / "plain.py")], tmp_path / "plain.py"),
        "plot --out": (["plot", str(rec), "--out", str(tmp_path / "c.png")], tmp_path / "c.png"),
    }


COMMANDS = ["build -o", "minify -o", "minify (default output)", "unwrap -o", "plot --out"]  # plot has no default


@pytest.mark.parametrize("command", COMMANDS)
def test_every_writing_command_refuses_an_existing_file_without_force(tmp_path, command):
    if command.startswith("plot"):
        pytest.importorskip("matplotlib")
    args, target = _writing_commands(tmp_path)[command]
    target.write_bytes(b"the person's own file")
    assert_usage_error(CliRunner().invoke(main, args), str(target), "already exists; pass --force")
    assert target.read_bytes() == b"the person's own file"
    r = CliRunner().invoke(main, [*args, "--force"])
    assert_no_crash(r)
    assert r.exit_code == 0, r.output
    assert target.read_bytes() != b"the person's own file"
    assert not [p for p in target.parent.iterdir() if p.name.endswith(writes.TMP_SUFFIX)]


@pytest.mark.parametrize("command", ["minify -o", "unwrap -o"])
def test_force_never_overwrites_the_input(tmp_path, command):
    args, _ = _writing_commands(tmp_path)[command]
    source = Path(args[1])
    before = source.read_bytes()
    args = [*args[:-1], str(source), "--force"]
    assert_usage_error(CliRunner().invoke(main, args), "refusing to overwrite the input")
    assert source.read_bytes() == before


def test_a_refused_write_runs_capped_and_leaves_the_file(tmp_path):
    args, target = _writing_commands(tmp_path)["unwrap -o"]
    target.write_bytes(b"mine")
    run = run_capped(args, timeout_s=60)
    assert_contained(run, codes=(2,))
    assert "already exists" in run.stderr and target.read_bytes() == b"mine"


def test_a_fifo_is_never_written_or_replaced_even_with_force(tmp_path):
    args, target = _writing_commands(tmp_path)["unwrap -o"]
    os.mkfifo(target)
    assert_usage_error(CliRunner().invoke(main, [*args, "--force"]), "not a regular file")
    assert stat.S_ISFIFO(target.lstat().st_mode)
