"""The behaviour proof's child: import one script (an original or its packed copy) and describe what it defines.

Run by golfkit.minify.behaviour inside golfkit's sandbox, once per script, under the same conditions for
both: `python -I behaviour_child.py REQUEST.json`. Standalone on purpose (the standard library, torch, and
golfkit's stand-ins loaded by path), so that nothing of golfkit is importable in the sandbox.

It imports the script as the module `train_gpt` (so `__name__` is not `"__main__"` and `main()` does not
run), with golfkit's CPU stand-ins for `flash_attn_interface` and `triton` where they are missing, then
sends one JSON object over the sandbox's pipe:
- `names`: every module-level name with a description of its value: modules by name; functions and
  methods by parameter list (names, kinds, defaults); classes by bases and members (so the values of a
  `Hyperparameters` class); Triton kernels by their parameters with constexpr flags, and whether their
  source can be read as Triton reads it; torch custom ops by schema; plain values by value.
- `model`: where the script defines a GPT class and a hyperparameter class, the loss of a seeded CPU forward
  pass of a small model (the environment makes it small), as the exact float, and a checksum of its weights.
The parent compares two of these; the child judges nothing.
"""

import hashlib
import importlib.machinery
import importlib.util
import inspect
import json
import math
import os
import random
import sys
import textwrap
import traceback
import types

MAX_ITEMS = 200  # elements of a container described one by one; more are hashed
MAX_DEPTH = 4
MAX_TEXT = 2000  # longer strings and bytes are described by length and hash
MAX_MODEL_PARAMS = 40_000_000
SKIP_CLASS_KEYS = {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__firstlineno__",
                   "__static_attributes__", "__dataclass_params__", "__dataclass_fields__", "__annotate_func__",
                   "__annotations_cache__", "__orig_bases__", "__parameters__", "_abc_impl"}
SKIP_MODULE_KEYS = {"__builtins__", "__cached__", "__doc__", "__file__", "__loader__", "__spec__", "__name__",
                    "__package__", "__annotations__", "__annotate__", "__conditional_annotations__"}
STAND_INS_MODULE = "golfkit_standins"  # the name golfkit's stand-ins are loaded under here
HYPER_CLASSES = ("Hyperparameters", "HyperParameters", "Hparams", "HParams", "Args", "Config", "Settings")
HYPER_ARGS = ("h", "args", "hp", "hps", "hparams", "config", "cfg", "hyperparameters", "settings")


