"""Minify a training script with python-minifier, choosing per script only options that keep it the same program.

What each option may break, and what we look for before turning it on:
- renaming locals: code that reads local names by string (`locals()`, `vars()` with no argument,
  `eval`/`exec` of text). python-minifier also refuses to rename when it sees `globals()` or
  `vars(x)`, which read only globals or x's attributes (never renamed): we hide those calls from it
  behind a placeholder name and put them back afterwards, so renaming works and they run unchanged.
- removing annotations: `torch.library.custom_op`, `torch.jit`, `typing.get_type_hints`,
  `inspect.signature` read argument and return annotations at run time; a module's
  `__annotations__` holds its variable annotations. Class attribute annotations (dataclasses,
  NamedTuple) are always kept.
- removing docstrings: anything that reads `__doc__`.
- asserts, `if __debug__` blocks, positional-only parameters and global names are never touched.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from golfkit.errors import GolfkitError
from golfkit.files import parse_source
from golfkit.findings import Finding, info, warning

# Identifiers whose use means argument/return annotations are read at run time.
_ANNOTATION_READERS = ("custom_op", "library", "script", "get_type_hints", "signature", "__annotations__",
                       "infer_schema", "triton_op", "register_fake")
# Calls that read local names by string: renaming locals would break them.
_LOCAL_READERS = {"locals", "eval", "exec"}
_PLACEHOLDERS = {"globals": "_golfkit_globals_", "vars": "_golfkit_vars_"}


@dataclass(frozen=True)
class MinifyOptions:
    """The python-minifier options chosen for one script, and why (as findings)."""

    rename_locals: bool
    remove_argument_annotations: bool
    remove_variable_annotations: bool
    remove_literal_statements: bool

    def to_json(self) -> dict[str, bool]:
        return {
            "rename_locals": self.rename_locals,
            "remove_argument_annotations": self.remove_argument_annotations,
            "remove_variable_annotations": self.remove_variable_annotations,
            "remove_literal_statements": self.remove_literal_statements,
        }


@dataclass(frozen=True)
class Minified:
    source: str
    options: MinifyOptions
    findings: tuple[Finding, ...]


def parse(source: str, where: str) -> ast.Module:
    """Parse Python source, bounded (`files.parse_source`), or raise GolfkitError naming the line (and
    Python 3.12 syntax, when that is why)."""
    return parse_source(source, where)


def choose_options(tree: ast.Module, source: str, where: str) -> tuple[MinifyOptions, list[Finding]]:
    """Pick the safe python-minifier options for this script and say why some are off."""
    findings: list[Finding] = []
    called = _called_builtin_names(tree)
    local_readers = sorted(n for n in _LOCAL_READERS if n in called)
    if _calls(tree, "vars", nargs=0):
        local_readers.append("vars()")
    rename = not local_readers
    if not rename:
        findings.append(info(
            "minify.rename.off",
            f"local names are kept: the script calls {', '.join(local_readers)}, which read locals by name",
            file=where, evidence={"calls": local_readers},
        ))
    identifiers = _identifiers(tree)
    readers = [n for n in _ANNOTATION_READERS if n in identifiers]
    if readers:
        findings.append(info(
            "minify.annotations.kept",
            f"argument and return annotations are kept: the script uses {', '.join(readers)}, "
            "which reads them at run time",
            file=where, evidence={"readers": readers},
        ))
    uses_doc = "__doc__" in identifiers
    if uses_doc:
        findings.append(info(
            "minify.docstrings.kept", "docstrings are kept: the script reads __doc__", file=where,
        ))
    options = MinifyOptions(
        rename_locals=rename,
        remove_argument_annotations=not readers,
        remove_variable_annotations="__annotations__" not in identifiers,
        remove_literal_statements=not uses_doc,
    )
    return options, findings


def minify_source(source: str, where: str = "script") -> Minified:
    """Minify `source` with the options `choose_options` finds safe; raise GolfkitError if it does not parse."""
    import python_minifier

    tree = parse(source, where)
    options, findings = choose_options(tree, source, where)
    hidden, restore = _hide_safe_calls(source, tree) if options.rename_locals else (source, {})
    annotations = python_minifier.RemoveAnnotationsOptions(
        remove_variable_annotations=options.remove_variable_annotations,
        remove_return_annotations=options.remove_argument_annotations,
        remove_argument_annotations=options.remove_argument_annotations,
        remove_class_attribute_annotations=False,
    )
    try:
        out = python_minifier.minify(
            hidden,
            filename=where,
            remove_annotations=annotations,
            remove_pass=True,
            remove_literal_statements=options.remove_literal_statements,
            combine_imports=True,
            hoist_literals=False,  # measured: larger after compression on every script tried
            rename_locals=options.rename_locals,
            rename_globals=False,  # top-level names are the script's interface (pickles, torchrun, imports)
            remove_object_base=True,
            convert_posargs_to_args=False,
            preserve_shebang=True,
            remove_asserts=False,
            remove_debug=False,
            remove_explicit_return_none=True,
            remove_builtin_exception_brackets=True,
            constant_folding=True,
        )
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise GolfkitError(f"{where}: python-minifier could not process this script ({exc})") from None
    for placeholder, name in restore.items():
        out = re.sub(rf"\b{placeholder}\b", name, out)
    return Minified(out if out.endswith("\n") or not out else out + "\n", options, tuple(findings))


def _identifiers(tree: ast.Module) -> set[str]:
    """Every name, attribute and imported name in the code (not in comments or strings)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.update(node.name.split("."))
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.update(node.module.split("."))
    return found


