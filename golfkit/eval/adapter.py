"""The automatic adapter: a record's own script -> its model with the artifact's weights -> logits.

Runs only inside golfkit's sandbox (the child of golfkit.eval.trusted), never in golfkit's own process.
Nothing is asked of the record; each step uses what real records define, in this order:

1. Environment. The script's `Hyperparameters` read environment variables when the class is defined,
   so they are set before the import: each `NAME=VALUE` given (a hyperparameter as the run's log or
   README printed it, e.g. `num_layers=11`, mapped to the variable its class attribute reads, found
   in the source's syntax tree; or the variable itself, `NUM_LAYERS=11`).
2. Import. A self-extracting wrapper is decoded first (golfkit.wrappers; nothing executed) and the
   decoded source imported from a file (Triton reads kernels' source through `inspect`). The import
   runs with `__name__` other than "__main__", so training does not start. CUDA-only modules missing
   here (flash-attention, Triton) get golfkit's CPU stand-ins (golfkit.standins).
3. Model. `GPT` built from the hyperparameters (constructor parameters by name, or the whole
   object), then given the dtypes the script gives its evaluation model: the cast chained on its
   `GPT(...)` construction (`.bfloat16()`) and the steps that follow it in the same function (loops
   that call `.float()` on modules of a class, `restore_*` calls on the model), read from the syntax
   tree and applied; when the script has none, the dtypes the artifact records.
4. Weights. The artifact is read by golfkit (bounded, `torch.load(weights_only=True)`); the script's
   own `dequantize*` function turns the payload into the state dict when it has one that fits the
   format, else golfkit's readers do (golfkit.artifact.record_formats.record_state_dict). Loaded
   with `strict=True`, so every name and shape must match.
5. Logits. `forward_logits(input_ids)` when the model has it; else `forward(input_ids)` when that is
   its only argument; else `forward(input_ids, target_ids)` with `F.cross_entropy` intercepted, the
   logits being what the model passes to its loss. Where none works, one line says why and which
   hook would let it (a `forward_logits` method, or `golfkit_load`).

A script may still define `golfkit_load(artifact_path, device) -> model` to do steps 3-4 itself.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from golfkit.artifact.compress import DEFAULT_MAX_OUTPUT
from golfkit.artifact.record_formats import RecordArtifact, read_record_artifact, record_state_dict
from golfkit.errors import GolfkitError
from golfkit.files import MAX_SCRIPT_BYTES, read_bytes

ENTRY = "golfkit_load"
MODULE_NAME = "golfkit_record"
# Parameter names under which the scripts take their Hyperparameters object (GPT(h), eval_val(args, ...)).
HPARAMS_NAMES = ("args", "h", "hp", "hparams", "hyperparameters", "config", "cfg")
# Functions a script calls on its freshly built model to set parameter dtypes (`restore_fp32_params(m)`).
DTYPE_STEP = re.compile(r"restore|fp32|float|dtype|cast", re.IGNORECASE)
BF16_EVAL = re.compile(r"autocast\([^)]*bfloat16")
MAX_SETTING_CHARS = 1000

# (inputs [B, T] int64, targets [B, T] int64) -> logits [B, T, >= vocab]
LogitsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class AdapterError(GolfkitError):
    """The record's code cannot be adapted; the message says why and what would let it."""


@dataclass
class RecordModel:
    """A record's model ready to evaluate, and how golfkit got there (for the report)."""

    model: torch.nn.Module
    logits: LogitsFn
    hparams: Any  # the script's Hyperparameters instance, or None
    notes: dict[str, Any] = field(default_factory=dict)

    def setting(self, name: str) -> Any:
        """A hyperparameter of the run (`train_seq_len`, `eval_stride`, ...), or None."""
        value = getattr(self.hparams, name, None)
        return value if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None


# ----------------------------------------------------------------------------- step 1: environment


