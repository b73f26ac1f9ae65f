"""Shipped scripts as evidence: bytes, text, decoded wrappers, and the sibling files they use.

Nothing here runs the script. Wrappers are decoded by `golfkit.wrappers` (a syntax-tree
interpreter that knows only decoders); sibling files are found by reading the syntax tree of the
program that runs (imports, and string literals naming a file of the record folder).
"""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

from golfkit.errors import GolfkitError
from golfkit.files import SourceRefused, SourceSyntaxError, decode_source, parse_source
from golfkit.verify.evidence import ParseRefusal, ScriptEvidence, SiblingRef
from golfkit.wrappers import unwrap_source

EXEC_CALLS = {"exec", "compile", "run_path", "run_module", "import_module", "__import__", "spec_from_file_location"}
QUOTED = re.compile(r"""(?P<q>["'])(?P<s>[^"'\n\\]{1,200})(?P=q)""")
IMPORT_LINE = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w., ]+))", re.MULTILINE)


def read_script(path: Path, name: str, data: bytes) -> ScriptEvidence:
    """Evidence for one shipped .py file whose bytes are `data` (read by the caller)."""
    script = ScriptEvidence(path=name, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), text=None)
    try:
        script.text = decode_source(data, name)
    except GolfkitError as exc:
        script.problem = str(exc)
        return script
    try:
        unwrapped = unwrap_source(script.text, where=name)  # parses the file and each decoded layer, bounded
    except SourceRefused as exc:
        script.refused = ParseRefusal(exc.kind, str(exc), exc.line if exc.where == name else None)
        return script
    except GolfkitError as exc:
        script.problem = str(exc)  # begins with `name`
        return script
    if unwrapped is not None:
        script.unwrapped = unwrapped.source
        script.wrapper_layers = unwrapped.layers
    return script


def find_siblings(script: ScriptEvidence, folder_files: dict[str, int], ignore: set[str]) -> list[SiblingRef]:
    """Files of the record folder that the script's program imports, execs or names.

    `folder_files` maps top-level file names of the record folder to their sizes; names in
    `ignore` (the script itself, logs, README, submission JSON) are never reported.
    """
    program = script.program
    if program is None:
        return []
    candidates = {name: size for name, size in folder_files.items() if name not in ignore}
    if script.refused is not None:
        return _siblings_by_text(program, candidates)  # over a parse bound: read by pattern, never parsed
    try:
        tree = parse_source(program, script.path)
    except (SourceSyntaxError, SourceRefused):
        return _siblings_by_text(program, candidates)
    script.tree = tree  # the checks read the program from this tree (golfkit/verify/checks/program.py)
    refs: dict[str, SiblingRef] = {}
    for node in ast.walk(tree):
        for module, line in _imported_modules(node):
            _add_module(refs, module, line, folder_files)
        if isinstance(node, ast.Call):
            _call_refs(node, candidates, refs)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = _sibling_name(node.value, candidates)
            if name and name not in refs:
                refs[name] = SiblingRef(name, "open", getattr(node, "lineno", 0), True, candidates[name])
    return sorted(refs.values(), key=lambda ref: (ref.line, ref.name))


def _imported_modules(node: ast.AST) -> list[tuple[str, int]]:
    if isinstance(node, ast.Import):
        return [(alias.name.split(".")[0], node.lineno) for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level and not node.module:
            return [(alias.name, node.lineno) for alias in node.names]
        if node.module:
            return [(node.module.split(".")[0], node.lineno)]
    return []


def _add_module(refs: dict[str, SiblingRef], module: str, line: int, folder_files: dict[str, int]) -> None:
    file_name = f"{module}.py"
    if file_name in folder_files and file_name not in refs:
        refs[file_name] = SiblingRef(file_name, "import", line, True, folder_files[file_name])


def _call_refs(node: ast.Call, candidates: dict[str, int], refs: dict[str, SiblingRef]) -> None:
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    if name == "open" and _writes(node):
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                found = _sibling_name(sub.value, candidates)
                if found:
                    refs.setdefault(found, SiblingRef(found, "write", node.lineno, True, candidates[found]))
        return
    if name not in EXEC_CALLS:
        return
    how = "run_path" if name in {"run_path", "run_module"} else "import" if "import" in name else "exec"
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            found = _sibling_name(sub.value, candidates) or _sibling_name(f"{sub.value}.py", candidates)
            if found and (found not in refs or refs[found].how == "open"):
                refs[found] = SiblingRef(found, how, node.lineno, True, candidates[found])


def _writes(node: ast.Call) -> bool:
    modes = [node.args[1]] if len(node.args) > 1 else []
    modes += [kw.value for kw in node.keywords if kw.arg == "mode"]
    return any(isinstance(m, ast.Constant) and isinstance(m.value, str) and set(m.value) & set("wax")
               for m in modes)


def _sibling_name(text: str, candidates: dict[str, int]) -> str | None:
    """The file name a literal refers to when it names a file of the record folder."""
    if not text or len(text) > 300 or "\n" in text:
        return None
    base = text.replace("\\", "/").rstrip("/").split("/")[-1]
    if base in candidates and (text == base or text.startswith(("./", "/")) or "/" in text):
        return base
    return None


def _siblings_by_text(program: str, candidates: dict[str, int]) -> list[SiblingRef]:
    """Fallback for a program this Python cannot parse: imports and quoted names by pattern."""
    refs: dict[str, SiblingRef] = {}
    for match in IMPORT_LINE.finditer(program):
        line = program.count("\n", 0, match.start()) + 1
        modules = [match.group(1)] if match.group(1) else [m.strip().split(" ")[0] for m in match.group(2).split(",")]
        for module in modules:
            file_name = f"{module.split('.')[0]}.py"
            if file_name in candidates:
                refs.setdefault(file_name, SiblingRef(file_name, "import", line, True, candidates[file_name]))
    for match in QUOTED.finditer(program):
        found = _sibling_name(match.group("s"), candidates)
        if found and found not in refs:
            line = program.count("\n", 0, match.start()) + 1
            refs[found] = SiblingRef(found, "open", line, True, candidates[found])
    return sorted(refs.values(), key=lambda ref: (ref.line, ref.name))
