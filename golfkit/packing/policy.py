"""Which scheme each tensor gets: rules `PATTERN=SCHEME` from flags or a TOML file, last match wins.

Patterns are shell globs over tensor names (`blocks.*.mlp.*`). A glob never quantizes small
(<= min_numel values) or control tensors (gains, mixes, skip weights): they keep the version-1
float policy, as the records do. Name a tensor exactly (no glob characters) to force a scheme on it.
TOML: a `[schemes]` table of "pattern" = "scheme" lines, applied in file order before any flag.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import torch

from golfkit.artifact.quantize import is_control
from golfkit.errors import GolfkitError
from golfkit.files import read_text
from golfkit.packing.schemes import Scheme, default_scheme, eligible, parse_scheme

MIN_NUMEL = 65_536
# The default threshold for a small model (see auto_min_numel): tinier matrices gain little from int8.
SMALL_MIN_NUMEL = 256


@dataclass(frozen=True)
class Rule:
    pattern: str
    scheme: Scheme
    source: str  # where the rule came from, for --explain and errors

    @property
    def is_glob(self) -> bool:
        return any(c in self.pattern for c in "*?[")


@dataclass(frozen=True)
class Assignment:
    """The scheme one tensor gets, and why."""

    name: str
    scheme: Scheme
    reason: str
    # rules whose pattern matched this tensor but did not apply (a glob never quantizes small or control
    # tensors), each with why: `--explain` and `--dry-run` say so instead of a silent "+0 bytes"
    overridden: tuple[str, ...] = ()


def parse_rule(text: str, source: str = "--scheme") -> Rule:
    """`PATTERN=SCHEME` -> Rule."""
    pattern, sep, scheme = text.partition("=")
    if not sep or not pattern.strip():
        raise GolfkitError(f"{source} {text!r}: expected PATTERN=SCHEME, e.g. 'blocks.*.mlp.*=int6_row'")
    return Rule(pattern.strip(), parse_scheme(scheme), source)


def load_rules_toml(path: str | Path) -> list[Rule]:
    """Rules from a TOML file's `[schemes]` table, in file order."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the tomli backport has the same API
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise GolfkitError("reading --schemes needs Python 3.11+ or `pip install tomli`") from None

    path = Path(path)
    try:
        doc = tomllib.loads(read_text(path, 1 << 20, "a TOML file of schemes"))
    except tomllib.TOMLDecodeError as exc:
        raise GolfkitError(f"{path}: not valid TOML ({exc})") from None
    table = doc.get("schemes")
    if not isinstance(table, dict) or not table:
        raise GolfkitError(f'{path}: needs a [schemes] table of "pattern" = "scheme" lines')
    rules = []
    for pattern, scheme in table.items():
        if not isinstance(scheme, str):
            raise GolfkitError(f"{path}: scheme for {pattern!r} must be a string, e.g. \"int6_row\"")
        try:
            rules.append(Rule(pattern, parse_scheme(scheme), str(path)))
        except GolfkitError as exc:
            raise GolfkitError(f"{path}: pattern {pattern!r}: {exc}") from None
    return rules


def assign(state: dict[str, torch.Tensor], rules: list[Rule], min_numel: int = MIN_NUMEL) -> list[Assignment]:
    """One Assignment per tensor, in state-dict order. A rule that matches no name is an error."""
    for rule in rules:
        if not any(fnmatch.fnmatchcase(name, rule.pattern) for name in state):
            sample = ", ".join(list(state)[:4])
            raise GolfkitError(
                f"{rule.source} {rule.pattern!r} matches no tensor (names look like: {sample}); check the pattern"
            )
    out = []
    for name, t in state.items():
        chosen, skipped = None, []
        for rule in reversed(rules):
            if not fnmatch.fnmatchcase(name, rule.pattern):
                continue
            if rule.is_glob and rule.scheme.quantizes and not eligible(name, t, min_numel):
                skipped.append(f"{rule.source} {rule.pattern}={rule.scheme.text} matched but a glob never quantizes "
                               f"{_why_ineligible(name, t, min_numel)}")
                continue
            chosen = rule
            break
        scheme = chosen.scheme if chosen else parse_scheme("default")
        if scheme.kind == "default":
            scheme, why = default_scheme(name, t, min_numel), "default policy"
            if not eligible(name, t, min_numel) and t.is_floating_point():
                kind = "control tensor" if is_control(name) else "small" if t.numel() <= min_numel else "not a matrix"
                why = f"default policy: {kind}, kept float"
        else:
            why = f"{chosen.source} {chosen.pattern}={chosen.scheme.text}"
        if scheme.quantizes and not t.is_floating_point():
            raise GolfkitError(f"tensor {name!r} is {t.dtype}, not float: scheme {scheme.text} cannot quantize it")
        out.append(Assignment(name, scheme, why, tuple(skipped)))
    return out


def _why_ineligible(name: str, t: torch.Tensor, min_numel: int) -> str:
    """Why a glob may not quantize tensor `t`, and what to do instead."""
    if is_control(name):
        return "a control tensor (name it exactly to force it)"
    if not t.is_floating_point():
        return f"a {t.dtype} tensor"
    if t.dim() < 2:
        return "a vector (name it exactly to force it)"
    return f"{t.numel():,} values <= --min-numel {min_numel:,} (lower --min-numel, or name it exactly)"


def overridden_notes(assignments: list[Assignment]) -> list[str]:
    """One line per rule that matched tensors it did not apply to: how many, and why."""
    by_rule: dict[str, list[str]] = {}
    for a in assignments:
        for text in a.overridden:
            rule, _, why = text.partition(" matched but a glob never quantizes ")
            by_rule.setdefault(rule, []).append(why)
    notes = []
    for rule, whys in by_rule.items():
        kinds = sorted(set(whys))
        notes.append(f"{rule} matched {len(whys)} tensor(s) it did not apply to: a glob never quantizes "
                     f"{'; '.join(kinds)}")
    return notes


def auto_min_numel(state: dict[str, torch.Tensor]) -> tuple[int, str]:
    """The --min-numel a build uses by default, and why.

    The records' threshold (65,536 values) keeps small tensors float because in a full-size model they hold
    almost nothing. In a small model every matrix may be that small: then the threshold would keep the whole
    model float, so the default is SMALL_MIN_NUMEL instead, and the build says so."""
    matrices = {n: t.numel() for n, t in state.items()
                if t.is_floating_point() and t.dim() >= 2 and not is_control(n)}
    total = sum(matrices.values())
    above = sum(v for v in matrices.values() if v > MIN_NUMEL)
    if not total or above * 2 >= total:
        return MIN_NUMEL, f"auto: {MIN_NUMEL:,}, the records' threshold"
    held = f"hold only {100 * above / total:.0f}% of its matrix values" if above else "hold none of its matrix values"
    return SMALL_MIN_NUMEL, (f"auto: {SMALL_MIN_NUMEL:,} for a small model (matrices over {MIN_NUMEL:,} values {held}); "
                             f"--min-numel {MIN_NUMEL} would keep the rest float")
