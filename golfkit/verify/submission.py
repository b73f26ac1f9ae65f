"""Map a real submission.json (any of the shapes real records use,
docs/verify.md#claims-and-logs) onto golfkit's canonical shape.

The canonical shape is `golfkit/schema/submission.schema.json`. Everything the normaliser had to
interpret is reported as a `Guess`: a legacy alias is a warning, a shape variant is info.
Numbers are read as Decimals so that a claim keeps the precision it was printed with.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from golfkit.errors import GolfkitError
from golfkit.facts import TRACKS, normalise_track
from golfkit.verify.evidence import DataClaim, Guess, Number, SeedClaim, Submission

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
    "hardware", "pytorch_version", "extra",
}
CANONICAL_SEED = {"val_bpb", "val_loss", "bytes_total", "steps", "train_time_ms", "eval_time_ms", "extra"}


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
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise GolfkitError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}); fix the syntax") from None
    except (ValueError, RecursionError) as exc:
        raise GolfkitError(f"{path}: unusable JSON ({exc}); fix the file") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a claim can hold")


def normalise(raw: Any, path: str) -> Submission:
    """Map parsed JSON onto the canonical shape; returns the Submission with its guesses.

    Raises GolfkitError when the document is not a JSON object at all.
    """
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
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def _number(value: Any, key: str, guesses: list[Guess]) -> Any:
    """Numbers stay as they are; a numeric string is read as a number (and reported)."""
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return value
    if not number.is_finite():
        return value
    guesses.append(Guess(key, key, f"`{key}` is the string {value!r}; read as the number {number}"))
    return int(number) if number == number.to_integral_value() and "." not in value else number


def _claim_number(value: Any) -> Number | None:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return None
    return Number.of(value)


def _claim_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return None


def _submission(canonical: dict[str, Any], guesses: list[Guess], path: str) -> Submission:
    sub = Submission(path=path, canonical=canonical, guesses=guesses)
    sub.name = canonical.get("name") if isinstance(canonical.get("name"), str) else None
    sub.track = canonical.get("track") if canonical.get("track") in TRACKS else None
    sub.val_bpb = _claim_number(canonical.get("val_bpb"))
    sub.val_loss = _claim_number(canonical.get("val_loss"))
    sub.val_bpb_std = _claim_number(canonical.get("val_bpb_std"))
    sub.val_loss_std = _claim_number(canonical.get("val_loss_std"))
    sub.bytes_total = _claim_int(canonical.get("bytes_total"))
    sub.bytes_code = _claim_int(canonical.get("bytes_code"))
    seeds = canonical.get("seeds")
    if isinstance(seeds, list):
        sub.seeds = [str(seed) for seed in seeds if isinstance(seed, (int, str))]
    results = canonical.get("seed_results")
    if isinstance(results, dict):
        for seed, entry in results.items():
            if not isinstance(entry, dict):
                continue
            eval_ms = entry.get("eval_time_ms")
            sub.seed_results[seed] = SeedClaim(
                seed=seed,
                val_bpb=_claim_number(entry.get("val_bpb")),
                val_loss=_claim_number(entry.get("val_loss")),
                bytes_total=_claim_int(entry.get("bytes_total")),
                steps=_claim_int(entry.get("steps")),
                eval_time_ms=float(eval_ms) if isinstance(eval_ms, (int, Decimal)) else None,
            )
    data = canonical.get("data")
    if isinstance(data, dict):
        sub.data = DataClaim(
            variant=data.get("variant") if isinstance(data.get("variant"), str) else None,
            val_tokens=_claim_int(data.get("val_tokens")),
            val_bytes=_claim_int(data.get("val_bytes")),
        )
    return sub