def send(fd, message):
    data = (json.dumps(message, sort_keys=True) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


def describe_value(value, torch, depth=0):
    """A JSON description of a value that two runs of the same program give alike."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 1 << 53 else {"int": str(value)}
    if isinstance(value, float):
        return {"float": value.hex() if math.isfinite(value) else repr(value)}
    if isinstance(value, complex):
        return {"complex": [value.real.hex(), value.imag.hex()]}
    if isinstance(value, (str, bytes)):
        if len(value) <= MAX_TEXT:
            return value if isinstance(value, str) else {"bytes": value.hex()}
        raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        return {type(value).__name__: len(value), "sha256": digest(raw)}
    if isinstance(value, types.ModuleType):
        return {"kind": "module", "name": value.__name__}
    if torch is not None:
        if isinstance(value, (torch.dtype, torch.device, torch.Size)):
            return {"kind": type(value).__name__, "value": str(value)}
        if isinstance(value, torch.Tensor):
            out = {"kind": "tensor", "dtype": str(value.dtype), "shape": list(value.shape)}
            if value.device.type == "cpu" and value.numel() <= 1 << 20 and not value.is_sparse:
                try:
                    out["sha256"] = digest(value.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
                except (RuntimeError, TypeError):
                    pass
            return out
    if depth >= MAX_DEPTH:
        return {"kind": type(value).__qualname__}
    if isinstance(value, (tuple, list, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
        if len(items) > MAX_ITEMS:
            return {"kind": type(value).__name__, "len": len(items), "sha256": digest(repr(items).encode())}
        return {"kind": type(value).__name__, "items": [describe_value(v, torch, depth + 1) for v in items]}
    if isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            return {"kind": "dict", "len": len(value), "keys": digest(repr(sorted(map(repr, value))).encode())}
        return {"kind": "dict", "items": [[describe_value(k, torch, depth + 1), describe_value(v, torch, depth + 1)]
                                          for k, v in value.items()]}
    if isinstance(value, (range, slice)):
        return {"kind": type(value).__name__, "value": repr(value)}
    return {"kind": "object", "type": f"{type(value).__module__}.{type(value).__qualname__}"}


def parameters(func, torch):
    """[name, kind, default] of each parameter (annotations apart: see annotations())."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    # *args and **kwargs: no caller can name them, and python-minifier renames them: described by kind
    return [[{p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, p.name), p.kind.name,
             None if p.default is inspect.Parameter.empty else describe_value(p.default, torch, 1)]
            for p in sig.parameters.values()]


def annotations(func):
    """The annotations a function keeps at run time, as text (None when it has none)."""
    found = getattr(func, "__annotations__", None)
    if not isinstance(found, dict) or not found:
        return None
    return {k: v if isinstance(v, str) else getattr(v, "__qualname__", None) or repr(v) for k, v in found.items()}


def source_readable(func):
    """Whether the function's source can be read as Triton's @jit and torch.jit read it: inspect finds the
    lines, and their dedented text from `def` parses to a function of that name."""
    import ast
    import re

    try:
        lines, _ = inspect.getsourcelines(func)
    except (OSError, TypeError) as exc:
        return f"unreadable: {type(exc).__name__}: {exc}"
    text = textwrap.dedent("".join(lines))
    found = re.search(r"^(async\s+)?def\s+\w+\s*\(", text, re.MULTILINE)
    if found is None:
        return "unreadable: no def in the lines inspect found"
    try:
        tree = ast.parse(text[found.start():])
    except SyntaxError as exc:
        return f"unreadable: the lines do not parse ({exc.msg})"
    first = tree.body[0] if tree.body else None
    if getattr(first, "name", None) != func.__name__:
        return f"unreadable: the lines hold {getattr(first, 'name', None)!r}, not {func.__name__!r}"
    return "readable"


def describe_function(func, torch, sources):
    out = {"kind": "function", "parameters": parameters(func, torch)}
    notes = annotations(func)
    if notes is not None:
        out["annotations"] = notes
    if sources:
        out["source"] = source_readable(inspect.unwrap(func))
    return out


def constexpr_flag(annotation):
    """As Triton decides it (runtime/jit.py KernelParam.is_constexpr): "constexpr" in the annotation's name."""
    if annotation is inspect.Parameter.empty or not annotation:
        return False
    if isinstance(annotation, str):
        return "constexpr" in annotation
    return "constexpr" in (getattr(annotation, "__name__", None) or str(annotation))


def triton_kernel(value):
    """The Python function behind a Triton kernel (real triton: JITFunction, Autotuner, Heuristics; golfkit's
    stand-in: its Kernel), or None when `value` is not one."""
    module = type(value).__module__ or ""
    if not (module.startswith("triton.") or module == STAND_INS_MODULE) or not hasattr(value, "fn"):
        return None
    fn = value
    for _ in range(8):
        fn = getattr(fn, "fn", None)
        if isinstance(fn, types.FunctionType):
            return fn
        if fn is None:
            return None
    return None


def describe_kernel(value, fn, torch):
    params = getattr(value, "params", None)
    inner = value
    while params is None and hasattr(inner, "fn"):
        inner = inner.fn
        params = getattr(inner, "params", None)
    if params is not None and all(hasattr(p, "is_constexpr") for p in params):
        flags = [[p.name, bool(p.is_constexpr)] for p in params]  # real Triton's own reading
    else:
        sig = inspect.signature(fn)
        flags = [[p.name, constexpr_flag(p.annotation)] for p in sig.parameters.values()]
    return {"kind": "triton", "function": fn.__name__, "parameters": flags, "source": source_readable(fn),
            "defaults": parameters(fn, torch)}


def describe(value, torch, sources, depth=0):
    """A description of a module-level (or class-level) object."""
    fn = triton_kernel(value)
    if fn is not None:
        return describe_kernel(value, fn, torch)
    kind = type(value)
    if kind.__name__ == "CustomOpDef" and hasattr(value, "_opoverload"):
        return {"kind": "custom_op", "name": getattr(value, "_qualname", None), "schema": str(value._opoverload._schema)}
    if isinstance(value, (staticmethod, classmethod)):
        return {"kind": kind.__name__, "of": describe(value.__func__, torch, sources, depth + 1)}
    if isinstance(value, property):
        return {"kind": "property", "get": value.fget is not None, "set": value.fset is not None,
                "delete": value.fdel is not None}
    if isinstance(value, type):
        return describe_class(value, torch, sources, depth)
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.LambdaType)):
        return describe_function(value, torch, sources)
    if isinstance(value, types.ModuleType) or not callable(value) or torch is not None and isinstance(value, torch.Tensor):
        return describe_value(value, torch)
    # a callable object (functools.partial, torch.compile's wrapper, an autograd Function's apply)
    out = {"kind": "callable", "type": f"{kind.__module__}.{kind.__qualname__}"}
    if not isinstance(value, (types.BuiltinMethodType,)):
        out["parameters"] = parameters(value, torch)
    return out


