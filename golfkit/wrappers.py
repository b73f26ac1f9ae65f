"""Decode self-extracting wrappers without running them.

A wrapper is a module made only of imports, constant assignments and `exec(...)` calls whose
argument decodes a literal payload: `exec(L.decompress(B.b85decode("...")))`, with lzma (raw with
the filters the call names, xz or alone), zlib, gzip, bz2, brotli, zstd or PPMd, over base85,
base64, ascii85 or raw bytes in a latin-1 string literal, payloads split over adjacent or
concatenated literals. The argument is evaluated by a small interpreter over the syntax tree that
knows only those functions, so nothing from the file is ever executed. Decoded payloads that are
wrappers themselves are unwrapped again.

Bounded before work: each layer decodes to at most `max_output` bytes (every decoder call, every
concatenation, the layer's program), all layers together to at most `max_total`, at most MAX_LAYERS
layers deep; every layer is parsed by `files.parse_source` (size, tokens and nesting bounded).
"""

from __future__ import annotations

import ast
import base64
import lzma
import zlib
from dataclasses import dataclass, field

from golfkit import bounded
from golfkit.errors import GolfkitError
from golfkit.files import MAX_SCRIPT_BYTES, SourceRefused, SourceSyntaxError, decode_source, parse_source

# Real wrappers have one layer and decode to at most 50 KB (2026-04-08: 50,110 bytes); a layer may
# decode to as much as a script file may hold, all layers together to twice that.
MAX_LAYERS = 4
MAX_LAYER_BYTES = MAX_SCRIPT_BYTES
MAX_PPMD_MEMORY = 256 << 20
# Text encodings a wrapper may name (`.encode("latin-1")`, `str(b, "utf-8")`): each maps a character
# to at most 4 bytes in linear time (punycode, for one, takes quadratic time).
_ENCODINGS = {"utf-8", "latin-1", "iso8859-1", "ascii", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
              "utf-32-be", "cp1252"}


@dataclass(frozen=True)
class Unwrapped:
    """The decoded program and how it was packed, outermost layer first.

    Each layer names its decoding steps in the order they are applied, e.g. "base85+lzma-raw".
    """

    source: str
    layers: tuple[str, ...]


def unwrap_source(text: str, max_output: int = MAX_LAYER_BYTES, max_total: int | None = None,
                  where: str | None = None) -> Unwrapped | None:
    """Decode `text` if it is a self-extracting wrapper, recursively; None when it is not one (or is
    not Python this interpreter parses: the caller's own parse says why).

    Raises GolfkitError when it is a wrapper whose payload cannot be decoded safely: corrupt data,
    a decoder argument that is not a literal, a layer of more than `max_output` bytes, more than
    `max_total` (default twice `max_output`) in all, or more than MAX_LAYERS layers; and
    `files.SourceRefused` when `text` or a decoded layer is over a bound of `parse_source`.
    `where` names `text` at the start of every message (the file's path, say).
    """
    budget = _Budget(max_output, 2 * max_output if max_total is None else max_total)
    layers: list[str] = []
    source = text
    try:
        while True:
            name = where or "source"
            found = _unwrap_once(source, budget, f"{name} (decoded layer {len(layers)})" if layers else name)
            if found is None:
                break
            if len(layers) == MAX_LAYERS:
                raise GolfkitError(f"wrapper nests more than {MAX_LAYERS} layers deep (real ones have 1); "
                                   "refusing to decode further")
            source, layer = found
            layers.append(layer)
    except SourceRefused:
        raise  # names its source already
    except GolfkitError as exc:
        if where is None:
            raise
        raise GolfkitError(f"{where}: {exc}") from None
    if not layers:
        return None
    return Unwrapped(source, tuple(layers))


