"""Read the claims a README.md makes: headline numbers, per-seed tables, what the headline is.

A README is text a person wrote, so this reads only shapes real records use and keeps every number
as printed (`Number`: value and decimals) to compare at its own precision:
- headlines: the title and the first lines (`**val_bpb = 1.0822** (3-seed mean, std 0.0005)`,
  `# Record: ... — val_bpb 1.08563`, `1.1239 BPB`, `2.33674 nats`), with the words in parentheses
  (which say whether the number is a mean of N seeds: `3-seed mean`, `mean of three seeds`);
- tables with a `Seed` column: each row's metric columns (bpb, loss, nats, sliding, TTT, quant) and byte
  columns (artifact, total, code, model); a `Mean` / `avg` row is kept apart;
- a record claim: the title (first heading) or the submission's name says "Record", not "non-record".
Nothing here raises on content: at most MAX_LINES lines of MAX_LINE_CHARS characters are read, at most
MAX_HEADLINES headlines, MAX_TABLES tables and MAX_ROWS rows a table are kept, and no pattern backtracks
over a line (a table's separator row is checked by its set of characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import InvalidOperation

from golfkit.verify.evidence import Number

MAX_LINES = 5000
MAX_LINE_CHARS = 2000
HEAD_LINES = 6  # non-blank lines at the top read for headline numbers (besides headings)
MAX_HEADLINES = 20  # real READMEs have at most a few; a README of thousands of headings is not read further
MAX_TABLES = 20
MAX_ROWS = 200  # per table: real seed tables have at most ten rows

NUMBER = r"(\d{1,3}\.\d{1,12})"
BPB_AFTER_NAME = re.compile(r"\bval[ _]?bpb\b\W{0,6}?" + NUMBER)
BPB_BEFORE_UNIT = re.compile(NUMBER + r"\**\s*(?:BPB|bpb)\b")
NATS = re.compile(NUMBER + r"\**\s*nats\b")
LOSS_AFTER_NAME = re.compile(r"\bval[ _]?loss\b\W{0,6}?" + NUMBER)
QUALIFIER = re.compile(r"^\**\s*\(([^()]{1,120})\)")
WORD_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "ten": 10}
COUNT = r"(\d{1,2}|two|three|four|five|six|seven|eight|ten)"
MEAN_OF = re.compile(COUNT + r"[- ]seeds?\s+(?:mean|avg|average)|(?:mean|average|avg)\s+(?:of|over|across)\s+"
                     + COUNT + r"\s+(?:seeds|runs)", re.IGNORECASE)
MEAN_WORD = re.compile(r"\b(?:mean|average|avg)\b", re.IGNORECASE)
RECORD_WORD = re.compile(r"\brecord\b", re.IGNORECASE)
NOT_RECORD = re.compile(r"non[- _]?record|unlimited|notable", re.IGNORECASE)
SEPARATOR_CHARS = frozenset("|-: ")  # a table's separator row: `|---|:--:|` (checked by set, not a regex)
BYTES_CELL = re.compile(r"^(\d{1,3}(?:,\d{3})+|\d{4,12})\s*(?:B|bytes)?$")
METRIC_CELL = re.compile(r"^[+-]?\d{1,3}\.\d{1,12}$")
SEED_CELL = re.compile(r"[0-9]{1,12}")  # ASCII digits only (str.isdigit takes `²`, which int() refuses)
MEAN_ROW = {"mean", "avg", "average", "avg.", "mean:"}


@dataclass(frozen=True)
class Headline:
    """A headline number: `unit` val_bpb or val_loss, `qualifier` the words in parentheses after it."""

    number: Number
    unit: str
    line: int
    qualifier: str
    text: str

    @property
    def mean_of(self) -> int | None:
        """N when the qualifier says the number is an N-seed mean, 0 for a mean of an unstated count."""
        return mean_count(self.qualifier)


@dataclass(frozen=True)
class Cell:
    """A number of a seed table: `kind` val_bpb, val_loss, metric (bpb or loss), total, code or model."""

    column: str
    kind: str
    number: Number | None = None
    bytes: int | None = None


@dataclass
class SeedRow:
    seed: int
    line: int
    cells: list[Cell]


@dataclass
class SeedTable:
    line: int
    columns: list[str]
    rows: list[SeedRow] = field(default_factory=list)
    mean: SeedRow | None = None  # the Mean / avg row (seed -1)


@dataclass
class Readme:
    headlines: list[Headline] = field(default_factory=list)
    tables: list[SeedTable] = field(default_factory=list)
    title: str | None = None
    title_line: int | None = None

    @property
    def claims_record(self) -> bool:
        """The title says this is a record (and not a non-record submission)."""
        return bool(self.title and RECORD_WORD.search(self.title) and not NOT_RECORD.search(self.title))


def mean_count(text: str) -> int | None:
    """N when `text` says "N-seed mean" or "mean of N seeds", 0 for "mean" alone, None otherwise."""
    found = MEAN_OF.search(text)
    if found:
        word = (found.group(1) or found.group(2)).lower()
        return WORD_NUMBERS.get(word) or int(word)
    return 0 if MEAN_WORD.search(text) else None


def parse_readme(text: str) -> Readme:
    """The claims of a README's text (see the module doc)."""
    lines = [line[:MAX_LINE_CHARS] for line in text.split("\n")[:MAX_LINES]]
    readme = Readme()
    _headings_and_head(lines, readme)
    _tables(lines, readme)
    return readme


