"""Static reading of the program a record runs: its syntax tree, the names that hold validation data,
the block of code a log's compile warm-up timed, calibration code, and the Python version the syntax
needs. Nothing here runs the script (docs/verify.md#rules-golfkit-applies).

Validation data is recognised by name: an identifier whose first part is `val`, `valid` or
`validation` and a later part names data (`val_tokens`, `val_data`, `val_files`, `val_loader`,
`val_tokens_idx`, ...; not metrics such as `val_loss` or `val_bpb`), or a string naming the
validation shards (`fineweb_val_*.bin`). A static scan sees what a block of code names, not what
the functions it calls read; each finding names the lines it scanned.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from dataclasses import dataclass
from functools import lru_cache

from golfkit.errors import GolfkitError
from golfkit.files import SourceSyntaxError, parse_source
from golfkit.verify.evidence import ScriptEvidence

_VAL_HEADS = {"val", "valid", "validation"}
_DATA_PARTS = {"tokens", "token", "data", "dataset", "files", "file", "loader", "shards", "shard", "seqs", "seq",
               "batch", "batches", "docs", "stream", "ids", "idx", "inputs", "split", "set", "iter", "pattern"}
_VAL_FILE = re.compile(r"fineweb_val|_val_\*|/val\b|\bval_\d|validation\.bin", re.IGNORECASE)
WARMUP_DONE = re.compile(r"compile warm-?up done", re.IGNORECASE)
WARMUP_START = re.compile(r"warm(?:ing)?[- ]?up", re.IGNORECASE)
CALIBRATION_NAME = re.compile(r"calib|hessian|gptq", re.IGNORECASE)


@dataclass(frozen=True)
class Ref:
    """A place where code names validation data: line (of the program) and the name as written."""

    line: int
    name: str


@dataclass(frozen=True)
class Block:
    """Lines first..last of the program (1-based, inclusive) and the validation data they name."""

    first: int
    last: int
    refs: tuple[Ref, ...]


def program_name(script: ScriptEvidence) -> str:
    """How findings name the program: `train_gpt.py`, or `train_gpt.py (decoded)` for a wrapper's payload."""
    return f"{script.path} (decoded)" if script.unwrapped is not None else script.path


@lru_cache(maxsize=16)
def _parsed(text: str) -> tuple[ast.Module | None, GolfkitError | None]:
    """The tree of `text` (parsed once per process, within golfkit's parse bounds), or why it has none."""
    try:
        return parse_source(text, "program"), None
    except GolfkitError as exc:
        return None, exc


def _tree(text: str) -> ast.Module | None:
    return _parsed(text)[0]


def program_tree(script: ScriptEvidence | None) -> ast.Module | None:
    """The syntax tree of what the script runs (a wrapper's decoded payload), or None when it does not parse
    under this Python or is over golfkit's parse bounds."""
    if script is None or script.program is None:
        return None
    if script.tree is not None:  # parsed once by the reader (golfkit/verify/scripts.py)
        return script.tree
    if script.refused is not None:  # over a parse bound: never parsed
        return None
    return _tree(script.program)


def is_validation_name(name: str) -> bool:
    parts = [p for p in name.lower().split("_") if p]
    return len(parts) >= 2 and parts[0] in _VAL_HEADS and any(p in _DATA_PARTS for p in parts[1:])


def validation_refs(nodes: list[ast.AST]) -> tuple[Ref, ...]:
    """Every name, attribute, argument or string in `nodes` (walked) that names validation data."""
    found: dict[tuple[int, str], Ref] = {}
    for root in nodes:
        for node in ast.walk(root):
            name = None
            if isinstance(node, ast.Name):
                name = node.id
            elif isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, (ast.arg, ast.keyword)):
                name = node.arg
            if name is not None and is_validation_name(name):
                line = getattr(node, "lineno", None) or getattr(root, "lineno", 0)
                found.setdefault((line, name), Ref(line, name))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _VAL_FILE.search(node.value):
                text = node.value if len(node.value) <= 60 else node.value[:57] + "..."
                found.setdefault((node.lineno, text), Ref(node.lineno, repr(text)))
    return tuple(sorted(found.values(), key=lambda r: (r.line, r.name)))


def _strings(node: ast.AST) -> list[str]:
    """The literal text of every string constant under `node` (f-string parts included)."""
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def _own_parts(stmt: ast.stmt) -> list[ast.AST]:
    """What a statement holds besides the statement lists nested in it (the test of an `if`, ...)."""
    return [child for name, value in ast.iter_fields(stmt) if name not in _BODIES
            for child in (value if isinstance(value, list) else [value]) if isinstance(child, ast.AST)]


def _nested_bodies(stmt: ast.AST) -> list[list[ast.stmt]]:
    bodies = []
    for name in _BODIES:
        value = getattr(stmt, name, None)
        if isinstance(value, list) and value:
            if isinstance(value[0], ast.stmt):
                bodies.append(value)
            else:  # except handlers, match cases: statement lists one level down
                bodies += [inner.body for inner in value if getattr(inner, "body", None)]
    return bodies


def _end(node: ast.AST) -> int:
    return getattr(node, "end_lineno", None) or getattr(node, "lineno", 0)


