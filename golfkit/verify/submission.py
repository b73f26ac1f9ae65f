"""Map a real submission.json (any of the shapes real records use,
docs/verify.md#claims-and-logs) onto golfkit's canonical shape.

The canonical shape is `golfkit/schema/submission.schema.json`. Everything the normaliser had to
interpret is reported as a `Guess`: a legacy alias is a warning, a shape variant is info.
Numbers are read as Decimals so that a claim keeps the precision it was printed with.

Numbers are bounded before they are converted: a JSON number literal of more than
`evidence.MAX_NUMBER_CHARS` characters or beyond a double's range (`1e99999999`) makes the document
unusable, and so does a claim (val_bpb, bytes_total, a seed, ...) beyond `evidence`'s bounds for
metrics and whole numbers. NaN and Infinity are not JSON and are refused too.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from golfkit.errors import GolfkitError
from golfkit.facts import TRACKS, normalise_track
from golfkit.verify.evidence import (
    MAX_NUMBER_CHARS,
    MAX_WHOLE_DIGITS,
    DataClaim,
    Guess,
    Number,
    NumberRefused,
    SeedClaim,
    Submission,
    whole_number,
)

# A submission.json is a few KB; anything past this is not one.
MAX_SUBMISSION_BYTES = 1 << 20

TOP_ALIASES = {
    "mean_val_bpb": "val_bpb",
    "val_bpb_mean": "val_bpb",
    "mean_val_loss": "val_loss",
    "val_loss_mean": "val_loss",
    "run_name": "name",
    "artifact_bytes": "bytes_total",
    "artifact_size_bytes": "bytes_total",
    "artifact_bytes_mean": "bytes_total",
    "total_bytes": "bytes_total",
    "code_bytes": "bytes_code",
    "std_val_bpb": "val_bpb_std",
    "val_bpb_stddev": "val_bpb_std",
    "std_val_loss": "val_loss_std",
    "val_loss_stddev": "val_loss_std",
}
SEED_ALIASES = {
    "artifact_bytes": "bytes_total",
    "artifact_size_bytes": "bytes_total",
    "total_bytes": "bytes_total",
    "bpb": "val_bpb",
    "loss": "val_loss",
}
CANONICAL_TOP = {
    "name", "author", "github_id", "date", "track", "blurb", "val_bpb", "val_loss", "val_bpb_std",
    "val_loss_std", "bytes_total", "bytes_code", "seeds", "seed_results", "data", "compliance",
    "hardware", "pytorch_version", "extra", "extra_logs",
}
CANONICAL_SEED = {"val_bpb", "val_loss", "bytes_total", "steps", "train_time_ms", "eval_time_ms", "extra"}
# Decimal exponents a double can hold (5e-324 .. 1.8e308): any number a JSON writer printed lies within.
MIN_EXPONENT, MAX_EXPONENT = -324, 307


class _LiteralRefused(ValueError):
    """A JSON number literal over the bounds; `literal` locates it in the text."""

    def __init__(self, literal: str, why: str) -> None:
        super().__init__(why)
        self.literal = literal


def load_submission_bytes(data: bytes, path: str) -> Any:
    """Parse submission JSON bytes with Decimal floats. Raises GolfkitError saying what is wrong."""
    if len(data) > MAX_SUBMISSION_BYTES:
        raise GolfkitError(
            f"{path}: {len(data)} bytes is too large for a submission JSON (limit {MAX_SUBMISSION_BYTES}); "
            "keep logs and dumps in their own files"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GolfkitError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 JSON") from None
    try:
        return json.loads(text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise GolfkitError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}); fix the syntax") from None
    except _LiteralRefused as exc:
        line = text.count("\n", 0, max(0, text.find(exc.literal))) + 1
        raise GolfkitError(f"{path}:{line}: {exc}, which no JSON writer prints; write the number itself") from None
    except (ValueError, RecursionError) as exc:
        raise GolfkitError(f"{path}: unusable JSON ({exc}); fix the file") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a claim can hold")


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _LiteralRefused(text, f"a {len(text):,}-character number (golfkit reads at most {MAX_NUMBER_CHARS})")
    return int(text)


def _parse_float(text: str) -> Decimal:
    return _bounded_decimal(text, lambda why: _LiteralRefused(text, why))


def _bounded_decimal(text: str, refuse) -> Decimal:
    """Decimal(text) for at most MAX_NUMBER_CHARS characters within a double's range; else raise refuse(why)."""
    if len(text) > MAX_NUMBER_CHARS:
        raise refuse(f"a {len(text):,}-character number (golfkit reads at most {MAX_NUMBER_CHARS})")
    value = Decimal(text)
    if value.is_finite() and value and not MIN_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
        raise refuse(f"{text[:24]!r}, beyond the range of a double")
    return value