def _plain(line: str) -> str:
    """A line without Markdown emphasis and backslash escapes (`MLP\\_MULT`, `**1.0822**`)."""
    return line.replace("\\_", "_").replace("\\", "").replace("**", "").replace("__", "")


def _headings_and_head(lines: list[str], readme: Readme) -> None:
    seen = 0
    in_code = False
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code or not line.strip():
            continue
        heading = line.lstrip().startswith("#")
        if heading and readme.title is None:
            readme.title, readme.title_line = _plain(line).lstrip("# ").strip()[:300], number
        seen += 1
        if (heading or seen <= HEAD_LINES) and len(readme.headlines) < MAX_HEADLINES:
            readme.headlines.extend(_headline_numbers(line, number)[:MAX_HEADLINES - len(readme.headlines)])
        if seen > HEAD_LINES and readme.title is not None:
            break


def _headline_numbers(line: str, number: int) -> list[Headline]:
    plain = line.replace("\\_", "_")
    found: list[Headline] = []
    taken: set[int] = set()
    for pattern, unit in ((BPB_AFTER_NAME, "val_bpb"), (BPB_BEFORE_UNIT, "val_bpb"), (NATS, "val_loss"),
                          (LOSS_AFTER_NAME, "val_loss")):
        for match in pattern.finditer(plain):
            start = match.start(1)
            if start in taken:
                continue
            taken.add(start)
            qualifier = QUALIFIER.match(plain[match.end():].lstrip(" *"))
            found.append(Headline(Number.parse(match.group(1)), unit, number,
                                  qualifier.group(1).strip() if qualifier else "", _plain(line).strip()[:200]))
    return found


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner.removeprefix("|")
    inner = inner.removesuffix("|")
    return [cell.strip() for cell in inner.split("|")]


def _column_kind(header: str) -> str | None:
    h = _plain(header).lower()
    if "seed" in h and len(h) <= 8:
        return "seed"
    if any(word in h for word in ("time", "steps", "step", "ms", "delta", "gap", "std")):
        return None
    if "code" in h:
        return "code"
    if "model" in h and "bpb" not in h:
        return "model"
    if any(word in h for word in ("artifact", "total", "bytes", "size")):
        return "total"
    if "loss" in h or "nats" in h:
        return "val_loss"
    if "bpb" in h:
        return "val_bpb"
    if any(word in h for word in ("sliding", "ttt", "roundtrip", "quant", "score")):
        return "metric"
    return None


def _tables(lines: list[str], readme: Readme) -> None:
    index = 0
    while index + 1 < len(lines):
        header, separator = lines[index], lines[index + 1]
        if "|" in header and "-" in separator and set(separator.strip()) <= SEPARATOR_CHARS:
            columns = _cells(header)
            kinds = [_column_kind(c) for c in columns]
            table = SeedTable(index + 1, columns)
            index += 2
            while index < len(lines) and "|" in lines[index]:
                if len(table.rows) < MAX_ROWS:
                    _row(lines[index], index + 1, columns, kinds, table)
                index += 1
            if "seed" in kinds and table.rows and len(readme.tables) < MAX_TABLES:
                readme.tables.append(table)
            continue
        index += 1


def _row(line: str, number: int, columns: list[str], kinds: list[str | None], table: SeedTable) -> None:
    values = _cells(line)
    if "seed" not in kinds or len(values) != len(columns):
        return
    seed_text = _plain(values[kinds.index("seed")]).strip()
    if seed_text.lower() in MEAN_ROW:
        seed = -1
    elif SEED_CELL.fullmatch(seed_text):
        seed = int(seed_text)
    else:
        return
    cells = []
    for column, kind, value in zip(columns, kinds, values):
        if kind in (None, "seed"):
            continue
        cell = _cell(column, kind, _plain(value).strip())
        if cell is not None:
            cells.append(cell)
    row = SeedRow(seed, number, cells)
    if seed == -1:
        table.mean = row
    else:
        table.rows.append(row)


def _cell(column: str, kind: str, text: str) -> Cell | None:
    if kind in ("total", "code", "model"):
        found = BYTES_CELL.match(text)
        return Cell(column, kind, bytes=int(found.group(1).replace(",", ""))) if found else None
    if METRIC_CELL.match(text):
        try:
            return Cell(column, kind, number=Number.parse(text))
        except (InvalidOperation, ValueError, ArithmeticError):
            return None
    return None
