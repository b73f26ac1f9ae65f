"""Parse a training log into `LogEvidence`: runs, final metrics, sizes, times, data lines, source.

Every pattern is anchored at column 0 (after an optional Unix-time prefix such as
`1776142348.135 `), so f-strings inside an embedded source never match (docs/verify.md#claims-and-logs).
A log that holds several runs back to back is split into runs; the last run counts.

Bounded work: every pattern runs in time linear in its line, runs are split over sorted line
numbers (no pass over all events per run), and every number a recognised line carries is checked
before it is converted (`evidence.whole_number`, `evidence.Number.parse`, `_real`). A number over
those bounds makes the log unreadable (a GolfkitError naming the line): no run prints one.
"""

from __future__ import annotations

import hashlib
import math
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from pathlib import Path

from golfkit.errors import GolfkitError
from golfkit.verify.evidence import (
    MAX_NUMBER_CHARS,
    EmbeddedSource,
    LogEvidence,
    Metric,
    Number,
    NumberRefused,
    RunEvidence,
    SizeLine,
    StepPoint,
    TimedPhase,
    whole_number,
)

# A log larger than this is read from its tail only: the last run is the one that counts.
MAX_LOG_BYTES = 16 << 20

NUM = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
TIME_PREFIX = re.compile(r"^\d{9,11}\.\d+ ")
RULE = "=" * 100

VAL_LOSS = re.compile(r"\bval_loss[:=]\s*" + NUM)
VAL_BPB = re.compile(r"\bval_bpb[:=]\s*" + NUM)
EVAL_TIME = re.compile(r"\beval_time[:=]\s*(\d+(?:\.\d+)?)(ms|s)\b")
ELAPSED = re.compile(r"\belapsed[:=]\s*(\d+(?:\.\d+)?)s\b")

STEP_LINE = re.compile(r"^step:(\d+)(?:/(\d+))?\s")
BARE_STEP_LINE = re.compile(r"^(\d+)/(\d+)\s+(?:train_loss|val_loss|loss)[:=]")
TRAIN_LOSS = re.compile(r"(?:^|\s)(?:train_loss|loss)[:=]\s*" + NUM)
TRAIN_TIME = re.compile(r"(?:^|\s)(?:train_time|t)[:=]\s*(\d+(?:\.\d+)?)(ms|m|s)\b")
STEP_AVG = re.compile(r"(?:^|\s)(?:step_avg|avg)[:=]\s*(\d+(?:\.\d+)?)ms\b")

STOPPING = re.compile(r"^stopping_early:.*?train_time:\s*(\d+(?:\.\d+)?)ms(?:.*?step:\s*(\d+))?")
SIZE_PATTERNS = [
    (re.compile(r"^Serialized model:\s*(\d+) bytes"), "model_raw"),
    (re.compile(r"^Serialized model (\S+?):\s*(\d+) bytes"), "model"),
    (re.compile(r"^Code size(?: \(uncompressed\))?:\s*(\d+) bytes"), "code"),
    (re.compile(r"^Code size \(compressed\):\s*(\d+) bytes"), "code_compressed"),
    (re.compile(r"^Total submission size:\s*(\d+) bytes"), "total_raw"),
    (re.compile(r"^Total submission size (\S+?):\s*(\d+) bytes"), "total"),
    (re.compile(r"^budget:(\d+)/\d+"), "budget"),
    (re.compile(r"^artifact:.*\bcode:(\d+)"), "code"),
]
PHASE_PATTERNS = [
    (re.compile(r"^GPTQ:collected \d+ Hessians in (\d+(?:\.\d+)?)s"), "gptq_calibration"),
    (re.compile(r"^\S*compile warm-?up done \((\d+(?:\.\d+)?)s\)"), "compile_warmup"),
    (re.compile(r"^total_eval_time:\s*(\d+(?:\.\d+)?)s"), "total_eval_time"),
    (re.compile(r"^artifact_production_wallclock:\s*(\d+(?:\.\d+)?)s"), "artifact_production"),
]
VAL_TOKENS = [
    re.compile(r"^val_loader:.*\btokens:(\d+)"),
    re.compile(r"^val_tokens:\s*(\d+)\s*$"),
]
SEED_LINE = re.compile(r"^\s{0,2}seed:\s*(\d+)\s*$")
# A GPU row of an nvidia-smi table: `|   0  NVIDIA H100 80GB HBM3          On  |   00000000:18:00.0 Off |`.
GPU_ROW = re.compile(r"^\|\s{1,8}(\d{1,3})\s{1,8}((?:NVIDIA|Tesla|Quadro|AMD|Instinct)\b[^|]{0,60}?)\s{1,40}(?:On|Off)\s{1,8}\|")
# The first line of a Python file (after console output that a log may open with).
PY_START = re.compile(r"^(?:#|[rbuRBU]?[\"']|import\s|from\s|@|def\s|class\s|async\s|if\s|try:|[A-Za-z_][\w.]*\s*[=(\[])")
TRACEBACK = re.compile(r"^(?:\[rank\d+\]:\s*)?Traceback \(most recent call last\):")
HYPER_HEADER = re.compile(r"^(?:Hyperparameters:\s*|-+ Hyperparameters -+\s*)$")
HYPER_ITEM = re.compile(r"^  ([A-Za-z_][\w.]*):\s?(.*)$")  # value rstripped after: `(.*?)\s*$` is quadratic
KV_TOKEN = re.compile(r"^([A-Za-z_]\w*):(\S+)$")
KV_EQ_TOKEN = re.compile(r"^([A-Za-z_]\w*)=(\S*)$")
SINGLE_KV = re.compile(r"^([A-Za-z_]\w*):\s(\S+)\s*$")
RUN_ANCHORS = [HYPER_HEADER, re.compile(r"^val_bpb:enabled\b")]
SEED_IN_NAME = re.compile(r"seed[_-]?(\d+)", re.IGNORECASE)