def hyperparameter_env(source: str, settings: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The environment variables that give the script's Hyperparameters the values in `settings`, and
    the names it reads no variable for (ignored).

    A name is a class attribute as logs print it (`num_layers`) or the variable itself (`NUM_LAYERS`).
    Values are converted where the script's own parsing needs it: True/False for `bool(int(...))`,
    `600.000` for `int(...)`."""
    attrs, read = environment_reads(source)
    env: dict[str, str] = {}
    ignored = []
    for name, value in settings.items():
        value = str(value).strip()
        if len(value) > MAX_SETTING_CHARS or "\0" in value or "\n" in value:
            ignored.append(name)  # no hyperparameter is a page of text
            continue
        if name in attrs:
            var, parse = attrs[name]
            env[var] = _convert(value, parse)
        elif name in read:
            env[name] = value
        else:
            ignored.append(name)
    return env, ignored


def environment_reads(source: str) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """({class attribute: (variable, how it is parsed)}, every variable the script reads), from the syntax
    tree: `attr = int(os.environ.get("VAR", ...))`, `os.getenv`, `os.environ["VAR"]`."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return {}, set()
    attrs: dict[str, tuple[str, str]] = {}
    read: set[str] = set()
    for node in ast.walk(tree):
        var = _env_var(node)
        if var:
            read.add(var)
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                target, value = _assignment(stmt)
                if target is None:
                    continue
                found = [v for sub in ast.walk(value) if (v := _env_var(sub))]
                if found:
                    attrs[target] = (found[0], _parser(value))
    return attrs, read


def _assignment(stmt: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        return stmt.target.id, stmt.value
    return None, None


def _env_var(node: ast.AST) -> str | None:
    """"VAR" of `os.environ.get("VAR", ...)`, `os.getenv("VAR", ...)` or `os.environ["VAR"]`."""
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str):
        f = node.func
        if isinstance(f, ast.Attribute) and (f.attr == "getenv" or (
                f.attr == "get" and isinstance(f.value, ast.Attribute) and f.value.attr == "environ")):
            return node.args[0].value
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "environ" \
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value
    return None


def _parser(value: ast.expr) -> str:
    """"bool" for bool(int(...)) and the like, "int" for int(...), else "text"."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
        if value.func.id == "bool":
            return "bool"
        if value.func.id == "int":
            return "int"
    return "text"


def _convert(value: str, parse: str) -> str:
    if parse == "bool" and value.lower() in ("true", "false"):
        return "1" if value.lower() == "true" else "0"
    if parse == "int":
        with contextlib.suppress(ValueError):
            number = float(value)
            if number.is_integer():
                return str(int(number))
    return value


# ----------------------------------------------------------------------------- step 2: import


def script_source(path: Path) -> tuple[str, tuple[str, ...]]:
    """The program a script runs (decoded when it is a self-extracting wrapper) and the wrapper's layers."""
    from golfkit.wrappers import unwrap_source

    raw = read_bytes(path, MAX_SCRIPT_BYTES, "a script")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    found = unwrap_source(text, where=str(path))
    return (found.source, found.layers) if found is not None else (text, ())


def import_script(path: Path, source: str, layers: tuple[str, ...], env: Mapping[str, str]) -> Any:
    """Import the record's script (`source`, decoded from `layers` of wrapper) as a module, never as __main__,
    with `env` set. The working copy is the script's folder: its siblings are importable."""
    from golfkit import standins

    target = path
    if layers:
        target = path.with_name(f"_golfkit_decoded_{path.stem}.py")
        target.write_text(source, encoding="utf-8")
    os.environ.update(env)
    sys.path.insert(0, str(path.parent))
    sys.argv = [str(path)]
    standins.install_stand_ins(torch)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, target)
    if spec is None or spec.loader is None:
        raise AdapterError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    real_compile = torch.compile
    torch.compile = _no_compile  # decorators and module-level compiles stay eager (no compiler in the sandbox)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise AdapterError(f"{path}: does not parse on this Python {sys.version.split()[0]} ({exc.msg}, line "
                           f"{exc.lineno}); re-run with the Python the record used") from None
    except ImportError as exc:
        raise AdapterError(f"{path}: importing it failed: {exc}; install what the record's requirements name") from None
    except Exception as exc:  # noqa: BLE001 - the record's own code: any failure is reported in one line
        raise AdapterError(f"{path}: importing it raised {type(exc).__name__}: {str(exc)[:200]}") from None
    finally:
        torch.compile = real_compile
    return module


def _no_compile(model: Any = None, *args: Any, **kwargs: Any) -> Any:
    return model if model is not None else (lambda f: f)


# ----------------------------------------------------------------------------- step 3: model


def hyperparameters(module: Any) -> Any:
    cls = getattr(module, "Hyperparameters", None)
    if cls is None:
        return None
    try:
        return cls()
    except Exception as exc:  # noqa: BLE001
        raise AdapterError(f"Hyperparameters() raised {type(exc).__name__}: {str(exc)[:200]}") from None


