"""What a record folder says, read once into plain data. Checks look only at these objects.

Numbers that a person typed or a script printed are kept as `Number`: the Decimal value and the
count of decimals it was printed with, because a claim is compared at its own precision.

Every number read from a record's text is bounded before it is converted (`Number.parse`,
`whole_number`): a 5000-digit `int()` raises, an `int(Decimal("1e99999999"))` never ends, and a
Decimal past 28 digits cannot be rounded. Real records print metrics with at most 8 decimals and
whole numbers of at most 13 digits (a Unix time in milliseconds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from golfkit.errors import GolfkitError

# The longest number text golfkit converts (a double prints in at most 24 characters).
MAX_NUMBER_CHARS = 40
# A whole number (steps, bytes, tokens, seeds): 2**64 has 20 digits.
MAX_WHOLE_DIGITS = 20
# A metric (val_loss, val_bpb, their std): under 10**8 with at most 20 decimals, so that rounding any
# of them at the decimals of any other stays within the 28 digits of Decimal's default context.
MAX_METRIC_DIGITS_BEFORE_POINT = 8
MAX_METRIC_PLACES = 20
_WHOLE = re.compile(r"-?[0-9]+")


class NumberRefused(GolfkitError):
    """A number over a bound of this module: the message says which, without the record's context."""


def whole_number(text: str) -> int:
    """`int(text)` for a whole number of at most MAX_WHOLE_DIGITS ASCII digits; NumberRefused otherwise."""
    digits = len(text.lstrip("-"))
    if digits > MAX_WHOLE_DIGITS:
        raise NumberRefused(f"a {digits:,}-digit whole number (golfkit reads at most {MAX_WHOLE_DIGITS} digits)")
    if not _WHOLE.fullmatch(text):
        raise NumberRefused(f"{text!r} is not a whole number in ASCII digits")
    return int(text)


@dataclass(frozen=True)
class Number:
    """A decimal as printed: `Number(Decimal("1.08100"), 5)` for the text `1.08100`."""

    value: Decimal
    places: int

    @classmethod
    def parse(cls, text: str) -> Number:
        """The metric `text` prints; NumberRefused when it is no finite number within the metric bounds."""
        if len(text) > MAX_NUMBER_CHARS:
            raise NumberRefused(f"a {len(text):,}-character number (golfkit reads at most {MAX_NUMBER_CHARS})")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise NumberRefused(f"{text!r} is not a number") from None
        if not value.is_finite():
            raise NumberRefused(f"{text!r} is not a finite number")
        places = places_of(value)
        if value and value.adjusted() >= MAX_METRIC_DIGITS_BEFORE_POINT or places > MAX_METRIC_PLACES:
            raise NumberRefused(f"{_short(text)}, beyond a metric's bounds (at most {MAX_METRIC_DIGITS_BEFORE_POINT} "
                                f"digits before the point and {MAX_METRIC_PLACES} after)")
        return cls(value, places)

    @classmethod
    def of(cls, value: Decimal | int) -> Number:
        return cls.parse(str(value))

    @property
    def half_unit(self) -> Decimal:
        """Half a unit of the last printed decimal: how far the exact value may lie from the print."""
        return Decimal(1).scaleb(-self.places) / 2

    def __str__(self) -> str:
        return str(self.value)


def _short(text: str) -> str:
    return repr(text) if len(text) <= 24 else f"{text[:12]!r}...({len(text):,} characters)"


