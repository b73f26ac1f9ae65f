"""Proof that a packed program is the program it claims to be, established without running it.

1. The file decodes (statically, `unwrap_source`) to exactly the minified source.
2. That source parses and compiles.
3. Its top-level definitions (and the members of top-level classes) are those of the original.
4. It imports exactly the modules and names the original imports.
"""

from __future__ import annotations

import ast

from golfkit.files import SourceSyntaxError, parse_source
from golfkit.findings import Finding, error, info
from golfkit.wrappers import unwrap_source


def definitions(tree: ast.Module) -> set[str]:
    """Names bound at module level (through if/try/with/for blocks too), and `Class.member` for class bodies."""
    names: set[str] = set()
    _collect(tree.body, "", names)
    return names


def _collect(body: list[ast.stmt], prefix: str, names: set[str]) -> None:
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(prefix + stmt.name)
        elif isinstance(stmt, ast.ClassDef):
            names.add(prefix + stmt.name)
            if not prefix:
                _collect(stmt.body, stmt.name + ".", names)
        elif isinstance(stmt, (ast.Assign, ast.AugAssign, ast.For, ast.AsyncFor)) or (
                isinstance(stmt, ast.AnnAssign) and stmt.value is not None):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                names.update(prefix + n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names.update(prefix + (a.asname or a.name).split(".")[0] for a in stmt.names)
        if isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)) or (
                hasattr(ast, "TryStar") and isinstance(stmt, ast.TryStar)):
            for part in ("body", "orelse", "finalbody"):
                _collect(getattr(stmt, part, []), prefix, names)
            for handler in getattr(stmt, "handlers", []):
                _collect(handler.body, prefix, names)


def imports(tree: ast.Module) -> set[str]:
    """Every module imported anywhere, as `module` or `module:name` for from-imports (aliases ignored)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found.update(f"{module}:{a.name}" for a in node.names)
    return found


def prove(packed: str, minified: str | None, original: str | None, where: str = "output",
          original_where: str | None = None) -> list[Finding]:
    """Check `packed` (the file's text) against the minified source and the original; [] means proven.

    With `minified` None, the decoded text itself is what is checked; with `original` None, steps 3-4
    are skipped (a record's wrapper, whose readable source we do not have). Raises GolfkitError for
    input over a parse bound (`files.parse_source`) and for an original that does not parse.
    """
    findings: list[Finding] = []
    unwrapped = unwrap_source(packed, where=where)
    decoded = unwrapped.source if unwrapped else packed
    if minified is not None and decoded != minified:
        findings.append(error(
            "minify.proof.decode_mismatch",
            "the output does not decode to the minified source; do not ship it (a golfkit bug: report it)",
            file=where, evidence={"decoded_bytes": len(decoded.encode()), "minified_bytes": len(minified.encode())},
        ))
        return findings
    try:
        tree = parse_source(decoded, where)
        compile(tree, where, "exec")
    except SourceSyntaxError as exc:
        findings.append(_does_not_compile(str(exc), exc.line, where))
        return findings
    except (SyntaxError, ValueError) as exc:
        findings.append(_does_not_compile(str(getattr(exc, "msg", exc)), getattr(exc, "lineno", None), where))
        return findings
    if original is None:
        return findings
    before = parse_source(original, original_where or f"{where} (original)")
    for what, get, fid in (("top-level definitions", definitions, "minify.proof.definitions_differ"),
                           ("imports", imports, "minify.proof.imports_differ")):
        a, b = get(before), get(tree)
        if a != b:
            findings.append(error(
                fid,
                f"the minified program's {what} differ from the original's; do not ship it",
                file=where,
                evidence={"missing": sorted(a - b)[:20], "added": sorted(b - a)[:20]},
            ))
    return findings


def _does_not_compile(why: str, line: int | None, where: str) -> Finding:
    return error("minify.proof.does_not_compile",
                 f"the decoded program does not compile here ({why}); if it needs Python 3.12, check it under 3.12",
                 file=where, line=line)


def proof_summary(packed: str, where: str = "output") -> Finding:
    """An info finding that says how the file is packed (for --check reports)."""
    unwrapped = unwrap_source(packed, where=where)
    layers = list(unwrapped.layers) if unwrapped else []
    text = " > ".join(layers) if layers else "plain source (not a wrapper)"
    return info("minify.proof.layers", f"packing: {text}", evidence={"layers": layers})