def build_model(module: Any, h: Any) -> torch.nn.Module:
    """GPT from the hyperparameters: constructor parameters by name, or the object itself (GPT(h))."""
    cls = getattr(module, "GPT", None)
    if not isinstance(cls, type):
        raise AdapterError("the script defines no GPT class; define golfkit_load(artifact_path, device) returning "
                           "the model (docs/eval.md)")
    kwargs, missing = {}, []
    for name, p in inspect.signature(cls).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if h is not None and hasattr(h, name):
            kwargs[name] = getattr(h, name)
        elif h is not None and (name in HPARAMS_NAMES or p.annotation is type(h)
                                or (isinstance(p.annotation, str) and p.annotation.strip("'\"") == type(h).__name__)):
            kwargs[name] = h
        elif p.default is p.empty:
            missing.append(name)
    if missing:
        raise AdapterError(f"GPT takes {missing}, which match no Hyperparameters attribute; define "
                           "golfkit_load(artifact_path, device) (docs/eval.md)")
    try:
        return cls(**kwargs)
    except Exception as exc:  # noqa: BLE001
        raise AdapterError(f"GPT({', '.join(kwargs)}) raised {type(exc).__name__}: {str(exc)[:200]}") from None


@dataclass
class DtypeRecipe:
    """What the script does to a freshly built GPT before it evaluates: a whole-model cast, then steps."""

    cast: str | None = None  # "bfloat16" or "half"
    steps: list[tuple[str, str]] = field(default_factory=list)  # ("float_modules", class) | ("call", function)
    where: str = ""

    def describe(self) -> str:
        if not self.cast and not self.steps:
            return "none found"
        parts = [f".{self.cast}()"] if self.cast else []
        parts += [f"{name} modules .float()" if kind == "float_modules" else f"{name}(model)" for kind, name in self.steps]
        return f"{', then '.join(parts)} (as in {self.where})"


def dtype_recipe(source: str, gpt: str = "GPT") -> DtypeRecipe:
    """The dtype steps around the script's evaluation model, read from its syntax tree (never run): the
    function that builds `GPT(...)` (preferring `deserialize`, then `main`), the cast chained on the
    construction, and what the next statements of that function do to the model's dtypes."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return DtypeRecipe()
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    order = [functions[n] for n in ("deserialize", "main") if n in functions]
    order += [f for f in functions.values() if f not in order]
    for fn in order:
        found = _recipe_in(fn, gpt, set(functions))
        if found is not None:
            return found
    return DtypeRecipe()


def _recipe_in(fn: ast.FunctionDef, gpt: str, module_functions: set[str]) -> DtypeRecipe | None:
    body = fn.body
    for i, stmt in enumerate(body):
        target, value = _assignment(stmt)
        if target is None or not _calls(value, gpt):
            continue
        recipe = DtypeRecipe(cast=_chained_cast(value), where=f"{fn.name}()")
        for nxt in body[i + 1 : i + 9]:
            if isinstance(nxt, ast.For) and _iterates_modules(nxt, target):
                cls = _float_class(nxt)
                if cls:
                    recipe.steps.append(("float_modules", cls))
            elif isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Call) and isinstance(nxt.value.func, ast.Name):
                call = nxt.value
                if (call.func.id in module_functions and DTYPE_STEP.search(call.func.id) and len(call.args) == 1
                        and isinstance(call.args[0], ast.Name) and call.args[0].id == target):
                    recipe.steps.append(("call", call.func.id))
        return recipe
    return None


def _calls(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name for n in ast.walk(node))


def _chained_cast(value: ast.expr) -> str | None:
    for n in ast.walk(value):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("bfloat16", "half"):
            return n.func.attr
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "to":
            for arg in [*n.args, *(k.value for k in n.keywords)]:
                if isinstance(arg, ast.Attribute) and arg.attr in ("bfloat16", "float16", "half"):
                    return "bfloat16" if arg.attr == "bfloat16" else "half"
    return None


def _iterates_modules(loop: ast.For, model: str) -> bool:
    it = loop.iter
    return (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr == "modules"
            and isinstance(it.func.value, ast.Name) and it.func.value.id == model)


def _float_class(loop: ast.For) -> str | None:
    """C of `for m in model.modules(): if isinstance(m, C): m.float()`."""
    for stmt in loop.body:
        if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Call) and isinstance(stmt.test.func, ast.Name) \
                and stmt.test.func.id == "isinstance" and len(stmt.test.args) == 2 \
                and isinstance(stmt.test.args[1], ast.Name):
            body_calls = [n for s in stmt.body for n in ast.walk(s) if isinstance(n, ast.Call)]
            if any(isinstance(c.func, ast.Attribute) and c.func.attr == "float" for c in body_calls):
                return stmt.test.args[1].id
    return None


def apply_recipe(model: torch.nn.Module, module: Any, recipe: DtypeRecipe) -> None:
    if recipe.cast == "bfloat16":
        model.bfloat16()
    elif recipe.cast == "half":
        model.half()
    for kind, name in recipe.steps:
        target = getattr(module, name, None)
        if kind == "float_modules" and isinstance(target, type):
            for m in model.modules():
                if isinstance(m, target):
                    m.float()
        elif kind == "call" and callable(target):
            target(model)


# ----------------------------------------------------------------------------- step 4: weights


def load_weights(model: torch.nn.Module, module: Any, art: RecordArtifact, recipe_found: bool) -> str:
    """Load the artifact's weights into `model`; returns how they were dequantized."""
    expected = model.state_dict()
    template = {k: v.detach().cpu() for k, v in expected.items()}
    tried: list[str] = []
    state, how = None, ""
    for fn, args in _script_dequantizers(module, art, template):
        try:
            out = fn(*args)
        except Exception as exc:  # noqa: BLE001 - the script's function: fall back to golfkit's reader
            tried.append(f"{fn.__name__} raised {type(exc).__name__}")
            continue
        if _fits(out, expected):
            state, how = out, f"{fn.__name__}() of the script"
            break
        tried.append(f"{fn.__name__} gave other tensors")
    if state is None:
        if not recipe_found:
            _take_recorded_dtypes(model, art)
            template = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        state = record_state_dict(art, template)
        how = "golfkit's reader" + (f" ({'; '.join(tried)})" if tried else "")
        problem = _mismatch(state, expected)
        if problem:
            raise AdapterError(f"the artifact's tensors do not fit the script's GPT ({problem}); check the run's "
                               "hyperparameters (--hparam NAME=VALUE) or define golfkit_load(artifact_path, device)")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise AdapterError(f"tensor {bad[0]} holds NaN or infinite values; the artifact is corrupt")
    model.load_state_dict(state, strict=True)
    return how