def warmup_block(tree: ast.Module) -> Block | None:
    """The code a `compile warmup done (N s)` log line timed: the statements of the innermost block that
    prints it, from the statement that prints the start of the warm-up (`warming up ...`), else from the
    start of the block, to the one that prints its end. None when the program prints no such line.
    One pass over the tree: each statement's own parts are read once."""
    stack: list[list[ast.stmt]] = [tree.body]
    while stack:
        body = stack.pop()
        for index, stmt in enumerate(body):
            parts = [stmt] if not _nested_bodies(stmt) else _own_parts(stmt)
            if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and any(
                    WARMUP_DONE.search(text) for part in parts for text in _strings(part)):
                start = next((back for back in range(index - 1, -1, -1)
                              if any(WARMUP_START.search(t) and not WARMUP_DONE.search(t) for t in _strings(body[back]))),
                             0)
                chosen = body[start:index + 1]
                return Block(chosen[0].lineno, _end(chosen[-1]), validation_refs(chosen))
            stack.extend(reversed(_nested_bodies(stmt)))
    return None


@dataclass(frozen=True)
class CalibrationRead:
    """Calibration code that names validation data: where (function or call) and what it names."""

    where: str
    line: int
    refs: tuple[Ref, ...]


def calibration_reads(tree: ast.Module) -> list[CalibrationRead]:
    """Calibration (GPTQ, Hessian collection) that names validation data: the body of a function whose
    name says calibration, and the arguments of a call to one (a name passed along is followed to its
    assignments in the same function). One pass over the tree, tracking the enclosing function."""
    found: list[CalibrationRead] = []
    calls: list[tuple[int, ast.Call]] = []  # (scope id, call)
    assigned: dict[int, dict[str, list[ast.AST]]] = {}
    stack: list[tuple[ast.AST, int]] = [(tree, id(tree))]
    while stack:
        node, scope = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and node is not tree:
            if not isinstance(node, ast.Lambda) and CALIBRATION_NAME.search(node.name):
                refs = validation_refs(node.body + [node.args])
                if refs:
                    found.append(CalibrationRead(f"function {node.name}", node.lineno, refs))
            scope = id(node)
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            if name is not None and CALIBRATION_NAME.search(name):
                calls.append((scope, node))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(scope, {}).setdefault(target.id, []).append(node.value)
        stack.extend((child, scope) for child in ast.iter_child_nodes(node))
    for scope, call in calls:
        args = [*call.args, *(k.value for k in call.keywords)]
        refs = set(validation_refs(args))
        for arg in args:
            if isinstance(arg, ast.Name):
                refs.update(validation_refs(assigned.get(scope, {}).get(arg.id, [])))
        if refs:
            found.append(CalibrationRead(f"call of {_call_name(call)}", call.lineno,
                                         tuple(sorted(refs, key=lambda r: (r.line, r.name)))))
    return sorted(found, key=lambda r: r.line)


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


# ---------------------------------------------------------------- the Python a script needs


@dataclass(frozen=True)
class PythonNeed:
    """The newest syntax a program uses: the Python version it needs, the line, and what it is."""

    version: tuple[int, int]
    line: int
    what: str


_TYPE_STMT = re.compile(r"^\s*type\s+[A-Za-z_]\w*\s*(?:\[[^\]]*\])?\s*=")
_GENERIC_DEF = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+[A-Za-z_]\w*\s*\[")
NESTED_QUOTES = "an f-string that reuses its own quote inside a replacement field (Python 3.12, PEP 701)"


def python_need(text: str, tree: ast.Module | None = None) -> PythonNeed | None:
    """The Python 3.12 syntax `text` uses (nested same-quote f-strings, `type` statements, generic
    `def f[T]` / `class C[T]`), or None. Under Python 3.11 such source does not parse: the parser's
    complaint (an f-string error, or a `type`/generic line) is read as that need. `tree`: the text's
    tree when the caller has it (then, under 3.11, the text needs nothing newer)."""
    if sys.version_info >= (3, 12):
        return _need_312(text, tree)
    if tree is not None:
        return None
    _, exc = _parsed(text)
    if not isinstance(exc, SourceSyntaxError):
        return None
    lines = text.splitlines()
    line = exc.line or 0
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    if "f-string" in str(exc):
        return PythonNeed((3, 12), line, NESTED_QUOTES)
    if _TYPE_STMT.match(source_line):
        return PythonNeed((3, 12), line, "a `type` alias statement (Python 3.12, PEP 695)")
    if _GENERIC_DEF.match(source_line):
        return PythonNeed((3, 12), line, "a generic `def`/`class` with type parameters (Python 3.12, PEP 695)")
    return None


def _need_312(text: str, tree: ast.Module | None) -> PythonNeed | None:  # pragma: no cover - Python 3.12+ only
    tree = tree if tree is not None else _tree(text)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if type(node).__name__ == "TypeAlias":
            return PythonNeed((3, 12), node.lineno, "a `type` alias statement (Python 3.12, PEP 695)")
        if getattr(node, "type_params", None):
            return PythonNeed((3, 12), node.lineno, "a generic `def`/`class` with type parameters (Python 3.12, PEP 695)")
    start, middle = getattr(tokenize, "FSTRING_START", None), getattr(tokenize, "FSTRING_MIDDLE", None)
    end = getattr(tokenize, "FSTRING_END", None)
    open_quotes: list[str] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == start:
                quote = token.string.lstrip("rRbBuUfF")
                if quote in open_quotes:
                    return PythonNeed((3, 12), token.start[0], NESTED_QUOTES)
                open_quotes.append(quote)
            elif token.type == end and open_quotes:
                open_quotes.pop()
            elif token.type == tokenize.STRING and open_quotes:
                quote = token.string.lstrip("rRbBuU")[:3]
                quote = quote if quote in ('"""', "'''") else quote[:1]
                if quote in open_quotes:
                    return PythonNeed((3, 12), token.start[0], NESTED_QUOTES)
            elif token.type == middle:
                continue
    except (tokenize.TokenError, SyntaxError):
        return None
    return None