def bound_first(description, value):
    """A method's first parameter (self, cls) is bound, never passed by name, and python-minifier renames it:
    it is described by its kind only."""
    target = description.get("of") if isinstance(value, classmethod) else description
    if isinstance(value, (types.FunctionType, classmethod)) and isinstance(target, dict):
        params = target.get("parameters")
        if params and params[0][1] == "POSITIONAL_OR_KEYWORD":
            params[0][0] = "(bound)"
    return description


def describe_class(cls, torch, sources, depth=0):
    out = {"kind": "class", "name": cls.__qualname__,
           "bases": [f"{b.__module__}.{b.__qualname__}" if b.__module__ != cls.__module__ else b.__qualname__
                     for b in cls.__bases__]}
    if depth > 2:
        return out
    members = {}
    for key, value in vars(cls).items():
        if key in SKIP_CLASS_KEYS:
            continue
        if key == "__annotations__":
            value = annotations(types.SimpleNamespace(__annotations__=value)) if isinstance(value, dict) else None
            members[key] = value
            continue
        try:
            members[key] = bound_first(describe(value, torch, sources, depth + 1), value)
        except Exception as exc:  # noqa: BLE001 - a member that cannot be described is described by its failure
            members[key] = {"kind": "undescribable", "error": type(exc).__name__}
    out["members"] = members
    return out