@dataclass
class _Budget:
    """What a wrapper may decode to: `layer` bytes per decoder call, concatenation or layer, `total` in all."""

    layer: int
    total: int
    used: int = 0

    def bound(self) -> int:
        """The most one decoder call may produce now."""
        return min(self.layer, self.total - self.used)

    def spend(self, size: int, what: str) -> None:
        if size > self.layer:
            raise GolfkitError(f"wrapper {what} is {size:,} bytes, more than a layer may decode to "
                               f"({self.layer:,}); refusing")
        self.used += size
        if self.used > self.total:
            raise GolfkitError(f"wrapper layers decode to more than {self.total:,} bytes in all; refusing")


# --- the interpreter ------------------------------------------------------------------------


class _NotWrapper(Exception):
    """The module has a shape other than a wrapper's: not an error, just not ours to decode."""


@dataclass(frozen=True)
class _Module:
    name: str


@dataclass(frozen=True)
class _Func:
    name: str


@dataclass(frozen=True)
class _Decompressor:
    """A decompressor object from a constructor call, e.g. zstandard.ZstdDecompressor()."""

    name: str
    args: tuple = ()
    kwargs: tuple = ()


@dataclass
class _Value:
    """A value the interpreter computed, with the decoding steps that produced it."""

    value: object
    steps: list[str] = field(default_factory=list)


_MODULES = {"lzma", "zlib", "gzip", "bz2", "base64", "brotli", "zstandard", "zstd", "pyppmd", "codecs",
            "builtins"}
_BUILTINS = {"exec", "bytes", "str", "compile", "__import__", "bytearray", "memoryview"}
_DECODERS = {
    "lzma.decompress", "zlib.decompress", "gzip.decompress", "bz2.decompress", "brotli.decompress",
    "zstandard.decompress", "zstd.decompress", "pyppmd.decompress",
    "base64.b85decode", "base64.b64decode", "base64.standard_b64decode", "base64.urlsafe_b64decode",
    "base64.a85decode", "base64.b32decode", "base64.b16decode",
}
_CONSTRUCTORS = {
    "lzma.LZMADecompressor", "zlib.decompressobj", "bz2.BZ2Decompressor",
    "zstandard.ZstdDecompressor", "zstd.ZstdDecompressor", "brotli.Decompressor",
}


