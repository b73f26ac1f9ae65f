"""Minify a training script with python-minifier, choosing per script only options that keep it the same program.

What each option may break, and what we look for before turning it on:
- renaming locals: code that reads local names by string (`locals()`, `vars()` with no argument,
  `eval`/`exec` of text) turns renaming off everywhere. `dir()` with no argument lists the names of
  the scope it runs in: the locals of each function that calls it keep their names (the rest are
  renamed). python-minifier also refuses to rename when it sees `globals()` or `vars(x)`, which read
  only globals or x's attributes (never renamed): we hide those calls from it behind a placeholder
  name and put them back afterwards, so renaming works and they run unchanged.
- removing annotations: `typing.get_type_hints`, `inspect.signature`, `torch.jit` and a module's
  `__annotations__` read any function's annotations, so all are kept when the code names them;
  `torch.library.custom_op` (and `triton_op`, `register_fake`) and Triton's `@jit`/`@autotune`/
  `@heuristics` read the annotations of the function they decorate (`tl.constexpr`), so those
  functions keep theirs. Class attribute annotations (dataclasses, NamedTuple) are always kept.
- removing docstrings: a docstring is kept only where its `__doc__` can be read: the module's when
  the code names `__doc__` bare (`argparse(description=__doc__)`), a function's or class's when the
  code reads `NAME.__doc__`; all of them when `__doc__` is read of something golfkit cannot name
  (`self.__doc__`, `getattr`, `inspect.getdoc`) or a library that reads docstrings is imported
  (click, typer, fire, docopt).
- asserts, `if __debug__` blocks, positional-only parameters and global names are never touched.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass

from golfkit.errors import GolfkitError
from golfkit.files import parse_source
from golfkit.findings import Finding, info, warning

# Identifiers whose use means any function's argument/return annotations may be read at run time.
_ANNOTATION_READERS = ("get_type_hints", "signature", "__annotations__", "get_annotations", "infer_schema", "script")
# Decorators that read the annotations of the function they decorate (torch custom ops, Triton kernels).
_DECORATOR_ANNOTATION_READERS = ("custom_op", "triton_op", "register_fake", "jit", "autotune", "heuristics")
# Names whose use means docstrings may be read without `__doc__` being named (or of objects golfkit
# cannot name): keep them all.
_DOC_READERS_ALL = ("getdoc", "pydoc", "help", "click", "typer", "fire", "docopt")
# Calls that read local names by string: renaming locals would break them.
_LOCAL_READERS = {"locals", "eval", "exec"}
_PLACEHOLDERS = {"globals": "_golfkit_globals_", "vars": "_golfkit_vars_"}
MODULE_DOC = "<module>"


@dataclass(frozen=True)
class MinifyOptions:
    """The python-minifier options chosen for one script, and why (as findings).

    `annotated` names the functions that keep their argument annotations when only some do (the rest
    lose theirs); `docstrings` the objects (`<module>`, function or class names) whose docstrings stay
    when only some do; `kept_locals` the local names left as they are (functions that call `dir()`).
    """

    rename_locals: bool
    remove_argument_annotations: bool
    remove_variable_annotations: bool
    remove_literal_statements: bool
    annotated: tuple[str, ...] = ()
    docstrings: tuple[str, ...] = ()
    kept_locals: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "rename_locals": self.rename_locals,
            "remove_argument_annotations": self.remove_argument_annotations,
            "remove_variable_annotations": self.remove_variable_annotations,
            "remove_literal_statements": self.remove_literal_statements,
            "annotations_kept_for": list(self.annotated),
            "docstrings_kept_for": list(self.docstrings),
            "locals_kept": list(self.kept_locals),
        }

    @property
    def selective(self) -> bool:
        """True when some, not all, annotations or docstrings stay: golfkit removes the others itself."""
        return bool(self.annotated) or bool(self.docstrings)


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
    kept_locals: tuple[str, ...] = ()
    if not rename:
        findings.append(info(
            "minify.rename.off",
            f"local names are kept: the script calls {', '.join(local_readers)}, which read locals by name",
            file=where, evidence={"calls": local_readers},
        ))
    else:
        scopes = dir_scopes(tree)
        if scopes:
            kept_locals = tuple(sorted({n for names in scopes.values() for n in names}))
            findings.append(info(
                "minify.rename.off",
                f"the locals of {', '.join(sorted(scopes))} keep their names: {'it calls' if len(scopes) == 1 else 'they call'} "
                "dir(), which lists them by name (other functions' locals are renamed)",
                file=where, evidence={"calls": ["dir()"], "functions": sorted(scopes), "names": list(kept_locals)},
            ))
    identifiers = _identifiers(tree)
    outside = _identifiers(tree, skip_decorators=True)
    readers = [n for n in _ANNOTATION_READERS if n in identifiers]
    # a decorator's name used elsewhere too (`torch.jit.script(f)`, `custom_op(...)(f)`): any function may be read
    readers += [n for n in _DECORATOR_ANNOTATION_READERS if n in outside]
    decorated = [] if readers else annotation_readers_by_decorator(tree)
    if readers:
        findings.append(info(
            "minify.annotations.kept",
            f"argument and return annotations are kept: the script uses {', '.join(readers)}, "
            "which reads them at run time",
            file=where, evidence={"readers": readers},
        ))
    elif decorated:
        findings.append(info(
            "minify.annotations.kept",
            f"the annotations of {', '.join(decorated[:8])}{' ...' if len(decorated) > 8 else ''} are kept: "
            "their decorators (Triton's jit, custom_op) read them at run time; other functions lose theirs",
            file=where, evidence={"functions": decorated},
        ))
    docs = docstrings_read(tree, identifiers)
    if docs:
        what = ("every docstring is kept" if docs == ("*",)
                else "the docstrings of " + ", ".join("the module" if d == MODULE_DOC else d for d in docs[:8])
                + " are kept (the others are removed)")
        findings.append(info(
            "minify.docstrings.kept", f"{what}: the script reads their __doc__", file=where,
            evidence={"objects": list(docs)},
        ))
    options = MinifyOptions(
        rename_locals=rename,
        remove_argument_annotations=not readers,
        remove_variable_annotations="__annotations__" not in identifiers,
        remove_literal_statements=not docs,
        annotated=tuple(decorated),
        docstrings=() if docs == ("*",) else docs,
        kept_locals=kept_locals,
    )
    return options, findings


def dir_scopes(tree: ast.Module) -> dict[str, set[str]]:
    """For each function that calls `dir()` with no argument in its own scope: the names bound there
    (arguments, assignments, imports, nested definitions), which `dir()` lists."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            own = list(_own_scope(node))
            if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "dir" and not n.args
                   and not n.keywords for n in own):
                names = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
                for n in own:
                    if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
                        names.add(n.id)
                    elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not node:
                        names.add(n.name)
                    elif isinstance(n, ast.alias):
                        names.add((n.asname or n.name).split(".")[0])
                    elif isinstance(n, ast.ExceptHandler) and n.name:
                        names.add(n.name)
                found[getattr(node, "name", "<lambda>")] = names
    return found


