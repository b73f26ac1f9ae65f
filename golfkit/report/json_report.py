"""`{"notices": [...], "records": [{"path", "verdict", "findings": [...], "claims": {...}, "measured": {...},
"notices": [...]}]}`.

Strings stay exact: JSON's own escaping (control characters as `\\u001b`, non-ASCII as `\\uXXXX`) is
all a consumer needs. The top-level `notices` is the union of the records' notices (each once, in
order), always present; each record also carries its own `notices`.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from golfkit.report import RecordReport, notices


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
    document = {"notices": notices(reports), "records": [_plain(r.to_json()) for r in reports]}
    return json.dumps(document, indent=2, default=str) + "\n"