class _Interpreter:
    def __init__(self, budget: _Budget) -> None:
        self.budget = budget
        self.env: dict[str, object] = {}

    # statements
    def run(self, tree: ast.Module) -> tuple[str, str] | None:
        pieces: list[str] = []
        layer: list[str] = []
        body = tree.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]  # a module docstring
        for stmt in body:
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    root = alias.name.split(".")[0]
                    self.env[alias.asname or root] = _Module(alias.name if alias.asname else root)
            elif isinstance(stmt, ast.ImportFrom):
                if stmt.level or stmt.module not in _MODULES:
                    raise _NotWrapper
                for alias in stmt.names:
                    if alias.name == "*":
                        raise _NotWrapper
                    self.env[alias.asname or alias.name] = self._attr(_Module(stmt.module), alias.name)
            elif isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
                value = self.eval(stmt.value)
                for target in stmt.targets:
                    self.env[target.id] = value
            elif isinstance(stmt, ast.Expr) and (_is_exec(stmt.value, self.env) or _runner_payload(stmt.value)):
                call = stmt.value
                payload = _runner_payload(call)
                if payload is None and (len(call.args) != 1 or call.keywords):
                    raise _NotWrapper
                result = self.eval(payload if payload is not None else call.args[0])
                if not result.steps:
                    raise _NotWrapper  # exec of a plain literal is a program, not a wrapper
                pieces.append(self._as_text(result.value))
                if sum(map(len, pieces)) > self.budget.layer:
                    raise GolfkitError(f"wrapper layer decodes to more than {self.budget.layer:,} characters; "
                                       "refusing")
                step = "+".join(result.steps)
                if step not in layer:
                    layer.append(step)
            else:
                raise _NotWrapper
        if not pieces:
            return None
        return "\n".join(pieces), ",".join(layer)

    # expressions
    def eval(self, node: ast.AST) -> _Value:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (str, bytes, int, bool)) or node.value is None:
                return _Value(node.value)
            raise _NotWrapper
        if isinstance(node, ast.Name):
            if node.id in self.env:
                found = self.env[node.id]
                return found if isinstance(found, _Value) else _Value(found)
            if node.id in _BUILTINS:
                return _Value(_Func(node.id))
            raise _NotWrapper
        if isinstance(node, ast.Attribute):
            base = self.eval(node.value)
            return _Value(self._attr(base.value, node.attr), list(base.steps))
        if isinstance(node, ast.BinOp):
            left, right = self.eval(node.left), self.eval(node.right)
            a, b = left.value, right.value
            if isinstance(node.op, ast.Add) and type(a) is type(b) and isinstance(a, (str, bytes, int)):
                if isinstance(a, (str, bytes)) and len(a) + len(b) > self.budget.layer:
                    raise GolfkitError(f"wrapper concatenates more than {self.budget.layer:,} bytes of payload; "
                                       "refusing")
                return _Value(a + b, left.steps + right.steps)
            if isinstance(node.op, ast.BitOr) and isinstance(a, int) and isinstance(b, int):
                return _Value(a | b)
            if isinstance(node.op, ast.LShift) and isinstance(a, int) and isinstance(b, int) and b < 64:
                return _Value(a << b)
            if isinstance(node.op, ast.Mult) and isinstance(a, int) and isinstance(b, int) \
                    and abs(a) < 1 << 40 and abs(b) < 1 << 40:
                return _Value(a * b)
            raise _NotWrapper
        if isinstance(node, (ast.List, ast.Tuple)):
            return _Value([self.eval(e).value for e in node.elts])
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise _NotWrapper
            return _Value({self.eval(k).value: self.eval(v).value for k, v in zip(node.keys, node.values)})
        if isinstance(node, ast.Call):
            return self._call(node)
        raise _NotWrapper

    def _attr(self, base: object, attr: str) -> object:
        if isinstance(base, _Module):
            qual = f"{base.name}.{attr}"
            if qual in _DECODERS or qual in _CONSTRUCTORS:
                return _Func(qual)
            if base.name == "lzma" and attr.isupper():
                value = getattr(lzma, attr, None)
                if isinstance(value, int):
                    return value
            if base.name == "zlib" and attr == "MAX_WBITS":
                return zlib.MAX_WBITS
            if base.name == "builtins" and attr in _BUILTINS:
                return _Func(attr)
            raise _NotWrapper
        if isinstance(base, _Decompressor) and attr in ("decompress", "process"):
            return _Func(f"{base.name}().{attr}")
        if isinstance(base, _Value):
            return self._attr(base.value, attr)
        if isinstance(base, (str, bytes)) and attr in ("encode", "decode"):
            return _Func(f"{type(base).__name__}.{attr}")
        raise _NotWrapper

    def _call(self, node: ast.Call) -> _Value:
        packed = _ascii7_shape(node)
        if packed is not None:
            return self._ascii7(*packed)
        packed = _radix_shape(node)
        if packed is not None:
            return self._radix(*packed)
        receiver = None
        if isinstance(node.func, ast.Attribute):
            base = self.eval(node.func.value)
            func = self._attr(base.value, node.func.attr)
            if not isinstance(base.value, _Module):
                receiver = base  # a method call: str.encode, bytes.decode, decompressor.decompress
        else:
            func = self.eval(node.func).value
        if not isinstance(func, _Func) or any(isinstance(a, ast.Starred) for a in node.args):
            raise _NotWrapper
        if any(k.arg is None for k in node.keywords):
            raise _NotWrapper
        args = [self.eval(a) for a in node.args]
        kwargs = {k.arg: self.eval(k.value).value for k in node.keywords}
        steps = [s for a in ([receiver] if receiver else []) + args for s in a.steps]
        name = func.name
        if name in _CONSTRUCTORS:
            return _Value(_Decompressor(name, tuple(a.value for a in args), tuple(sorted(kwargs.items()))),
                          steps)
        if name == "__import__" and args and args[0].value in _MODULES:
            return _Value(_Module(args[0].value))
        if name == "compile" and args:
            return _Value(args[0].value, steps)
        if name in ("str.encode", "bytes.decode"):
            encoding = args[0].value if args else kwargs.get("encoding", "utf-8")
            converted = self._transcode(receiver.value, name, encoding)
            return _Value(converted, steps + self._encode_step(name, encoding))
        if name in ("bytes", "bytearray", "memoryview", "str"):
            return self._convert(name, args, kwargs, steps)
        payload = args[0].value if args else None
        if name == "exec" or not isinstance(payload, (bytes, str)):
            raise _NotWrapper
        if receiver is not None:
            ctor = receiver.value
            extra = [_Value(a) for a in ctor.args] + args[1:]
            return self._decode(ctor.name, payload, steps, dict(ctor.kwargs) | kwargs, extra)
        return self._decode(name, payload, steps, kwargs, args[1:])

    def _decode(self, name: str, payload, steps: list[str], kwargs: dict, extra: list[_Value]) -> _Value:
        """One decoder call, bounded by what the budget has left; its output is spent from the budget."""
        bound = self.budget.bound()
        try:
            found = self._decode_within(name, payload, steps, kwargs, extra, bound)
        except bounded.TooLarge:
            if bound < self.budget.layer:
                raise GolfkitError(f"wrapper layers decode to more than {self.budget.total:,} bytes in all; "
                                   "refusing") from None
            raise
        self.budget.spend(len(found.value), "payload")  # type: ignore[arg-type]
        return found

    def _decode_within(self, name: str, payload, steps: list[str], kwargs: dict, extra: list[_Value],
                       bound: int) -> _Value:
        short = name.split(".", 1)[1] if name.startswith("base64.") else name
        if name.startswith("base64."):
            data = payload.encode("ascii") if isinstance(payload, str) else payload
            decoder = getattr(base64, short)
            try:
                out = decoder(data)
            except (ValueError, TypeError) as exc:
                raise GolfkitError(f"wrapper payload is not valid {short[:-6]} text ({exc}); the file is corrupt") \
                    from None
            label = {"b85decode": "base85", "a85decode": "ascii85", "b32decode": "base32",
                     "b16decode": "base16"}.get(short, "base64")
            return _Value(out, steps + [label])
        if isinstance(payload, str):
            raise _NotWrapper  # decompressors take bytes: calling one on a str fails when run
        positional = [e.value for e in extra]
        if name in ("lzma.decompress", "lzma.LZMADecompressor"):
            fmt = kwargs.get("format", positional[0] if positional else lzma.FORMAT_AUTO)
            filters = kwargs.get("filters", positional[2] if len(positional) > 2 else None)
            return _Value(bounded.lzma_decode(payload, bound, fmt, filters), steps + [bounded.lzma_name(payload, fmt)])
        if name in ("zlib.decompress", "zlib.decompressobj"):
            wbits = kwargs.get("wbits", positional[0] if positional else zlib.MAX_WBITS)
            return _Value(bounded.zlib_decode(payload, bound, wbits), steps + ["zlib"])
        if name == "gzip.decompress":
            return _Value(bounded.zlib_decode(payload, bound, 16 + zlib.MAX_WBITS), steps + ["gzip"])
        if name in ("bz2.decompress", "bz2.BZ2Decompressor"):
            return _Value(bounded.bz2_decode(payload, bound), steps + ["bz2"])
        if name in ("brotli.decompress", "brotli.Decompressor"):
            return _Value(bounded.brotli_decode(payload, bound), steps + ["brotli"])
        if name in ("zstandard.decompress", "zstd.decompress", "zstandard.ZstdDecompressor",
                    "zstd.ZstdDecompressor"):
            return _Value(bounded.zstd_decode(payload, bound), steps + ["zstd"])
        if name == "pyppmd.decompress":
            options = {k: kwargs[k] for k in ("max_order", "mem_size", "variant") if k in kwargs}
            memory = options.get("mem_size", 16 << 20)
            if not isinstance(memory, int) or not 0 < memory <= MAX_PPMD_MEMORY:
                raise GolfkitError(f"wrapper asks PPMd for {memory!r} bytes of model memory; golfkit allocates at most "
                                   f"{MAX_PPMD_MEMORY:,} (real payloads use 16 MiB)")
            return _Value(bounded.ppmd_decode(payload, bound, **options), steps + ["ppmd"])
        raise _NotWrapper

    def _ascii7(self, literal: ast.AST, length: int) -> _Value:
        groups = self.eval(literal)
        data = groups.value
        if not isinstance(data, bytes) or any(b > 127 for b in data) or length > len(data) * 7 // 8 + 1:
            raise GolfkitError("ascii7 wrapper payload is not 7-bit groups of the stated length; the file is corrupt")
        self.budget.spend(length, "ascii7 payload")
        bits = "".join(format(b, "07b") for b in data)
        try:
            out = int(bits, 2).to_bytes(length, "big") if bits else b""
        except OverflowError:
            raise GolfkitError("ascii7 wrapper payload is longer than its stated length; the file is corrupt") from None
        return _Value(out, groups.steps + ["ascii7"])

    def _radix(self, literal: ast.AST, length: int) -> _Value:
        """What `reduce(lambda n,c:n*124+c-1-(c>13)-(c>34)-(c>92), LITERAL, 0).to_bytes(N, 'big')` gives, computed
        the same way for any byte (divide and conquer, not digit by digit), and bounded before any work."""
        digits = self.eval(literal)
        data = digits.value
        if not isinstance(data, bytes):
            raise _NotWrapper
        if length > MAX_RADIX_BYTES:
            raise GolfkitError(f"radix124 wrapper payload of {length:,} bytes; golfkit decodes at most {MAX_RADIX_BYTES:,} "
                               "(its own are the size of a compressed script)")
        if len(data) > 2 * length + 16:
            raise GolfkitError("radix124 wrapper payload has more digits than its stated length holds; the file is corrupt")
        self.budget.spend(length, "radix124 payload")
        value = _radix_value([c - 1 - (c > 13) - (c > 34) - (c > 92) for c in data], {})
        try:
            out = value.to_bytes(length, "big")
        except OverflowError:
            raise GolfkitError("radix124 wrapper payload does not fit its stated length; the file is corrupt") from None
        return _Value(out, digits.steps + ["radix124"])

    def _transcode(self, value, name: str, encoding) -> str | bytes:
        if not isinstance(encoding, str):
            raise _NotWrapper
        if codecs_normal(encoding) not in _ENCODINGS:
            raise GolfkitError(f"wrapper payload is {name.split('.')[1]}d as {encoding[:40]!r}; golfkit decodes "
                               f"only {', '.join(sorted(_ENCODINGS))}")
        try:
            if name == "str.encode" and isinstance(value, str):
                return value.encode(encoding)
            if name == "bytes.decode" and isinstance(value, bytes):
                return value.decode(encoding)
        except (LookupError, UnicodeError) as exc:
            raise GolfkitError(f"wrapper payload cannot be {name.split('.')[1]}d as {encoding} ({exc})") from None
        raise _NotWrapper

    def _encode_step(self, name: str, encoding: str) -> list[str]:
        # str -> bytes through a one-byte-per-char codec is the "raw bytes in a literal" encoding.
        if name == "str.encode" and codecs_normal(encoding) in ("latin-1", "iso8859-1"):
            return ["latin-1"]
        return []

    def _convert(self, name: str, args: list[_Value], kwargs: dict, steps: list[str]) -> _Value:
        if not args:
            raise _NotWrapper
        value = args[0].value
        encoding = args[1].value if len(args) > 1 else kwargs.get("encoding")
        if name in ("bytes", "bytearray", "memoryview") and isinstance(value, (bytes, bytearray)):
            return _Value(bytes(value), steps)
        if name in ("bytes", "bytearray") and isinstance(value, str) and isinstance(encoding, str):
            return _Value(self._transcode(value, "str.encode", encoding),
                          steps + self._encode_step("str.encode", encoding))
        if name == "str" and isinstance(value, bytes) and isinstance(encoding, str):
            return _Value(self._transcode(value, "bytes.decode", encoding), steps)
        raise _NotWrapper

    def _as_text(self, value: object) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bytes):
            # exec(bytes) reads the payload's own coding line, UTF-8 by default.
            return decode_source(value, "decoded wrapper payload")
        raise _NotWrapper