FAMILIES = [
    (re.compile(r"^final_int8_zlib_roundtrip(_exact)?$"), "roundtrip"),
    (re.compile(r"^final_int\d+_roundtrip(_exact)?$"), "intn_roundtrip"),
    (re.compile(r"^(final_int\d+_sliding_window|final_sliding_window(_eval)?|final_sliding|quantized_sliding_window)(_exact)?$"), "sliding"),
    (re.compile(r"^(legal_ttt|final_ttt_lora|quantized_ttt\w*|ttt_sliding:done)(_exact)?$"), "ttt"),
    (re.compile(r"^quantized$"), "quantized"),
    (re.compile(r"^(diagnostic\b.*|pre-quantization\b.*)$"), "diagnostic"),
    (re.compile(r"^final_\w+$"), "exotic"),
]


@dataclass
class _Event:
    """One recognised line: what kind it is, its line number (1-based) and what it carries."""

    kind: str
    line: int
    value: object = None


def parse_log_file(path: Path, name: str | None = None) -> LogEvidence:
    """Read and parse one log file. Reads at most MAX_LOG_BYTES (the tail of a larger log).

    `name` is the path reported in findings (relative to the record folder); defaults to `path`.
    Raises GolfkitError when the file cannot be read.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            if size > MAX_LOG_BYTES:
                handle.seek(size - MAX_LOG_BYTES)
            data = handle.read(MAX_LOG_BYTES)
    except OSError as exc:
        raise GolfkitError(f"{path}: cannot read log ({exc.strerror}); check its permissions") from None
    log = parse_log_bytes(data, name or str(path), size=size)
    if size > len(data):
        # The read started mid-file: the first (partial) line was dropped by the parser's split.
        log.read_bytes = len(data)
    return log


def parse_log_bytes(data: bytes, name: str = "log", size: int | None = None) -> LogEvidence:
    """Parse the bytes of a log. Odd bytes are replaced and flagged; raises GolfkitError only for a number
    over the bounds (`parse_log_text`)."""
    try:
        text = data.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        utf8 = False
    probe = data[:8192] + data[-8192:]
    binary = b"\x00" in probe
    log = parse_log_text(text, name)
    log.size = len(data) if size is None else size
    log.read_bytes = len(data)
    log.sha256 = hashlib.sha256(data).hexdigest()
    log.utf8 = utf8
    log.binary = binary
    return log


def parse_log_text(text: str, name: str = "log") -> LogEvidence:
    """Parse log text into runs. `name` is used for the seed-in-file-name rule and in findings.

    Raises GolfkitError (naming the line) for a recognised line whose number is over the bounds of
    `golfkit.verify.evidence`: a 5000-digit step, an `inf` train time, a 40-digit val_loss.
    """
    raw_lines = text.split("\n")
    timestamped = sum(1 for line in raw_lines[:200] if TIME_PREFIX.match(line)) > 0
    lines = [TIME_PREFIX.sub("", line, count=1).rstrip("\r") for line in raw_lines]
    index = _EventIndex(_scan(lines, name))
    events = index.events
    bounds = _run_bounds(lines, index)
    tail = _console_tail(events, bounds)
    runs = [_build_run(lines, index, start, end) for start, end in (bounds[1:] if tail else bounds)]
    for run in runs:
        _trim_console(run)
    source = runs[0].embedded_source
    if tail and source is not None and source.line > runs[0].first_line:
        tail, runs[0].first_line = (tail[0], source.line - 1), source.line
    log = LogEvidence(path=name, size=len(text.encode("utf-8", errors="replace")), sha256="", runs=runs)
    log.console_tail = tail
    log.timestamped = timestamped
    match = SEED_IN_NAME.search(Path(name).name)
    if match:
        try:
            seed = whole_number(match.group(1))
        except NumberRefused as exc:
            raise GolfkitError(f"{name}: the seed in the file name is {exc}; rename the log") from None
        log.seed, log.seed_source = seed, "file name"
    elif log.run.seed is not None:
        log.seed, log.seed_source = log.run.seed, "log line"
    return log


# ---------------------------------------------------------------- scanning


def _scan(lines: list[str], name: str) -> list[_Event]:
    """The recognised lines of a log as events, in line order. Raises GolfkitError for a number over the bounds."""
    scanner = _Scanner(lines)
    for index, line in enumerate(lines):
        try:
            scanner.scan_line(index, line)
        except NumberRefused as exc:
            raise GolfkitError(f"{name}:{index + 1}: {exc}, which no run prints; this log is not read") from None
    return scanner.events


def _real(text: str) -> float:
    """`float(text)` for a finite number of at most MAX_NUMBER_CHARS characters; NumberRefused otherwise."""
    if len(text) > MAX_NUMBER_CHARS:
        raise NumberRefused(f"a {len(text):,}-character number (golfkit reads at most {MAX_NUMBER_CHARS})")
    value = float(text)
    if not math.isfinite(value):
        raise NumberRefused(f"{text!r}, beyond a finite number")
    return value


@dataclass
class _Scanner:
    """One pass over a log's lines: the events so far, and the two facts that change how a line reads
    (inside a `Hyperparameters:` block; training started, after which `key:value` lines are not config)."""

    lines: list[str]
    events: list[_Event] = field(default_factory=list)
    in_hyper: bool = False
    training_started: bool = False

    def scan_line(self, index: int, line: str) -> None:
        """Add the events of line `index` (0-based); the first step that claims the line ends its scan."""
        number = index + 1
        if self._blank_or_indented(line) or self._hyper_item(line, number):
            return
        if self._source_end(index, line) or self._hyper_header(index, line):
            return
        if any(anchor.match(line) for anchor in RUN_ANCHORS):
            self._add("anchor", number)
        if self._traceback(line, number) or self._step(line, number) or self._final_metric(line, number):
            return
        if self._stop(line, number) or _scan_sizes_phases(line, number, self.events):
            return
        self._val_tokens(line, number)
        if self._seed(line, number) or self._gpu(line, number):
            return
        if not self.training_started:
            for key, value in _header_items(line):
                self._add("config", number, (key, value))

    def _add(self, kind: str, number: int, value: object = None) -> None:
        """Record one event."""
        self.events.append(_Event(kind, number, value))

    def _blank_or_indented(self, line: str) -> bool:
        """Claims a blank line (it closes a hyperparameter block) and an indented line outside one."""
        if not line or line[0] in " \t" and not (self.in_hyper and HYPER_ITEM.match(line)):
            if self.in_hyper and not line:
                self.in_hyper = False
            return True
        return False

    def _hyper_item(self, line: str, number: int) -> bool:
        """Claims a `  key: value` item of an open hyperparameter block; any other line closes it."""
        if not self.in_hyper:
            return False
        item = HYPER_ITEM.match(line)
        if item:
            self._add("config", number, (item.group(1), item.group(2).rstrip()))
            return True
        self.in_hyper = False
        return False

    def _source_end(self, index: int, line: str) -> bool:
        """Claims the `=` rule that ends an embedded source (the next line is `Running Python ...`)."""
        if line == RULE and index + 1 < len(self.lines) and self.lines[index + 1].startswith("Running Python"):
            self._add("source_end", index + 1)
            return True
        return False

    def _hyper_header(self, index: int, line: str) -> bool:
        """Claims a hyperparameter header: a run anchor that opens a block or precedes a line of config."""
        if not HYPER_HEADER.match(line):
            return False
        number = index + 1
        self._add("anchor", number)
        self.in_hyper = line.startswith("Hyperparameters")
        if not self.in_hyper and index + 1 < len(self.lines):
            # `--- Hyperparameters ---` is followed by one line of key=value tokens.
            for token in self.lines[index + 1].split():
                kv = KV_EQ_TOKEN.match(token)
                if kv:
                    self._add("config", number + 1, (kv.group(1), kv.group(2)))
        return True

    def _traceback(self, line: str, number: int) -> bool:
        """Claims the first line of a Python traceback."""
        if TRACEBACK.match(line):
            self._add("traceback", number)
            return True
        return False

    def _step(self, line: str, number: int) -> bool:
        """Claims a training or validation step line; training has started."""
        step = _step_point(line, number)
        if step is None:
            return False
        self.training_started = True
        self._add("step", number, step)
        return True

    def _final_metric(self, line: str, number: int) -> bool:
        """Claims a labelled line with both val_loss and val_bpb."""
        metric = _metric(line, number)
        if metric is None:
            return False
        self._add("metric", number, metric)
        return True

    def _stop(self, line: str, number: int) -> bool:
        """Claims the `stopping_early:` line (train time, and the step when given); training has started."""
        stop = STOPPING.match(line)
        if not stop:
            return False
        self.training_started = True
        step_number = whole_number(stop.group(2)) if stop.group(2) else None
        self._add("stop", number, (_real(stop.group(1)), step_number))
        return True

    def _val_tokens(self, line: str, number: int) -> None:
        """Records the validation token count of a loader line; the line may say more, so it is not claimed."""
        for pattern in VAL_TOKENS:
            found = pattern.match(line)
            if found:
                self._add("val_tokens", number, whole_number(found.group(1)))
                break

    def _gpu(self, line: str, number: int) -> bool:
        """Claims a GPU row of an nvidia-smi table (index and name)."""
        row = GPU_ROW.match(line)
        if row:
            self._add("gpu", number, (int(row.group(1)), row.group(2).strip()))
            return True
        return False

    def _seed(self, line: str, number: int) -> bool:
        """Claims a `seed: N` line."""
        seed = SEED_LINE.match(line)
        if seed:
            self._add("seed", number, whole_number(seed.group(1)))
            return True
        return False


def _scan_sizes_phases(line: str, number: int, events: list[_Event]) -> bool:
    for pattern, kind in SIZE_PATTERNS:
        found = pattern.match(line)
        if found:
            label = found.group(1) if found.lastindex == 2 else kind
            events.append(_Event("size", number, SizeLine(kind, label, whole_number(found.group(found.lastindex)),
                                                          number)))
            return True
    for pattern, kind in PHASE_PATTERNS:
        found = pattern.match(line)
        if found:
            events.append(_Event("phase", number, TimedPhase(kind, _real(found.group(1)), number)))
            return True
    eval_time = EVAL_TIME.search(line)
    if eval_time and not line.startswith(("step:", "warmup")):
        events.append(_Event("phase", number, TimedPhase("eval_other", _seconds(eval_time), number)))
        return True
    return False


def _header_items(line: str) -> list[tuple[str, str]]:
    """Key/value pairs of a header line made only of `key:value` tokens, or a single `key: value`."""
    single = SINGLE_KV.match(line)
    if single:
        return [(single.group(1), single.group(2))]
    tokens = line.split()
    matches = [KV_TOKEN.match(token) for token in tokens]
    if tokens and all(matches):
        return [(m.group(1), m.group(2)) for m in matches if m]
    return []


def _seconds(match: re.Match[str]) -> float:
    value = _real(match.group(1))
    return value / 1000.0 if match.group(2) == "ms" else value


def _step_point(line: str, number: int) -> StepPoint | None:
    found = STEP_LINE.match(line) or BARE_STEP_LINE.match(line)
    if not found:
        return None
    values: dict[str, float | None] = {}
    loss = VAL_LOSS.search(line)
    bpb = VAL_BPB.search(line)
    train = TRAIN_LOSS.search(line)
    time = TRAIN_TIME.search(line)
    avg = STEP_AVG.search(line)
    values["val_loss"] = _real(loss.group(1)) if loss else None
    values["val_bpb"] = _real(bpb.group(1)) if bpb else None
    values["train_loss"] = _real(train.group(1)) if train else None
    if time:
        scale = {"ms": 1.0, "s": 1000.0, "m": 60000.0}[time.group(2)]
        values["train_time_ms"] = _real(time.group(1)) * scale
    values["step_avg_ms"] = _real(avg.group(1)) if avg else None
    if all(value is None for value in values.values()):
        return None
    total = whole_number(found.group(2)) if found.group(2) else None
    return StepPoint(whole_number(found.group(1)), total, number, **values)


def _metric(line: str, number: int) -> Metric | None:
    loss = VAL_LOSS.search(line)
    bpb = VAL_BPB.search(line)
    if not (loss and bpb):
        return None
    label = _label(line[: min(loss.start(), bpb.start())])
    if not label:
        return None
    family = next((name for pattern, name in FAMILIES if pattern.match(label)), "other")
    eval_time = EVAL_TIME.search(line)
    elapsed = ELAPSED.search(line)
    seconds = _seconds(eval_time) if eval_time else (_real(elapsed.group(1)) if elapsed else None)
    return Metric(
        family=family,
        label=label,
        val_loss=Number.parse(loss.group(1)),
        val_bpb=Number.parse(bpb.group(1)),
        eval_time_s=seconds,
        line=number,
        diagnostic=family == "diagnostic",
    )


def _label(prefix: str) -> str:
    """The name of a metric line: its leading words up to the first `key:value` or `key=value`."""
    words = prefix.split()
    if not words:
        return ""
    if ":" in words[0] or "=" in words[0]:
        return words[0]
    kept = []
    for word in words:
        if ":" in word or "=" in word:
            break
        kept.append(word)
    return " ".join(kept)


# ---------------------------------------------------------------- runs

RUNTIME = {"metric", "step", "stop", "size", "phase", "traceback"}


class _EventIndex:
    """A log's events in line order, with the sorted line numbers that splitting it into runs asks about
    (each question a bisection, not a pass over every event)."""

    def __init__(self, events: list[_Event]) -> None:
        self.events = sorted(events, key=lambda e: e.line)  # stable: scanning order within a line
        self.lines = [e.line for e in self.events]
        self.runtime = [e.line for e in self.events if e.kind in RUNTIME]
        self.other = [e.line for e in self.events if e.kind != "source_end"]
        self.rules = [e.line for e in self.events if e.kind == "source_end"]

    def within(self, start: int, end: int) -> list[_Event]:
        """The events on lines start..end (inclusive)."""
        return self.events[bisect_left(self.lines, start):bisect_right(self.lines, end)]

    def runtime_between(self, start: int, stop: int) -> bool:
        """True when a runtime event lies on a line in [start, stop)."""
        at = bisect_left(self.runtime, start)
        return at < len(self.runtime) and self.runtime[at] < stop

    def source_start(self, rule_line: int) -> int:
        """First line of the source that ends at the `=` rule: just after the last event before it."""
        rules = bisect_left(self.rules, rule_line)
        floor = self.rules[rules - 1] + 1 if rules else 1
        # The rule pair after an earlier source closes the nvidia-smi block; skip past it too.
        before = bisect_left(self.other, rule_line)
        return max(floor, self.other[before - 1] + 1 if before else 1)


def _run_bounds(lines: list[str], index: _EventIndex) -> list[tuple[int, int]]:
    """Split the log into runs: [(first_line, last_line)], 1-based, inclusive."""
    starts: list[int] = []
    for event in index.events:
        if event.kind == "anchor":
            starts.append(event.line)
        elif event.kind == "source_end":
            starts.append(index.source_start(event.line))
    starts = sorted(set(starts))
    kept = [1]
    for start in starts:
        if index.runtime_between(kept[-1], start):
            kept.append(start)
    bounds = []
    for at, start in enumerate(kept):
        end = kept[at + 1] - 1 if at + 1 < len(kept) else len(lines)
        bounds.append((start, end))
    return bounds


def _console_tail(events: list[_Event], bounds: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The first segment when it is the tail of console output pasted before the run, not a run: it has
    no run anchor, config, seed or source, and no step line from the start of training (step 0 or 1)."""
    if len(bounds) < 2:
        return None
    first, last = bounds[0]
    inside = [e for e in events if first <= e.line <= last]
    if any(e.kind in ("anchor", "config", "seed", "source_end") for e in inside):
        return None
    steps = [e.value.step for e in inside if e.kind == "step"]  # type: ignore[attr-defined]
    if steps and steps[0] <= 1:
        return None
    return first, last