def _script_dequantizers(module: Any, art: RecordArtifact, template: dict) -> Iterator[tuple[Callable, tuple]]:
    """The script's own dequantize functions that fit the payload's format, with their arguments."""
    obj = art.obj
    if not isinstance(obj, dict):
        return
    for name, fn in sorted(vars(module).items()):
        if not (name.startswith("dequant") and inspect.isfunction(fn) and fn.__module__ == module.__name__):
            continue
        required = [p for p in inspect.signature(fn).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if "__quant_format__" in obj and len(required) == 1:
            yield fn, (obj,)
        elif "w" in obj and "m" in obj and len(required) == 3:
            yield fn, (obj["w"], obj["m"], template)
        elif "w" in obj and "m" in obj and len(required) == 2:
            yield fn, (obj["w"], obj["m"])


def _fits(out: Any, expected: Mapping[str, torch.Tensor]) -> bool:
    return isinstance(out, dict) and all(isinstance(v, torch.Tensor) for v in out.values()) \
        and not _mismatch(out, expected)


def _mismatch(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> str:
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape))
    parts = []
    if missing:
        parts.append(f"missing {_few(missing)}")
    if unexpected:
        parts.append(f"unexpected {_few(unexpected)}")
    if wrong:
        parts.append("shape " + ", ".join(f"{k} {list(state[k].shape)} != {list(expected[k].shape)}" for k in wrong[:3]))
    return "; ".join(parts)


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")


def _take_recorded_dtypes(model: torch.nn.Module, art: RecordArtifact) -> None:
    """Without a recipe from the script, its model's tensors take the dtypes the artifact records."""
    recorded = {t.name: t.dtype for t in art.tensors if t.dtype is not None}
    with torch.no_grad():
        for name, p in [*model.named_parameters(), *model.named_buffers()]:
            if name in recorded and p.is_floating_point() and p.dtype != recorded[name]:
                p.data = p.data.to(recorded[name])


# ----------------------------------------------------------------------------- step 5: logits