def normalise(raw: Any, path: str) -> Submission:
    """Map parsed JSON onto the canonical shape; returns the Submission with its guesses.

    Raises GolfkitError when the document is not a JSON object at all, or when a claim holds a number
    beyond the bounds of `golfkit.verify.evidence` (a 30-digit bytes_total, a val_bpb of 1e300).
    """
    try:
        return _normalise(raw, path)
    except NumberRefused as exc:
        raise GolfkitError(f"{path}: {exc}; no record claims that, fix the number") from None


def _normalise(raw: Any, path: str) -> Submission:
    if not isinstance(raw, dict):
        raise GolfkitError(f"{path}: the top level is {type(raw).__name__}, not an object; "
                           "write a JSON object with val_bpb, bytes_total, ...")
    guesses: list[Guess] = []
    canonical: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in TOP_ALIASES:
            target = TOP_ALIASES[key]
            if target in raw:
                extra[key] = value
                continue
            guesses.append(Guess(key, target, f"legacy key `{key}` read as `{target}`"))
            canonical[target] = value
        elif key in CANONICAL_TOP:
            canonical[key] = value
        else:
            extra[key] = value
    if "track" in canonical:
        canonical["track"] = _track(canonical["track"], guesses)
    _seed_shapes(canonical, guesses)
    for key in ("val_bpb", "val_loss", "val_bpb_std", "val_loss_std", "bytes_total", "bytes_code"):
        if key in canonical:
            canonical[key] = _number(canonical[key], key, guesses)
    if extra:
        canonical["extra"] = extra
    return _submission(canonical, guesses, path)


def _track(value: Any, guesses: list[Guess]) -> Any:
    if not isinstance(value, str):
        return value
    found = normalise_track(value)
    if found is None:
        return value
    if found != value:
        guesses.append(Guess("track", "track", f"track `{value}` read as `{found}`", "info"))
    return found


def _seed_shapes(canonical: dict[str, Any], guesses: list[Guess]) -> None:
    """`seeds` as a dict of per-seed objects, or `seed_results` as a list, become `seed_results`."""
    seeds = canonical.get("seeds")
    if isinstance(seeds, dict):
        guesses.append(Guess("seeds", "seed_results", "per-seed objects under `seeds` read as `seed_results`",
                             "info"))
        canonical.setdefault("seed_results", seeds)
        canonical["seeds"] = list(seeds)
    results = canonical.get("seed_results")
    if isinstance(results, list):
        as_dict = {}
        for item in results:
            if isinstance(item, dict) and "seed" in item:
                as_dict[str(item["seed"])] = {k: v for k, v in item.items() if k != "seed"}
        guesses.append(Guess("seed_results", "seed_results", "a list of per-seed objects read as a dict by seed",
                             "info"))
        canonical["seed_results"] = as_dict
        results = as_dict
    if isinstance(results, dict):
        fixed = {}
        for seed, entry in results.items():
            fixed[str(seed)] = _seed_entry(str(seed), entry, guesses) if isinstance(entry, dict) else entry
        canonical["seed_results"] = fixed
        if "seeds" not in canonical:
            canonical["seeds"] = [_int_or_text(seed) for seed in fixed]
    if isinstance(canonical.get("seeds"), list):
        canonical["seeds"] = [_int_or_text(seed) for seed in canonical["seeds"]]
        for seed in canonical["seeds"]:
            if isinstance(seed, int) and not isinstance(seed, bool) and len(str(abs(seed))) > MAX_WHOLE_DIGITS:
                raise NumberRefused(f"seed {str(seed)[:24]}... has more than {MAX_WHOLE_DIGITS} digits")


