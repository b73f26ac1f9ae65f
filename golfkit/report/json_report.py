"""`{"records": [{"path", "verdict", "findings": [...], "claims": {...}, "measured": {...}}]}`."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from golfkit.report import RecordReport


def _plain(value: Any) -> Any:
    """Decimals become JSON numbers; non-finite floats become null (JSON has no infinity)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def render(reports: list[RecordReport]) -> str:
    return json.dumps({"records": [_plain(r.to_json()) for r in reports]}, indent=2, default=str) + "\n"