def codecs_normal(encoding: str) -> str:
    import codecs as stdlib_codecs

    try:
        return stdlib_codecs.lookup(encoding).name
    except LookupError:
        return encoding


# golfkit minify's radix124 decoder (golfkit.minify.wrap.RADIX_DECODER); only this exact lambda is decoded.
_RADIX_DUMP = ast.dump(ast.parse("lambda n,c:n*124+c-1-(c>13)-(c>34)-(c>92)", mode="eval").body)
MAX_RADIX_BYTES = 1 << 20


def _radix_value(digits: list[int], powers: dict[int, int]) -> int:
    """sum(d * 124**(k-1-i)): what the decoder's reduce computes, split in halves (near-linear time)."""
    if len(digits) <= 64:
        n = 0
        for d in digits:
            n = n * 124 + d
        return n
    half = len(digits) // 2
    low = len(digits) - half
    if low not in powers:
        powers[low] = 124 ** low
    return _radix_value(digits[:half], powers) * powers[low] + _radix_value(digits[half:], powers)


def _radix_shape(node: ast.Call) -> tuple[ast.AST, int] | None:
    """Match `__import__('functools').reduce(<the radix124 lambda>, LITERAL, 0).to_bytes(N, 'big')`: (LITERAL, N)."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr == "to_bytes" and isinstance(func.value, ast.Call)
            and len(node.args) == 2 and not node.keywords):
        return None
    size, order = node.args
    if not (isinstance(size, ast.Constant) and type(size.value) is int and size.value >= 0
            and isinstance(order, ast.Constant) and order.value == "big"):
        return None
    call = func.value
    if not (isinstance(call.func, ast.Attribute) and call.func.attr == "reduce" and len(call.args) == 3
            and not call.keywords and isinstance(call.args[2], ast.Constant) and call.args[2].value == 0
            and type(call.args[2].value) is int):
        return None
    module = call.func.value
    if not (isinstance(module, ast.Call) and isinstance(module.func, ast.Name) and module.func.id == "__import__"
            and len(module.args) == 1 and isinstance(module.args[0], ast.Constant)
            and module.args[0].value == "functools" and not module.keywords):
        return None
    if ast.dump(call.args[0]) != _RADIX_DUMP:
        return None
    return call.args[1], size.value


def _ascii7_shape(node: ast.Call) -> tuple[ast.AST, int] | None:
    """Match `int(''.join(f'{c:07b}' for c in LITERAL), 2).to_bytes(N, 'big')`: (LITERAL node, N)."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr == "to_bytes" and isinstance(func.value, ast.Call)):
        return None
    to_int = func.value
    sizes = [a.value for a in node.args if isinstance(a, ast.Constant)]
    if not (isinstance(to_int.func, ast.Name) and to_int.func.id == "int" and len(to_int.args) == 2
            and len(sizes) == 2 and isinstance(sizes[0], int) and sizes[1] == "big"
            and isinstance(to_int.args[1], ast.Constant) and to_int.args[1].value == 2):
        return None
    join = to_int.args[0]
    if not (isinstance(join, ast.Call) and isinstance(join.func, ast.Attribute) and join.func.attr == "join"
            and isinstance(join.func.value, ast.Constant) and join.func.value.value == ""
            and len(join.args) == 1 and isinstance(join.args[0], ast.GeneratorExp)):
        return None
    gen = join.args[0]
    (loop,) = gen.generators if len(gen.generators) == 1 else (None,)
    elt = gen.elt
    if loop is None or loop.ifs or not isinstance(loop.target, ast.Name) or not isinstance(elt, ast.JoinedStr):
        return None
    if len(elt.values) != 1 or not isinstance(elt.values[0], ast.FormattedValue):
        return None
    formatted = elt.values[0]
    spec = formatted.format_spec
    if not (isinstance(formatted.value, ast.Name) and formatted.value.id == loop.target.id
            and isinstance(spec, ast.JoinedStr) and len(spec.values) == 1
            and isinstance(spec.values[0], ast.Constant) and spec.values[0].value == "07b"):
        return None
    return loop.iter, sizes[0]


