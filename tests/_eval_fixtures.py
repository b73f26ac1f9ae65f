"""Synthetic inputs shared by the tests of `golfkit eval` (tests/test_eval*.py)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from golfkit.artifact import write_artifact
from golfkit.artifact.quantize import quantize_state_dict
from golfkit.data.tokenizer import make_dataset
from golfkit.eval.model import FAMILY, GPT, ModelConfig

VOCAB = 512
TRAIN_SEQ_LEN = 64
CONFIG = ModelConfig(vocab_size=VOCAB, num_layers=3, model_dim=64, num_heads=4, num_kv_heads=2, mlp_mult=2)


def dataset(root: Path, val_docs: int = 60):
    return make_dataset(root, VOCAB, train_docs=1500, val_docs=val_docs, seed=0)


def random_model(seed: int, config: ModelConfig = CONFIG) -> GPT:
    """A model with random weights large enough that its losses depend on the seed."""
    torch.manual_seed(seed)
    model = GPT(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and "skip" not in name and "resid_mix" not in name:
                p.normal_(0, 0.08)
            else:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def write_model(path: Path, model: GPT, meta_extra: dict | None = None, with_model_meta: bool = True) -> int:
    meta = {"train_seq_len": TRAIN_SEQ_LEN, **(meta_extra or {})}
    if with_model_meta:
        meta["model"] = {"family": FAMILY, **asdict(model.cfg)}
    return write_artifact(path, quantize_state_dict(model.state_dict(), meta, min_numel=4096), force=True)
