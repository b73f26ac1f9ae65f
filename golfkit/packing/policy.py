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
        chosen = None
        for rule in reversed(rules):
            if not fnmatch.fnmatchcase(name, rule.pattern):
                continue
            if rule.is_glob and rule.scheme.quantizes and not eligible(name, t, min_numel):
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
        out.append(Assignment(name, scheme, why))
    return out
