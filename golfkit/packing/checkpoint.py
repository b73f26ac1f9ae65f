"""Read a float checkpoint as data: `torch.load(weights_only=True)` or safetensors, never code."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from golfkit.artifact.record_formats import needed_global
from golfkit.errors import GolfkitError

# Wrappers that training scripts commonly save around the state dict.
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module")


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict {name: tensor} from a .pt/.pth (weights only) or .safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise GolfkitError(f"{path}: no such checkpoint file")
    head = path.open("rb").read(16)
    if path.suffix == ".safetensors" or (len(head) > 9 and head[8:9] == b"{"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except (SafetensorError, OSError, ValueError) as exc:
            raise GolfkitError(f"{path}: not a readable safetensors file ({exc})") from None
    if head[:4] != b"PK\x03\x04" and head[:1] != b"\x80":
        raise GolfkitError(f"{path}: not a torch checkpoint (neither a torch.save zip nor a pickle)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise GolfkitError(
            f"{path}: this pickle needs code to load ({needed_global(exc)}); golfkit loads weights only. "
            "Save a plain state dict: torch.save(model.state_dict(), path)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise GolfkitError(f"{path}: not a torch checkpoint ({str(exc).splitlines()[0][:160]})") from None
    return as_state_dict(obj, str(path))


def as_state_dict(obj: object, where: str) -> dict[str, torch.Tensor]:
    """Unwrap {"state_dict": ...}-style wrappers; insist on a flat {str: tensor} dict."""
    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, dict) or not obj:
        raise GolfkitError(f"{where}: not a state dict (got {type(obj).__name__}); save model.state_dict()")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise GolfkitError(
            f"{where}: not a state dict: entry {bad[0]!r} is not a named tensor; save model.state_dict()"
        )
    return {k: v.detach().cpu() for k, v in obj.items()}
