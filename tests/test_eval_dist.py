"""Under torchrun (gloo, CPU) the windows are sharded across ranks and the sums equal one process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from _eval_fixtures import dataset, random_model, write_model


@pytest.mark.slow
def test_two_ranks_give_the_same_sums_as_one_process(tmp_path):
    ds = dataset(tmp_path / "data", val_docs=20)
    write_model(tmp_path / "model.ptz", random_model(11))
    args = ["-m", "golfkit.eval", str(tmp_path / "model.ptz"), "--data", str(ds.root), "--tokenizer",
            str(ds.tokenizer), "--stride", "16", "--batch-tokens", "512", "--device", "cpu", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, check=False)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args],
                         capture_output=True, text=True, env=env, check=False, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    single = json.loads(one.stdout)
    sharded = json.loads(two.stdout[two.stdout.index("{"):])
    assert sharded["world_size"] == 2 and single["world_size"] == 1
    for a, b in zip(single["results"], sharded["results"], strict=True):
        assert (a["tokens"], a["bytes"]) == (b["tokens"], b["bytes"])
        assert b["loss_sum"] == pytest.approx(a["loss_sum"], rel=1e-9)
