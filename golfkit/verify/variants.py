"""The validation variants manifest (golfkit/data/variants.json) and the byte total a metric implies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, getcontext
from functools import lru_cache
from importlib import resources

from golfkit.verify.evidence import Number

LN2 = Decimal(2).ln(getcontext())


@dataclass(frozen=True)
class Variant:
    name: str
    val_tokens: int
    val_bytes: int | None
    source: str = "manifest"


@lru_cache(maxsize=1)
def known_variants() -> tuple[Variant, ...]:
    """The variants of golfkit/data/variants.json."""
    text = resources.files("golfkit.data").joinpath("variants.json").read_text(encoding="utf-8")
    return tuple(Variant(v["name"], v["val_tokens"], v["val_bytes"]) for v in json.loads(text)["variants"])


def variant_for_tokens(tokens: int) -> Variant | None:
    return next((v for v in known_variants() if v.val_tokens == tokens), None)


def implied_bytes(val_loss: Number, val_bpb: Number, tokens: int) -> tuple[Decimal, Decimal]:
    """`val_loss / ln 2 * tokens / val_bpb` and its uncertainty from the printed decimals (+1 byte)."""
    total = val_loss.value / LN2 * tokens / val_bpb.value
    half = Decimal("0.5")
    relative = half.scaleb(-val_loss.places) / abs(val_loss.value) + half.scaleb(-val_bpb.places) / abs(val_bpb.value)
    return total, abs(total) * relative + 1