def logits_function(model: torch.nn.Module) -> tuple[LogitsFn, str]:
    """How golfkit reads the model's logits, and its description for the report."""
    fl = getattr(model, "forward_logits", None)
    if callable(fl):
        return (lambda x, y: fl(x)), "forward_logits(input_ids)"
    required = [p for p in inspect.signature(model.forward).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(required) == 1:
        return (lambda x, y: model(x)), "forward(input_ids)"
    if len(required) == 2:
        return _captured_logits(model), "the logits forward(input_ids, target_ids) passes to F.cross_entropy"
    raise AdapterError(f"GPT.forward takes {[p.name for p in required]}; golfkit reads logits from "
                       "forward_logits(input_ids), forward(input_ids) or forward(input_ids, target_ids): add "
                       "forward_logits(self, input_ids) returning [batch, tokens, vocab] logits")


NO_LOGITS = ("GPT.forward(input_ids, target_ids) returns only its loss and passed F.cross_entropy no logits "
             "of shape [batch*tokens, vocab] ({seen}), so golfkit cannot score each target itself; add "
             "forward_logits(self, input_ids) returning [batch, tokens, vocab] logits to GPT (or define "
             "golfkit_load(artifact_path, device) returning a model that has it)")


def _captured_logits(model: torch.nn.Module) -> LogitsFn:
    def forward(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen: list[tuple[torch.Tensor, torch.Tensor]] = []

        def capture(input: torch.Tensor, target: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            seen.append((input, target))
            return input.new_zeros((), dtype=torch.float32)

        with _replaced(F.cross_entropy, capture):
            model(x, y)
        b, t = x.shape
        fitting = []  # (logits [B, T, V], whether the loss was taken against exactly the next tokens)
        for logits, target in seen:
            if logits.dim() == 2 and logits.shape[0] == b * t:
                logits = logits.view(b, t, logits.shape[1])
            if logits.dim() == 3 and logits.shape[:2] == (b, t):
                exact = isinstance(target, torch.Tensor) and target.numel() == b * t and torch.equal(target.reshape(b, t), y)
                fitting.append((logits, exact))
        exact = [logits for logits, same in fitting if same]
        if exact or len(fitting) == 1:
            return (exact or [fitting[0][0]])[0]
        shapes = ", ".join(f"{list(i.shape)}" for i, _ in seen) or "no call"
        raise AdapterError(NO_LOGITS.format(seen=shapes))

    return forward


@contextlib.contextmanager
def _replaced(real: Callable, stand_in: Callable) -> Iterator[None]:
    """`real` replaced by `stand_in` wherever the record's module can reach it: torch.nn.functional and the
    script's own globals (`from torch.nn.functional import cross_entropy`)."""
    script = sys.modules.get(MODULE_NAME)
    places = [(F, name) for name, v in vars(F).items() if v is real]
    if script is not None:
        places += [(script, name) for name, v in vars(script).items() if v is real]
    for owner, name in places:
        setattr(owner, name, stand_in)
    try:
        yield
    finally:
        for owner, name in places:
            setattr(owner, name, real)


# ----------------------------------------------------------------------------- all together


def evaluates_in_bf16(source: str) -> bool:
    """Whether the script's evaluation runs under bf16 autocast (every real record's does, on its GPU)."""
    return bool(BF16_EVAL.search(source))


def load_record_model(script: str | Path, artifact: str | Path, device: torch.device,
                      settings: Mapping[str, str] | None = None,
                      max_output: int = DEFAULT_MAX_OUTPUT) -> tuple[RecordModel, str]:
    """The record's model with the artifact's weights, on `device`, in eval mode; and the source that ran."""
    script = Path(script)
    source, layers = script_source(script)
    env, ignored = hyperparameter_env(source, settings or {})
    module = import_script(script, source, layers, env)
    notes: dict[str, Any] = {"script": script.name, "environment": env}
    if layers:
        notes["wrapper"] = "+".join(layers)
    if ignored:
        notes["settings_not_read"] = sorted(ignored)
    h = hyperparameters(module)
    override = getattr(module, ENTRY, None)
    if callable(override):
        model = override(str(artifact), str(device))
        notes["loaded_by"] = f"{ENTRY}() of the script"
    else:
        art = read_record_artifact(artifact, max_output=max_output)
        model = build_model(module, h)
        recipe = dtype_recipe(source)
        apply_recipe(model, module, recipe)
        notes["artifact_format"] = " + ".join([*art.layers, art.format])
        notes["dtypes"] = recipe.describe()
        notes["weights"] = load_weights(model, module, art, bool(recipe.cast or recipe.steps))
        model = model.to(device)
    if not isinstance(model, torch.nn.Module):
        raise AdapterError(f"{ENTRY}() returned {type(model).__name__}, not a torch.nn.Module")
    model.eval()
    logits, how = logits_function(model)
    notes["logits"] = how
    notes["parameters"] = sum(p.numel() for p in model.parameters())
    return RecordModel(model, logits, h, notes), source
