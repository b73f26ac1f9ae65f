"""Findings: what a check, a re-run or a probe says about a record. Shared by every reporter."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One statement about a record.

    `id` is stable (tests and CI configs refer to it), `message` is for a person,
    `file`/`line` point at the evidence, `evidence` holds the numbers on both sides.
    """

    id: str
    severity: Severity
    message: str
    file: str | None = None
    line: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "evidence": self.evidence,
        }


def error(id: str, message: str, **kw: Any) -> Finding:
    return Finding(id, Severity.ERROR, message, **kw)


def warning(id: str, message: str, **kw: Any) -> Finding:
    return Finding(id, Severity.WARNING, message, **kw)


def info(id: str, message: str, **kw: Any) -> Finding:
    return Finding(id, Severity.INFO, message, **kw)
