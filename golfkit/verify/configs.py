"""The config a log ran with, compared key by key: training settings and evaluation settings.

Seeds must share the training config; an evaluation setting (test-time training, the sliding-window
stride, evaluation batching) matters only to the metrics that use it (docs/verify.md#seeds-and-logs).
Values are compared as parsed values: numbers as decimals (`0.020` = `0.02`), paths by their last
component (the folders name the machine), and a seed inside a value (`record_seed42_phased`) only
where the value's digits at that place are the seed of each log: the `1` of `caseops_v1` is not a seed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from golfkit.verify.evidence import LogEvidence

# Keys that name one run, not its config.
PER_RUN_KEYS = {"seed", "run_id", "logfile", "rank", "local_rank", "is_main_process", "s", "artifact_dir",
                "model_path", "quantized_model_path", "ttt_output_dir", "eval_only_path",
                "eval_only_quantized_path"}
# Printed facts that share the `key: value` shape of config lines.
MEASURED_KEYS = {"model_params", "params", "mtp_params", "val_tokens", "train_shards", "val_bpb"}
# Evaluation settings, by what they change: test-time training, sliding-window scoring, any score, nothing.
TTT_KEY = re.compile(r"(?:^|_)ttt(?:_|$)|^lora_|_lora$", re.IGNORECASE)
SLIDING_KEY = re.compile(r"(?:^|_)sliding(?:_|$)|^eval_stride$|^stride$", re.IGNORECASE)
EVAL_KEY = re.compile(r"^eval_|_eval$|^val_doc|^temp_scaling$|^skip_post_train_eval$", re.IGNORECASE)
NO_EFFECT_KEYS = {"val_batch_size", "val_batch_tokens", "sliding_batch_size", "ttt_heartbeat_seconds",
                  "ttt_eval_batches", "eval_batch_size", "eval_batch_tokens"}
# The metric families (golfkit/verify/logparse.py) each group of evaluation settings changes. Lines named
# after a round trip may carry a sliding-window or TTT score (docs/verify.md#claims-and-logs), so they
# count as using every evaluation setting.
AMBIGUOUS_FAMILIES = {"roundtrip", "exotic", "other"}
GROUP_FAMILIES = {
    "ttt": {"ttt"},
    "sliding": {"sliding", "ttt"},
    "eval": {"sliding", "ttt", "intn_roundtrip", "quantized", "diagnostic"},
    "none": set(),
}
SEED_PREFIX = re.compile(r"(?:seed|run|s)[_-]?$", re.IGNORECASE)
TOKENS = re.compile(r"\d+|\D+")


@dataclass(frozen=True)
class Difference:
    """One config key that two logs set differently. `group`: train, ttt, sliding, eval or none."""

    key: str
    left: str
    right: str
    group: str

    @property
    def training(self) -> bool:
        return self.group == "train"

    def affects(self, family: str | None) -> bool:
        """Whether a metric of `family` (None: unknown) can change with this setting."""
        if self.training:
            return True
        if self.group == "none":
            return False
        return family is None or family in AMBIGUOUS_FAMILIES or family in GROUP_FAMILIES[self.group]

    def to_json(self) -> dict:
        return {"key": self.key, "values": [self.left, self.right], "group": self.group}


def group_of(key: str) -> str:
    """train, or the evaluation group of a config key: ttt, sliding, eval, none (changes no score)."""
    lower = key.lower()
    if lower in NO_EFFECT_KEYS:
        return "none"
    if TTT_KEY.search(lower):
        return "ttt"
    if SLIDING_KEY.search(lower):
        return "sliding"
    if EVAL_KEY.search(lower):
        return "eval"
    return "train"


def run_seed(log: LogEvidence) -> int | None:
    """The seed the log's run used: its seed line, else the seed its file name gives."""
    return log.run.seed if log.run.seed is not None else log.seed


def compared_config(log: LogEvidence) -> dict[str, str]:
    """The log's config without the keys that name the run or print a measurement."""
    return {k: v for k, v in log.run.config.items() if k.lower() not in PER_RUN_KEYS | MEASURED_KEYS}


def differences(left: LogEvidence, right: LogEvidence) -> list[Difference]:
    """The keys both logs set to different values (keys only one log prints are not compared)."""
    a, b = compared_config(left), compared_config(right)
    seeds = (run_seed(left), run_seed(right))
    found = []
    for key in sorted(set(a) & set(b)):
        if not same_value(key, a[key], b[key], seeds):
            found.append(Difference(key, a[key], b[key], group_of(key)))
    return found


def same_value(key: str, left: str, right: str, seeds: tuple[int | None, int | None] = (None, None)) -> bool:
    """Whether two printed values of `key` are the same setting (see the module doc)."""
    if left == right:
        return True
    x, y = _parsed(left), _parsed(right)
    if x == y:
        return True
    if isinstance(x, str) and isinstance(y, str):
        return _differ_by_seed(key, x, y, seeds)
    return False


def _parsed(value: str) -> Decimal | str:
    text = value.strip()
    if len(text) <= 40:
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite():
            return number.normalize()
    if text in {"True", "true", "False", "false"}:
        return text.lower()
    if "/" in text:
        # Paths name the machine a seed ran on; only the file or folder name is config.
        return text.rstrip("/").split("/")[-1]
    return text


def _differ_by_seed(key: str, left: str, right: str, seeds: tuple[int | None, int | None]) -> bool:
    """True when the values differ only where each holds its own log's seed (`run_seed42` vs `run_seed7`)."""
    seed_a, seed_b = seeds
    if seed_a is None or seed_b is None or seed_a == seed_b:
        return False
    a, b = TOKENS.findall(left), TOKENS.findall(right)
    if len(a) != len(b):
        return False
    for index, (x, y) in enumerate(zip(a, b)):
        if x == y:
            continue
        if x != str(seed_a) or y != str(seed_b):
            return False
        before = a[index - 1] if index else ""
        # A one-digit seed is read as the seed only after `seed`, `run` or `s` (not the `1` of `v1`).
        if len(a) == 1 and "seed" not in key.lower():
            return False
        if min(len(x), len(y)) < 2 and not SEED_PREFIX.search(before):
            return False
    return True