def _called_builtin_names(tree: ast.Module) -> set[str]:
    return {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _calls(tree: ast.Module, name: str, nargs: int) -> list[ast.Call]:
    return [
        n for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
        and len(n.args) == nargs and not n.keywords
    ]


def _bound_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def _hide_safe_calls(source: str, tree: ast.Module) -> tuple[str, dict[str, str]]:
    """Rename `globals()` and `vars(x)` calls to placeholders python-minifier does not know.

    Both read only names that are never renamed (globals, attributes), so renaming locals stays safe;
    the placeholders are put back after minifying, so the program runs these exact calls.
    """
    bound = _bound_names(tree)
    sites = []
    for name, nargs in (("globals", 0), ("vars", 1)):
        placeholder = _PLACEHOLDERS[name]
        if name in bound or placeholder in source:
            continue
        sites += [(c.func, placeholder) for c in _calls(tree, name, nargs)]
    if not sites:
        return source, {}
    lines = source.splitlines(keepends=True)
    # Edit right to left so earlier offsets stay valid; ast offsets count UTF-8 bytes.
    for node, placeholder in sorted(sites, key=lambda s: (s[0].lineno, s[0].col_offset), reverse=True):
        raw = lines[node.lineno - 1].encode("utf-8")
        if raw[node.col_offset:node.end_col_offset] != node.id.encode():
            return source, {}  # positions we cannot trust (inside some f-strings): leave it all alone
        raw = raw[:node.col_offset] + placeholder.encode() + raw[node.end_col_offset:]
        lines[node.lineno - 1] = raw.decode("utf-8")
    return "".join(lines), {p: n for n, p in _PLACEHOLDERS.items() if any(s[1] == p for s in sites)}


def traps(tree: ast.Module, where: str) -> list[Finding]:
    """Things that behave differently once the program runs from an exec'd wrapper instead of its file."""
    found: list[Finding] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        text = ast.unparse(node.func)
        if text in ("inspect.getsource", "inspect.getsourcelines", "inspect.getsourcefile", "getsource",
                    "torch.jit.script", "jit.script", "linecache.getlines"):
            found.append(warning(
                "minify.trap.needs_source",
                f"{text}() reads the program's source file; inside a wrapper the code comes from exec "
                "and has no file, so this call fails or sees the wrapper (use --wrap none)",
                file=where, line=node.lineno, evidence={"call": text},
            ))
        elif reads_own_file_as_text(node):
            found.append(warning(
                "minify.trap.reads_own_file",
                "the script reads its own file as text; a latin-1 wrapper is not UTF-8, so only ASCII "
                "encodings (ascii7, base85) are used for it. Read it with Path(__file__).read_bytes() "
                "(and count len() of the bytes) to allow the latin1 encoding, about 15% smaller",
                file=where, line=node.lineno, evidence={"call": ast.unparse(node)[:120]},
            ))
    return found


def reads_own_file_as_text(node: ast.Call) -> bool:
    """`open(__file__)` in text mode or `Path(__file__).read_text(...)`: the script reading itself."""
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "read_text":
        return _is_own_path(func.value)
    if isinstance(func, ast.Name) and func.id == "open" and node.args and _is_own_path(node.args[0]):
        mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
        return not (isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "b" in mode.value)
    return False


def _is_own_path(node: ast.AST) -> bool:
    """`__file__`, `sys.argv[0]`, `Path(__file__).resolve()`: the path of the script itself, not a sibling."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "resolve", "absolute", "expanduser"):
        node = node.func.value
    if isinstance(node, ast.Call) and len(node.args) == 1 and ast.unparse(node.func) in (
            "Path", "pathlib.Path", "os.path.abspath", "os.path.realpath"):
        node = node.args[0]
    if ast.unparse(node) == "sys.argv[0]":
        return True
    return isinstance(node, ast.Name) and node.id == "__file__"