def _own_scope(func: ast.AST):
    """The nodes of `func`'s own scope: its body, not the bodies of nested functions, classes or
    comprehensions (their names are the nested scope's), but their names and decorators."""
    todo = list(func.body) if isinstance(func.body, list) else [func.body]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            todo.extend(node.decorator_list)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        todo.extend(ast.iter_child_nodes(node))


def annotation_readers_by_decorator(tree: ast.Module) -> list[str]:
    """Functions decorated by something that reads their annotations (custom_op, Triton's jit)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            words = {w for d in node.decorator_list for w in _identifiers(d)}
            if words & set(_DECORATOR_ANNOTATION_READERS) and node.name not in names:
                names.append(node.name)
    return names


def docstrings_read(tree: ast.Module, identifiers: set[str]) -> tuple[str, ...]:
    """Whose docstrings the code can read: () none, ("*",) every one, else `<module>` and the names of
    functions and classes whose `__doc__` is read."""
    if "__doc__" not in identifiers and not any(n in identifiers for n in _DOC_READERS_ALL):
        return ()
    if any(n in identifiers for n in _DOC_READERS_ALL):
        return ("*",)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "__doc__":
            found.add(MODULE_DOC)
        elif isinstance(node, ast.Attribute) and node.attr == "__doc__":
            base = node.value
            if isinstance(base, ast.Name) and base.id not in ("self", "cls"):
                found.add(base.id)
            elif isinstance(base, ast.Attribute):
                found.add(base.attr)
            else:
                return ("*",)
        elif isinstance(node, ast.Constant) and node.value == "__doc__":
            return ("*",)  # getattr(x, "__doc__") and the like: of anything
    return tuple(sorted(found, key=lambda n: (n != MODULE_DOC, n)))


def strip_for(tree: ast.Module, options: MinifyOptions) -> ast.Module:
    """A copy of `tree` with what golfkit removes itself when only some annotations or docstrings stay:
    argument/return annotations of functions not in `options.annotated`, and docstrings and other
    string statements except the docstrings in `options.docstrings`."""
    tree = copy.deepcopy(tree)
    keep_ann = set(options.annotated)
    keep_doc = set(options.docstrings)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and options.remove_argument_annotations \
                and node.name not in keep_ann:
            for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs, node.args.vararg,
                      node.args.kwarg):
                if a is not None:
                    a.annotation = None
            node.returns = None
        if options.docstrings and isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = MODULE_DOC if isinstance(node, ast.Module) else node.name
            body = []
            for i, stmt in enumerate(node.body):
                is_doc = i == 0 and _is_string_statement(stmt)
                if _is_string_statement(stmt) and not (is_doc and name in keep_doc):
                    continue
                body.append(stmt)
            node.body = body or [ast.Pass()]
        elif options.docstrings and hasattr(node, "body") and isinstance(node.body, list):
            for part in ("body", "orelse", "finalbody"):
                stmts = getattr(node, part, None)
                if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                    kept = [s for s in stmts if not _is_string_statement(s)]
                    setattr(node, part, kept or ([ast.Pass()] if part == "body" else []))
    return ast.fix_missing_locations(tree)


def _is_string_statement(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def minify_source(source: str, where: str = "script") -> Minified:
    """Minify `source` with the options `choose_options` finds safe; raise GolfkitError if it does not parse."""
    import python_minifier

    tree = parse(source, where)
    options, findings = choose_options(tree, source, where)
    text = source
    if options.selective:
        # golfkit removes the annotations and docstrings that go; python-minifier keeps what is left
        shebang = source.split("\n", 1)[0] + "\n" if source.startswith("#!") else ""
        text = shebang + ast.unparse(strip_for(tree, options)) + "\n"
        tree = parse(text, where)
    hidden, restore = _hide_safe_calls(text, tree) if options.rename_locals else (text, {})
    remove_args = options.remove_argument_annotations and not options.selective
    annotations = python_minifier.RemoveAnnotationsOptions(
        remove_variable_annotations=options.remove_variable_annotations,
        remove_return_annotations=remove_args,
        remove_argument_annotations=remove_args,
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
            preserve_locals=list(options.kept_locals),
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


def _identifiers(tree: ast.AST, skip_decorators: bool = False) -> set[str]:
    """Every name, attribute and imported name in the code (not in comments or strings); with
    `skip_decorators`, not those of function decorators."""
    found: set[str] = set()
    todo = [tree]
    while todo:
        node = todo.pop()
        if skip_decorators and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            todo.extend(c for c in ast.iter_child_nodes(node) if c not in node.decorator_list)
        else:
            todo.extend(ast.iter_child_nodes(node))
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
    """Things that behave differently once the program runs from an exec'd wrapper instead of its file.
    (Reading a function's source is not one: golfkit's wrappers register the program in linecache, so
    `inspect.getsource` and the tools built on it read the minified program.)"""
    found: list[Finding] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if reads_own_file_as_text(node):
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