def places_of(value: Decimal) -> int:
    """Decimals a Decimal is written with: 5 for `1.08100`, 0 for `3` or `3E+2`."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


# ---------------------------------------------------------------- logs


@dataclass(frozen=True)
class Metric:
    """A final metric line: `final_int6_sliding_window_exact val_loss:1.90301335 val_bpb:1.12707468`.

    `family` is one of roundtrip, intn_roundtrip, sliding, ttt, quantized, diagnostic, exotic;
    `label` is the line's own name. Names do not say what was measured (docs/verify.md#claims-and-logs), so claims are
    matched by value; the family is reported so that a reviewer sees where a number came from.
    """

    family: str
    label: str
    val_loss: Number | None
    val_bpb: Number | None
    eval_time_s: float | None
    line: int
    diagnostic: bool = False


@dataclass(frozen=True)
class StepPoint:
    """A periodic line: `step:13780/20000 val_loss:2.0606 val_bpb:1.2172 train_time:600038ms ...`."""

    step: int
    total_steps: int | None
    line: int
    train_loss: float | None = None
    val_loss: float | None = None
    val_bpb: float | None = None
    train_time_ms: float | None = None
    step_avg_ms: float | None = None


@dataclass(frozen=True)
class SizeLine:
    """A size line. `kind`: model_raw, model, code, code_compressed, total_raw, total, budget."""

    kind: str
    label: str
    bytes: int
    line: int


@dataclass(frozen=True)
class TimedPhase:
    """A duration the log reports: compile warm-up, GPTQ calibration, `total_eval_time`."""

    kind: str
    seconds: float
    line: int


@dataclass(frozen=True)
class EmbeddedSource:
    """The script source a logfile starts with (before a line of 100 `=` and `Running Python`)."""

    text: str
    line: int

    @property
    def bytes(self) -> int:
        return len(self.text.encode("utf-8"))


@dataclass
class RunEvidence:
    """One run of a log. A log holding several runs back to back is split; the last run counts."""

    first_line: int
    last_line: int
    seed: int | None = None
    seed_line: int | None = None
    metrics: list[Metric] = field(default_factory=list)
    steps: list[StepPoint] = field(default_factory=list)
    sizes: list[SizeLine] = field(default_factory=list)
    phases: list[TimedPhase] = field(default_factory=list)
    train_time_ms: float | None = None
    train_stop_line: int | None = None
    stop_step: int | None = None
    val_tokens: int | None = None
    val_tokens_line: int | None = None
    config: dict[str, str] = field(default_factory=dict)
    config_lines: dict[str, int] = field(default_factory=dict)  # the line each config key was read from
    embedded_source: EmbeddedSource | None = None
    traceback_line: int | None = None
    gpus: list[tuple[int, str, int]] = field(default_factory=list)  # nvidia-smi rows: (index, name, line)

    @property
    def final_metrics(self) -> list[Metric]:
        return self.metrics

    def size(self, kind: str) -> SizeLine | None:
        """The last size line of `kind` in this run, or None."""
        found = [s for s in self.sizes if s.kind == kind]
        return found[-1] if found else None

    @property
    def total_bytes(self) -> SizeLine | None:
        """The artifact total this run logged: the tagged total, else a budget line, else the plain total."""
        return self.size("total") or self.size("budget") or self.size("total_raw")

    @property
    def step_avg_ms(self) -> float | None:
        for point in reversed(self.steps):
            if point.step_avg_ms:
                return point.step_avg_ms
        if self.train_time_ms and self.stop_step:
            return self.train_time_ms / self.stop_step
        return None


@dataclass
class LogEvidence:
    """A parsed log file. `run` is the run that counts (the last one); `runs` keeps all of them."""

    path: str
    size: int
    sha256: str
    runs: list[RunEvidence]
    seed: int | None = None
    seed_source: str | None = None  # "file name" or "log line"
    utf8: bool = True
    binary: bool = False
    read_bytes: int = 0  # bytes read; less than `size` for an oversized log (its tail is read)
    timestamped: bool = False
    copy_of: str | None = None  # set by the record reader when the bytes equal another log's
    console_tail: tuple[int, int] | None = None  # lines of console output before the first run (not a run)
    role: str = "run"  # run, summary, reproduction, ablation, exploration (golfkit/verify/roles.py)
    role_reason: str = ""

    @property
    def run(self) -> RunEvidence:
        return self.runs[-1]

    @property
    def truncated_read(self) -> bool:
        return self.read_bytes < self.size


# ---------------------------------------------------------------- submission.json


@dataclass
class SeedClaim:
    """What submission.json claims about one seed."""

    seed: str
    val_bpb: Number | None = None
    val_loss: Number | None = None
    bytes_total: int | None = None
    steps: int | None = None
    eval_time_ms: float | None = None


@dataclass
class DataClaim:
    """The validation variant a record declares (`data` block): name, token and byte counts."""

    variant: str | None = None
    val_tokens: int | None = None
    val_bytes: int | None = None


@dataclass(frozen=True)
class Guess:
    """A key the normaliser had to interpret: `key` as found, `canonical` what it was read as."""

    key: str
    canonical: str
    note: str
    severity: str = "warning"


@dataclass
class Submission:
    """submission.json mapped onto golfkit's canonical shape (golfkit/schema/submission.schema.json)."""

    path: str
    canonical: dict[str, Any]
    guesses: list[Guess] = field(default_factory=list)
    name: str | None = None
    track: str | None = None
    val_bpb: Number | None = None
    val_loss: Number | None = None
    val_bpb_std: Number | None = None
    val_loss_std: Number | None = None
    bytes_total: int | None = None
    bytes_code: int | None = None
    seeds: list[str] = field(default_factory=list)
    seed_results: dict[str, SeedClaim] = field(default_factory=dict)
    data: DataClaim | None = None
    log_roles: dict[str, str] = field(default_factory=dict)  # `extra_logs`: log path -> its declared role