def build_model(module, torch):
    """The loss of a seeded CPU forward pass of the script's GPT, or why none was computed."""
    gpt = getattr(module, "GPT", None)
    if not (isinstance(gpt, type) and issubclass(gpt, torch.nn.Module)):
        return {"skipped": "no GPT class (a torch.nn.Module) at module level"}
    hyper_cls = next((getattr(module, n) for n in HYPER_CLASSES if isinstance(getattr(module, n, None), type)), None)
    if hyper_cls is None:
        return {"skipped": "no hyperparameter class (" + ", ".join(HYPER_CLASSES) + ")"}
    torch.manual_seed(0)
    random.seed(0)
    try:
        h = hyper_cls()
    except Exception as exc:  # noqa: BLE001
        return {"skipped": f"{hyper_cls.__name__}() failed: {type(exc).__name__}: {exc}"[:300]}
    try:
        sig = inspect.signature(gpt)
    except (TypeError, ValueError):
        return {"skipped": "GPT's signature cannot be read"}
    kwargs = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in HYPER_ARGS:
            kwargs[p.name] = h
        elif hasattr(h, p.name):
            kwargs[p.name] = getattr(h, p.name)
        elif p.default is p.empty:
            return {"skipped": f"GPT({p.name}=...): no value for it in {hyper_cls.__name__}"}
    torch.manual_seed(0)
    try:
        model = gpt(**kwargs)
    except Exception as exc:  # noqa: BLE001
        return {"error": f"GPT(...) failed: {type(exc).__name__}: {exc}"[:500]}
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_MODEL_PARAMS:
        return {"skipped": f"the model has {count:,} parameters, too many for the CPU check", "parameters": count}
    model = model.float().eval()
    state = model.state_dict()
    checksum = 0.0
    for t in state.values():
        if t.is_floating_point():
            checksum += float(t.double().sum())
    vocab = getattr(h, "vocab_size", None)
    if not isinstance(vocab, int):
        emb = next((m for m in model.modules() if isinstance(m, torch.nn.Embedding)), None)
        vocab = emb.num_embeddings if emb is not None else None
    if not isinstance(vocab, int) or vocab < 2:
        return {"skipped": "no vocabulary size", "parameters": count}
    seq = getattr(h, "train_seq_len", 32)
    seq = min(32, seq) if isinstance(seq, int) and seq > 0 else 32
    gen = torch.Generator().manual_seed(1234)
    x = torch.randint(0, vocab, (2, seq), generator=gen)
    y = torch.randint(0, vocab, (2, seq), generator=gen)
    positional = [p for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    precision = "float32"
    try:
        out = forward(model, x, y, len(positional), torch, None)
    except Exception as exc:  # noqa: BLE001
        if "dtype" not in str(exc):
            return {"error": f"forward failed: {type(exc).__name__}: {exc}"[:500], "parameters": count,
                    "weights": checksum.hex()}
        # parts the model keeps in bfloat16 itself (as on its GPU): the forward pass in CPU bf16 autocast
        precision = "bfloat16 autocast"
        try:
            out = forward(model, x, y, len(positional), torch, torch.bfloat16)
        except Exception as exc:  # noqa: BLE001
            return {"error": f"forward failed: {type(exc).__name__}: {exc}"[:500], "parameters": count,
                    "weights": checksum.hex()}
    if isinstance(out, (tuple, list)):
        out = next((o for o in out if isinstance(o, torch.Tensor)), None)
    if not isinstance(out, torch.Tensor):
        return {"error": f"forward returned {type(out).__name__}, not a tensor", "parameters": count}
    if out.numel() == 1:
        loss = float(out.float())
    elif out.dim() == 3 and out.shape[-1] >= vocab:
        loss = float(torch.nn.functional.cross_entropy(out.float().reshape(-1, out.shape[-1]), y.reshape(-1)))
    else:
        return {"error": f"forward returned a tensor of shape {list(out.shape)}", "parameters": count}
    return {"loss": loss.hex() if math.isfinite(loss) else repr(loss), "loss_value": loss, "parameters": count,
            "precision": precision,
            "weights": checksum.hex(), "state": digest(repr(sorted((k, tuple(v.shape)) for k, v in state.items())).encode()),
            "vocab": vocab, "seq_len": seq}


class Missing(type):
    """A name of a module missing here (served to both imports alike): a class, so that it can be subclassed or
    named in an `except`; any attribute is another such name; calling one raises."""

    def __getattr__(cls, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return missing_name(f"{cls.__qualname__}.{attr}")

    def __call__(cls, *args, **kwargs):
        raise RuntimeError(f"{cls.__qualname__}: golfkit's placeholder for a module that is not installed here")


def missing_name(path):
    return Missing(path.rsplit(".", 1)[-1], (), {"__qualname__": path, "__module__": STAND_INS_MODULE})


class MissingFinder:
    """Serves an inert module for each named top-level module (and its submodules) that is not installed, last
    on sys.meta_path: both scripts import alike instead of both failing (the ok-finding names them)."""

    def __init__(self, names):
        self.names = set(names)
        self.served = []

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] not in self.names:
            return None
        if fullname.split(".")[0] not in self.served:
            self.served.append(fullname.split(".")[0])
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        mod = types.ModuleType(spec.name)
        mod.__path__ = []
        mod.__getattr__ = lambda attr: (_no_attr(attr) if attr.startswith("__") else missing_name(f"{spec.name}.{attr}"))
        return mod

    def exec_module(self, module):
        pass


def _no_attr(attr):
    raise AttributeError(attr)


def forward(model, x, y, positional, torch, dtype):
    torch.manual_seed(0)
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        return model(x, y) if positional >= 2 else model(x)


def load_stand_ins(path, torch):
    spec = importlib.util.spec_from_file_location(STAND_INS_MODULE, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    make = mod.triton_module

    def triton_module(name):
        # torch.utils.flop_counter (imported by torch.compile) does `isinstance(x, JITFunction)` with the class
        # it imports from triton.runtime.jit: a class, not the stand-in's placeholder object
        found = make(name)
        if name == "triton.runtime.jit":
            found.JITFunction = type("JITFunction", (), {"__module__": STAND_INS_MODULE})
        return found

    mod.triton_module = triton_module
    mod.install_stand_ins(torch)
    mod.cpu_autocast(torch)
    return mod


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    fd = int(os.environ["GOLFKIT_CHANNEL_FD"])
    random.seed(0)
    torch = None
    if request.get("torch", True):
        try:
            import torch
        except ImportError:
            torch = None
    stand_ins = None
    if torch is not None:
        torch.manual_seed(0)
        torch.set_num_threads(1)
        if request.get("stand_ins"):
            if request.get("warm_compile"):
                # torch.compile imports torch's Triton code paths (dynamo, inductor, flop_counter), which take
                # any `triton` module for the real one: import them while Triton is still missing
                torch.compile(lambda x: x)
            stand_ins = load_stand_ins(request["stand_ins"], torch)
    missing = MissingFinder(request.get("missing_modules") or [])
    sys.meta_path.append(missing)
    script = request["script"]
    sys.path.insert(0, os.path.dirname(script))
    spec = importlib.util.spec_from_file_location(request["module"], script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[request["module"]] = module
    report = {"kind": "behaviour", "python": sys.version.split()[0]}
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: the script's import is what is observed
        tb = traceback.extract_tb(exc.__traceback__)
        report["import"] = {"error": type(exc).__name__, "message": str(exc)[:500],
                            "traceback": "".join(traceback.format_list(tb[-3:]))[-1500:]}
        report["stand_ins"] = list(stand_ins.STAND_INS_USED) if stand_ins else []
        report["placeholders"] = missing.served
        send(fd, report)
        return
    report["import"] = "ok"
    sources = bool(request.get("sources"))
    names = {}
    for key, value in sorted(vars(module).items()):
        if key in SKIP_MODULE_KEYS:
            continue
        try:
            names[key] = describe(value, torch, sources)
        except Exception as exc:  # noqa: BLE001
            names[key] = {"kind": "undescribable", "error": type(exc).__name__}
    report["names"] = names
    if torch is not None and request.get("model", True):
        try:
            report["model"] = build_model(module, torch)
        except Exception as exc:  # noqa: BLE001
            report["model"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    report["stand_ins"] = list(stand_ins.STAND_INS_USED) if stand_ins else []
    report["placeholders"] = missing.served
    send(fd, report)


if __name__ == "__main__":
    main()