# golfkit minify's runner (golfkit.minify.wrap.RUNNER): `(lambda s,f: <register s in linecache under f> or
# exec(compile(s,f,'exec'),globals()))(PAYLOAD.decode(),__file__)`. Only this exact lambda counts: it runs
# nothing but a dict store into linecache.cache, compile and exec of the decoded text in the module.
_RUNNER = ("(lambda s,f:__import__('linecache').cache.__setitem__(f,(0,None,s.splitlines(1),f))"
           "or exec(compile(s,f,'exec'),globals()))")
_RUNNER_DUMP = ast.dump(ast.parse(_RUNNER, mode="eval").body)


def _runner_payload(node: ast.AST) -> ast.AST | None:
    """The PAYLOAD expression of a golfkit runner call (its bytes, decoded as UTF-8, are the program), or None."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Lambda) and len(node.args) == 2
            and not node.keywords):
        return None
    text, name = node.args
    if not (isinstance(name, ast.Name) and name.id == "__file__" and isinstance(text, ast.Call)
            and isinstance(text.func, ast.Attribute) and text.func.attr == "decode" and not text.args
            and not text.keywords):
        return None
    if ast.dump(node.func) != _RUNNER_DUMP:
        return None
    return text


def _is_exec(node: ast.AST, env: dict) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name):
        return func.id == "exec" and "exec" not in env
    return isinstance(func, ast.Attribute) and func.attr == "exec" and isinstance(func.value, ast.Name) \
        and env.get(func.value.id) == _Module("builtins")


def _unwrap_once(text: str, budget: _Budget, where: str) -> tuple[str, str] | None:
    try:
        tree = parse_source(text, where)  # SourceRefused (over a bound) goes to the caller
    except SourceSyntaxError:
        return None  # not Python this interpreter reads, so not a wrapper we can decode
    if not any(isinstance(s, ast.Expr) and (_is_exec(s.value, {}) or _runner_payload(s.value)) for s in tree.body):
        return None
    interpreter = _Interpreter(budget)
    try:
        return interpreter.run(tree)
    except _NotWrapper:
        if _looks_packed(tree):
            raise GolfkitError(
                "this file execs a compressed payload in a form golfkit cannot decode without running it "
                "(a decoder call with a non-literal argument, or an unknown decoder); unpack it by hand"
            ) from None
        return None
    except RecursionError:
        raise GolfkitError("wrapper expression nests too deeply to decode") from None


def _looks_packed(tree: ast.Module) -> bool:
    """True when the module is only imports plus an exec of a known decoder: a wrapper we failed on."""
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Assign)):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue
        if isinstance(stmt, ast.Expr) and (_is_exec(stmt.value, {}) or _runner_payload(stmt.value)):
            names = {n.attr for n in ast.walk(stmt.value) if isinstance(n, ast.Attribute)}
            names |= {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}
            if names & {"decompress", "b85decode", "b64decode", "a85decode", "process"}:
                continue
        return False
    return True