# ---------------------------------------------------------------- scripts


@dataclass(frozen=True)
class SiblingRef:
    """A file of the record folder that a script imports, execs or opens (counted as code)."""

    name: str
    how: str  # import, exec, open, run_path
    line: int
    exists: bool
    bytes: int | None


@dataclass(frozen=True)
class ParseRefusal:
    """A bound of `golfkit.files.parse_source` that a shipped script (or a layer it decodes to) crossed.

    `kind`: too_large or too_deep; `line`: in the file itself, when the bound was crossed there.
    """

    kind: str
    message: str
    line: int | None = None


@dataclass
class ScriptEvidence:
    """A shipped Python file: its bytes, its text, and what a self-extracting wrapper decodes to."""

    path: str
    bytes: int
    sha256: str
    text: str | None
    wrapper_layers: tuple[str, ...] = ()
    unwrapped: str | None = None
    siblings: list[SiblingRef] = field(default_factory=list)
    problem: str | None = None  # why the text or the wrapper could not be read
    refused: ParseRefusal | None = None  # a parse bound crossed: the program was not parsed
    # The program's syntax tree (ast.Module) when the reader parsed it (within parse_source's bounds), kept so
    # that checks reading the program do not parse it again; never mutate it.
    tree: Any = field(default=None, repr=False, compare=False)

    @property
    def program(self) -> str | None:
        """The program that runs: the decoded payload of a wrapper, else the text itself."""
        return self.unwrapped if self.unwrapped is not None else self.text


# ---------------------------------------------------------------- the record


@dataclass
class FileEntry:
    path: str  # relative to the record folder
    bytes: int


@dataclass(frozen=True)
class ReadProblem:
    """A file the reader could not use, kept as data; the check registered for its kind reports it.

    `kind`: symlink_outside, too_many_files, submission_invalid, readme_unreadable, readme_too_large
    (files.), log_unreadable (log.), script_unreadable, script_too_large (code.). `file` is relative to
    the record; `detail` is the reader's words (an error message, a symlink's target); `limit` the bound
    that was passed (files or bytes).
    """

    kind: str
    file: str
    detail: str = ""
    limit: int | None = None


@dataclass
class RecordEvidence:
    """Everything verify knows about one record folder.

    `script` is the main shipped script (train_gpt.py, else the only train_gpt*.py), `scripts` every
    shipped .py file; `problems` are what went wrong while reading (unreadable files, symlinks out),
    as data: the checks turn them into findings.
    """

    root: Path
    track: str | None
    files: list[FileEntry]
    readme: str | None
    submission: Submission | None
    submission_problem: ReadProblem | None
    logs: list[LogEvidence]
    scripts: list[ScriptEvidence]
    script: ScriptEvidence | None
    problems: list[ReadProblem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.root.name

    def seed_logs(self) -> dict[int, LogEvidence]:
        """One log per seed, copies left out. When a seed repeats, a run wins over a reproduction, ablation or
        exploration (`role`), a log named for it over one whose seed comes from a log line, then the first by path."""
        found: dict[int, LogEvidence] = {}
        for log in sorted(self.logs, key=lambda log: (log.role != "run", log.seed_source != "file name")):
            if log.copy_of is None and log.seed is not None and log.seed not in found:
                found[log.seed] = log
        return found

    def distinct_logs(self) -> list[LogEvidence]:
        return [log for log in self.logs if log.copy_of is None]
