"""The byte total a metric implies (compared with the validation variants of `golfkit.facts`)."""

from __future__ import annotations

from decimal import Decimal, getcontext

from golfkit.verify.evidence import Number

LN2 = Decimal(2).ln(getcontext())


def implied_bytes(val_loss: Number, val_bpb: Number, tokens: int) -> tuple[Decimal, Decimal]:
    """`val_loss / ln 2 * tokens / val_bpb` and its uncertainty from the printed decimals (+1 byte)."""
    total = val_loss.value / LN2 * tokens / val_bpb.value
    relative = val_loss.half_unit / abs(val_loss.value) + val_bpb.half_unit / abs(val_bpb.value)
    return total, abs(total) * relative + 1