def _seed_entry(seed: str, entry: dict[str, Any], guesses: list[Guess]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in entry.items():
        target = SEED_ALIASES.get(key, key)
        if target != key and target not in entry:
            if not any(g.key == f"seed_results.*.{key}" for g in guesses):
                guesses.append(Guess(f"seed_results.*.{key}", target, f"per-seed `{key}` read as `{target}`",
                                     "info"))
        elif target != key:
            extra[key] = value
            continue
        if target in CANONICAL_SEED:
            out[target] = _number(value, f"seed_results.{seed}.{target}", guesses) if target != "extra" else value
        else:
            extra[key] = value
    if extra:
        out["extra"] = extra
    return out


def _int_or_text(value: Any) -> Any:
    """A seed written as digits is a whole number (refused beyond MAX_WHOLE_DIGITS ASCII digits, since
    whatever reads seeds as numbers calls int() on any text str.isdigit() accepts)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        try:
            return whole_number(value.strip())
        except NumberRefused as exc:
            raise NumberRefused(f"seed {value[:24]!r}: {exc}") from None
    return value


def _number(value: Any, key: str, guesses: list[Guess]) -> Any:
    """Numbers stay as they are; a numeric string is read as a number (and reported)."""
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    try:
        number = _bounded_decimal(value.strip(), lambda why: NumberRefused(f"`{key}` is the string {why}"))
    except InvalidOperation:
        return value
    if not number.is_finite():
        return value
    guesses.append(Guess(key, key, f"`{key}` is the string {value!r}; read as the number {number}"))
    return int(number) if number == number.to_integral_value() and "." not in value else number


def _claim_number(value: Any, key: str) -> Number | None:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return None
    try:
        return Number.of(value)
    except NumberRefused as exc:
        raise NumberRefused(f"`{key}` is {exc}") from None


def _claim_int(value: Any, key: str) -> int | None:
    """A whole-number claim; NumberRefused past MAX_WHOLE_DIGITS digits (checked before int())."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        if value and value.adjusted() >= MAX_WHOLE_DIGITS:
            raise NumberRefused(f"`{key}` is {value}, more than {MAX_WHOLE_DIGITS} digits")
        return int(value)
    if isinstance(value, int):
        if len(str(abs(value))) > MAX_WHOLE_DIGITS:
            raise NumberRefused(f"`{key}` has {len(str(abs(value)))} digits, more than {MAX_WHOLE_DIGITS}")
        return value
    return None


def _submission(canonical: dict[str, Any], guesses: list[Guess], path: str) -> Submission:
    sub = Submission(path=path, canonical=canonical, guesses=guesses)
    sub.name = canonical.get("name") if isinstance(canonical.get("name"), str) else None
    sub.track = canonical.get("track") if canonical.get("track") in TRACKS else None
    sub.val_bpb = _claim_number(canonical.get("val_bpb"), "val_bpb")
    sub.val_loss = _claim_number(canonical.get("val_loss"), "val_loss")
    sub.val_bpb_std = _claim_number(canonical.get("val_bpb_std"), "val_bpb_std")
    sub.val_loss_std = _claim_number(canonical.get("val_loss_std"), "val_loss_std")
    sub.bytes_total = _claim_int(canonical.get("bytes_total"), "bytes_total")
    sub.bytes_code = _claim_int(canonical.get("bytes_code"), "bytes_code")
    seeds = canonical.get("seeds")
    if isinstance(seeds, list):
        sub.seeds = [str(seed) for seed in seeds if isinstance(seed, (int, str))]
    results = canonical.get("seed_results")
    if isinstance(results, dict):
        for seed, entry in results.items():
            if not isinstance(entry, dict):
                continue
            eval_ms = entry.get("eval_time_ms")
            key = f"seed_results.{seed[:24]}"
            sub.seed_results[seed] = SeedClaim(
                seed=seed,
                val_bpb=_claim_number(entry.get("val_bpb"), f"{key}.val_bpb"),
                val_loss=_claim_number(entry.get("val_loss"), f"{key}.val_loss"),
                bytes_total=_claim_int(entry.get("bytes_total"), f"{key}.bytes_total"),
                steps=_claim_int(entry.get("steps"), f"{key}.steps"),
                eval_time_ms=float(eval_ms) if isinstance(eval_ms, (int, Decimal)) else None,
            )
    extra_logs = canonical.get("extra_logs")
    if isinstance(extra_logs, dict):  # {"<log path>": "reproduction" | "ablation" | "exploration" | "summary"}
        sub.log_roles = {k: v for k, v in extra_logs.items() if isinstance(k, str) and isinstance(v, str)}
    data = canonical.get("data")
    if isinstance(data, dict):
        sub.data = DataClaim(
            variant=data.get("variant") if isinstance(data.get("variant"), str) else None,
            val_tokens=_claim_int(data.get("val_tokens"), "data.val_tokens"),
            val_bytes=_claim_int(data.get("val_bytes"), "data.val_bytes"),
        )
    return sub
