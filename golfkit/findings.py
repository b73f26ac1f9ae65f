"""Findings: what a check, a re-run or a probe says about a record. Shared by every reporter.

Every id golfkit can emit is declared once, with its severity and a line saying when it fires, in
`golfkit/finding_ids.toml` (`CATALOG`). `python -m golfkit.findings --markdown` prints it as a table.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


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

    def __post_init__(self) -> None:
        for observe in OBSERVERS:
            observe(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "evidence": self.evidence,
        }


# Called with every Finding created (tests record them to hold each id to the catalog); empty in use.
OBSERVERS: list[Callable[[Finding], None]] = []


def error(id: str, message: str, **kw: Any) -> Finding:
    return Finding(id, Severity.ERROR, message, **kw)


def warning(id: str, message: str, **kw: Any) -> Finding:
    return Finding(id, Severity.WARNING, message, **kw)


def info(id: str, message: str, **kw: Any) -> Finding:
    return Finding(id, Severity.INFO, message, **kw)


@dataclass(frozen=True)
class IdSpec:
    """One declared finding id: its severity and, in a line, when it fires."""

    id: str
    severity: Severity
    what: str


CATALOG_FILE = "finding_ids.toml"
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def parse_catalog(text: str) -> dict[str, IdSpec]:
    """The id table of a catalog file's text. Raises ValueError for an entry that is not well formed."""
    catalog: dict[str, IdSpec] = {}
    for ident, entry in tomllib.loads(text).items():
        if not ID_PATTERN.match(ident):
            raise ValueError(f"{CATALOG_FILE}: {ident!r} is not a dotted lower-case id")
        if not isinstance(entry, dict) or set(entry) != {"severity", "what"}:
            raise ValueError(f"{CATALOG_FILE}: {ident} needs exactly `severity` and `what`")
        if entry["severity"] not in {s.value for s in Severity}:
            raise ValueError(f"{CATALOG_FILE}: {ident} has severity {entry['severity']!r}; "
                             "use error, warning or info")
        what = entry["what"]
        if not isinstance(what, str) or not what.strip() or "\n" in what:
            raise ValueError(f"{CATALOG_FILE}: {ident} needs `what`: one line saying when it fires")
        catalog[ident] = IdSpec(ident, Severity(entry["severity"]), what)
    return catalog


@functools.cache
def load_catalog() -> dict[str, IdSpec]:
    """Every finding id golfkit can emit (read once from the package's finding_ids.toml)."""
    return parse_catalog(resources.files("golfkit").joinpath(CATALOG_FILE).read_text(encoding="utf-8"))


def __getattr__(name: str) -> Any:
    # `CATALOG` is read on first use, not when golfkit is imported.
    if name == "CATALOG":
        return load_catalog()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def markdown_table(prefixes: Iterable[str] = ()) -> str:
    """The catalog's ids under `prefixes` (`log` or `log.` takes log.*, `log.copy` that id; all when none)
    as a Markdown table."""
    heads = [p.rstrip(".") for p in prefixes]
    rows = ["| id | severity | fires when |", "|---|---|---|"]
    rows += [f"| `{spec.id}` | {spec.severity.value} | {spec.what} |" for spec in load_catalog().values()
             if not heads or any(spec.id == h or spec.id.startswith(h + ".") for h in heads)]
    return "\n".join(rows) + "\n"


# A generated block: `<!-- finding-ids:start PREFIX... -->` table `<!-- finding-ids:end -->`.
DOC_BLOCK = re.compile(r"(<!-- finding-ids:start(?P<prefixes>[^>]*?)-->\n)(?P<table>.*?)(<!-- finding-ids:end -->)",
                       re.DOTALL)


def update_doc(text: str) -> str:
    """`text` (a Markdown document) with the table of every finding-ids block regenerated."""
    def table(match: re.Match[str]) -> str:
        return match.group(1) + markdown_table(match["prefixes"].split()) + match.group(4)

    return DOC_BLOCK.sub(table, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m golfkit.findings",
                                     description="Print or write the table of golfkit's finding ids.")
    parser.add_argument("--markdown", nargs="*", metavar="PREFIX",
                        help="print the ids starting with PREFIX (all when none) as a Markdown table")
    parser.add_argument("--update", metavar="DOC", type=Path,
                        help="regenerate the tables between <!-- finding-ids:start --> and <!-- finding-ids:end -->")
    args = parser.parse_args(argv)
    if args.update is not None:
        text = args.update.read_text(encoding="utf-8")
        args.update.write_text(update_doc(text), encoding="utf-8")
    elif args.markdown is not None:
        print(markdown_table(args.markdown), end="")
    else:
        parser.print_usage()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