def _trim_console(run: RunEvidence) -> None:
    """An embedded source starts at its first line of Python: console lines printed before it (torchrun
    warnings, `peak memory ...` after an earlier run or a console tail) are not part of it."""
    source = run.embedded_source
    if source is None:
        return
    body = source.text.split("\n")
    skip = next((i for i, line in enumerate(body) if PY_START.match(line)), 0)
    if skip and any(line.strip() for line in body[:skip]):
        run.embedded_source = EmbeddedSource("\n".join(body[skip:]), source.line + skip)


def _build_run(lines: list[str], index: _EventIndex, start: int, end: int) -> RunEvidence:
    """The evidence of the run on lines start..end (1-based, inclusive): its events, then what they imply."""
    run = RunEvidence(first_line=start, last_line=end)
    inside = index.within(start, end)
    for event in inside:
        _add_event(run, event, lines, index)
    _seed_from_config(run, inside)
    _train_time_from_steps(run)
    return run


def _add_event(run: RunEvidence, event: _Event, lines: list[str], events: _EventIndex) -> None:
    """Put one event into its run: lists grow; the first seed, config value, traceback and source win."""
    kind = event.kind
    if kind == "metric":
        run.metrics.append(event.value)  # type: ignore[arg-type]
    elif kind == "step":
        run.steps.append(event.value)  # type: ignore[arg-type]
    elif kind == "size":
        run.sizes.append(event.value)  # type: ignore[arg-type]
    elif kind == "phase":
        run.phases.append(event.value)  # type: ignore[arg-type]
    elif kind == "stop":
        run.train_time_ms, run.stop_step = event.value  # type: ignore[misc]
        run.train_stop_line = event.line
    elif kind == "val_tokens":
        run.val_tokens, run.val_tokens_line = event.value, event.line  # type: ignore[assignment]
    elif kind == "seed" and run.seed is None:
        run.seed, run.seed_line = event.value, event.line  # type: ignore[assignment]
    elif kind == "config":
        key, value = event.value  # type: ignore[misc]
        run.config.setdefault(key, value)
        run.config_lines.setdefault(key, event.line)
    elif kind == "gpu":
        index, gpu_name = event.value  # type: ignore[misc]
        run.gpus.append((index, gpu_name, event.line))
    elif kind == "traceback" and run.traceback_line is None:
        run.traceback_line = event.line
    elif kind == "source_end" and run.embedded_source is None:
        first = events.source_start(event.line)
        if first < event.line:
            run.embedded_source = EmbeddedSource("\n".join(lines[first - 1 : event.line - 1]), first)


def _seed_from_config(run: RunEvidence, inside: list[_Event]) -> None:
    """Without a `seed:` line, the run's seed is its `seed` config value, when that is a whole number."""
    if run.seed is not None or "seed" not in run.config:
        return
    try:
        run.seed = whole_number(run.config["seed"].strip())
    except NumberRefused:
        return
    run.seed_line = next((e.line for e in inside if e.kind == "config" and e.value[0] == "seed"), None)  # type: ignore[index]


def _train_time_from_steps(run: RunEvidence) -> None:
    """Without a `stopping_early:` line, the train time and last step are the last timed step's."""
    if run.train_time_ms is None:
        timed = [p for p in run.steps if p.train_time_ms is not None]
        if timed:
            run.train_time_ms, run.stop_step = timed[-1].train_time_ms, timed[-1].step
            run.train_stop_line = timed[-1].line
