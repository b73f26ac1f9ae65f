"""The two CUDA faults of `golfkit eval` (issue 15), checked on a CPU-only machine: the device is chosen by
index, and the windows are built on the device the model runs on."""

from __future__ import annotations

import numpy as np
import torch

from golfkit.data.token_bytes import TokenByteTable
from golfkit.eval import evaluate as ev
from golfkit.eval.windows import sliding_windows


def test_a_bare_cuda_device_gets_an_index_before_set_device(monkeypatch):
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", lambda dev: chosen.append(dev))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    for asked in ("cuda", None):
        dist = ev.init_distributed(asked)
        assert dist.device == torch.device("cuda", 0)
    assert chosen == [torch.device("cuda", 0)] * 2  # never the index-less device that set_device refuses
    assert ev.init_distributed("cuda:0").device == torch.device("cuda", 0)


def test_windows_are_built_on_the_device_the_loss_function_names():
    seen = []

    def nll(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        seen.append((inputs.device.type, targets.device.type))
        return torch.ones(targets.shape)

    nll.device = torch.device("meta")  # a device other than the CPU default, without a GPU
    stream = np.arange(65, dtype=np.uint16) % 7
    table = TokenByteTable(np.ones(7, np.int64), np.zeros(7, bool), np.zeros(7, bool))
    result = ev.evaluate(stream, table, sliding_windows(64, 16, 8), nll, mode="sliding", seq_len=16, stride=8,
                         progress=False)
    assert seen and set(seen) == {("meta", "meta")}
    assert result.tokens == 64
