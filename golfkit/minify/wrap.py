"""Self-extracting wrappers: compress a program and store it in the fewest bytes that still run it.

Encodings of the compressed payload:
- "base85": ASCII text, `B.b85decode("...")`: 25% over the payload; what the records use.
- "latin1": the payload bytes as characters of a string literal in a file declared `#coding:l1`,
  turned back into bytes by `.encode("l1")`. Only backslash, NUL, CR and (in runs that would close
  the literal) the quote character are escaped: about 1.2% over the payload.
- "ascii7": the payload's bits in 7-bit groups, one ASCII character each, in a bytes literal; the
  file stays ASCII (so valid UTF-8) at about 17% over the payload, against base85's 25%. For
  scripts that read their own file as UTF-8 text.
- "radix124": the payload as a number in base 124, one ASCII character a digit, no escapes: 15% over
  the payload, ~45 bytes more decoder than ascii7. For scripts that read their own file as text.
Compressors: lzma (raw LZMA2, xz and the .lzma "alone" format, with tuned literal/position bits),
zlib, zstd, brotli, PPMd (variant I). Every candidate is built; the smallest file wins.
Every compressor here is deterministic, so the same input always gives the same bytes.
"""

from __future__ import annotations

import importlib
import lzma
import zlib
from dataclasses import dataclass

from golfkit.errors import GolfkitError

ENCODINGS = ("latin1", "radix124", "ascii7", "base85")
# Encodings whose file is valid UTF-8 (what a script that reads itself as text needs).
TEXT_SAFE_ENCODINGS = ("radix124", "ascii7", "base85")
# radix124: the payload as one number written in base 124, one ASCII character per digit: every byte 1-127
# but CR (the tokenizer turns it into a newline), the double quote and the backslash, so the bytes literal
# needs no escape at all. log2(124) = 6.95 bits a character, against ascii7's 7 bits less its escapes.
RADIX = 124
RADIX_DECODER = "lambda n,c:n*124+c-1-(c>13)-(c>34)-(c>92)"
# The wrapper decodes digit by digit, each a multiply-add on the growing number: quadratic time. 22 KB took 0.8 s
# on a loaded 2-core machine; golfkit writes radix124 only for payloads up to this size (~2 s there).
RADIX_MAX_PAYLOAD = 32 << 10
STDLIB_CODECS = ("lzma", "zlib")
ALL_CODECS = ("lzma", "zlib", "zstd", "brotli", "ppmd")
# Module each codec needs at run time, on the machine that runs the wrapped script.
RUNTIME_MODULE = {"lzma": "lzma", "zlib": "zlib", "zstd": "zstandard", "brotli": "brotli", "ppmd": "pyppmd"}


@dataclass(frozen=True)
class Candidate:
    """One way of packing the program: `text` is the whole wrapper file, `data` its bytes on disk."""

    encoding: str
    codec: str
    detail: str
    payload_bytes: int
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def name(self) -> str:
        return f"{self.encoding}+{self.detail}"


# How to install each codec's module: golfkit's extra where it has one.
INSTALL = {"zstd": "pip install zstandard", "brotli": "pip install 'golfkit[brotli]'",
           "ppmd": "pip install 'golfkit[ppmd]'"}


def available_codecs(requested: tuple[str, ...] = ALL_CODECS) -> tuple[str, ...]:
    """The requested codecs whose Python module imports here (lzma and zlib always do)."""
    return tuple(c for c in requested if c not in missing_codecs(requested))


def missing_codecs(requested: tuple[str, ...] = ALL_CODECS) -> tuple[str, ...]:
    """The requested codecs whose Python module does not import here."""
    out = []
    for codec in requested:
        if codec not in RUNTIME_MODULE:
            raise GolfkitError(f"unknown codec {codec!r}: choose from {', '.join(ALL_CODECS)}")
        try:
            importlib.import_module(RUNTIME_MODULE[codec])
        except ImportError:
            out.append(codec)
    return tuple(out)


def require_codecs(requested: tuple[str, ...]) -> None:
    """Refuse (exit 2) codecs named one by one whose module is missing: naming one is asking for it."""
    missing = missing_codecs(requested)
    if missing:
        how = "; ".join(f"{c}: {INSTALL.get(c, 'pip install ' + RUNTIME_MODULE[c])}" for c in missing)
        raise GolfkitError(f"--codecs {','.join(requested)}: {', '.join(RUNTIME_MODULE[c] for c in missing)} "
                           f"{'is' if len(missing) == 1 else 'are'} not installed here ({how}); install "
                           "it, or leave the codec out")


def compressed_variants(payload: bytes, codec: str) -> list[tuple[str, bytes, str]]:
    """(detail, compressed bytes, decoder call with {d} for the data) for each setting worth trying."""
    if codec == "lzma":
        return _lzma_variants(payload)
    if codec == "zlib":
        return [("zlib", zlib.compress(payload, 9), "zlib.decompress({d})")]
    if codec == "zstd":
        import zstandard

        params = zstandard.ZstdCompressionParameters.from_level(22, source_size=len(payload))
        blob = zstandard.ZstdCompressor(compression_params=params).compress(payload)
        return [("zstd-22", blob, "zstandard.decompress({d})")]
    if codec == "brotli":
        import brotli

        return [
            (f"brotli-11-w{w}", brotli.compress(payload, quality=11, lgwin=w, mode=brotli.MODE_TEXT),
             "brotli.decompress({d})")
            for w in (22, 24)
        ]
    if codec == "ppmd":
        import pyppmd

        out = []
        for order in (6, 8, 10, 12, 16):
            blob = pyppmd.compress(payload, max_order=order, variant="I")
            call = "pyppmd.decompress({d})" if order == 6 else f"pyppmd.decompress({{d}},max_order={order})"
            out.append((f"ppmd-I-o{order}", blob, call))
        return out
    raise GolfkitError(f"unknown codec {codec!r}: choose from {', '.join(ALL_CODECS)}")


def _lzma_variants(payload: bytes) -> list[tuple[str, bytes, str]]:
    preset = 9 | lzma.PRESET_EXTREME
    out = []
    best = None
    for lc, lp, pb in ((3, 0, 0), (4, 0, 0), (3, 0, 2), (1, 0, 0)):
        tuned = {"preset": preset, "lc": lc, "lp": lp, "pb": pb, "nice_len": 273}
        alone = lzma.compress(payload, format=lzma.FORMAT_ALONE, filters=[{"id": lzma.FILTER_LZMA1, **tuned}])
        out.append((f"lzma-alone-lc{lc}lp{lp}pb{pb}", alone, "lzma.decompress({d})"))
        if best is None or len(alone) < best[0]:
            best = (len(alone), tuned, f"lc{lc}lp{lp}pb{pb}")
    # Raw LZMA2 with the best literal/position bits: no 13-byte header, but the call must name the filter.
    # The stream carries lc/lp/pb itself; the decoder needs only the filter id (33 = FILTER_LZMA2).
    raw = lzma.compress(payload, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, **best[1]}])
    out.append((f"lzma-raw-{best[2]}", raw, 'lzma.decompress({d},3,None,[{{"id":33}}])'))
    xz = lzma.compress(payload, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=preset)
    out.append(("xz", xz, "lzma.decompress({d})"))
    return out


def candidates(source: str, codecs: tuple[str, ...] = ALL_CODECS,
               encodings: tuple[str, ...] = ENCODINGS) -> list[Candidate]:
    """Every wrapper of `source` for the given codecs and encodings (best setting of each pair)."""
    payload = source.encode("utf-8")
    out = []
    for codec in codecs:
        variants = compressed_variants(payload, codec)
        for encoding in encodings:
            usable = [v for v in variants if encoding != "radix124" or len(v[1]) <= RADIX_MAX_PAYLOAD]
            if not usable:
                continue  # a payload too large to decode quickly digit by digit: the other encodings only
            best = min((_build(encoding, codec, detail, blob, call) for detail, blob, call in usable),
                       key=lambda c: (c.size, c.detail))
            out.append(best)
    return out


def best_candidate(source: str, codecs: tuple[str, ...] = ALL_CODECS,
                   encodings: tuple[str, ...] = ENCODINGS) -> Candidate | None:
    found = candidates(source, codecs, encodings)
    return min(found, key=lambda c: (c.size, c.name)) if found else None


# What every wrapper does with the decoded program `s`, binding no name in the module (the program sees the
# globals a plain script would): registers it in linecache under the wrapper's own path `f` and compiles it
# under that name, so that tools that read source through `inspect` (Triton's @jit, torch.jit.script,
# torch.compile's messages) and tracebacks find the program's lines; then runs it in the module's globals,
# as a plain script runs. linecache's checks skip an entry whose mtime is None, so it stays for the life
# of the process. golfkit.wrappers decodes exactly this shape (RUNNER) without running it.
RUNNER = ("(lambda s,f:__import__('linecache').cache.__setitem__(f,(0,None,s.splitlines(1),f))"
          "or exec(compile(s,f,'exec'),globals()))")


def wrapper_text(decode_expr: str) -> str:
    """The wrapper's one statement around `decode_expr`, an expression giving the program's UTF-8 bytes."""
    return f"{RUNNER}({decode_expr}.decode(),__file__)\n"


def _build(encoding: str, codec: str, detail: str, blob: bytes, call: str) -> Candidate:
    module = RUNTIME_MODULE[codec]
    call = call.replace(f"{module}.", f"__import__('{module}').", 1)
    if encoding == "base85":
        import base64

        data_expr = "__import__('base64').b85decode(\"" + base64.b85encode(blob).decode("ascii") + '")'
        data = wrapper_text(call.format(d=data_expr)).encode("ascii")
    elif encoding == "radix124":
        literal, length = radix_literal(blob)
        data_expr = f"__import__('functools').reduce({RADIX_DECODER},{literal},0).to_bytes({length},'big')"
        data = wrapper_text(call.format(d=data_expr)).encode("ascii")
    elif encoding == "ascii7":
        length = len(blob)
        data_expr = f"int(''.join(f'{{c:07b}}'for c in {ascii7_literal(blob)}),2).to_bytes({length},'big')"
        data = wrapper_text(call.format(d=data_expr)).encode("ascii")
    elif encoding == "latin1":
        data_expr = latin1_literal(blob) + '.encode("l1")'
        data = ("#coding:l1\n" + wrapper_text(call.format(d=data_expr))).encode("latin-1")
    else:
        raise GolfkitError(f"unknown encoding {encoding!r}: choose from {', '.join(ENCODINGS)}")
    return Candidate(encoding, codec, detail, len(blob), data)


def radix_digits(length: int) -> int:
    """How many base-124 digits hold any number of `length` bytes."""
    k = length * 8 * 1000 // 6955
    while RADIX ** k < 256 ** length:
        k += 1
    return k


def _to_digits(n: int, k: int, powers: dict[int, int]) -> list[int]:
    """`n` as exactly `k` base-124 digits, most significant first (divide and conquer: near-linear)."""
    if k <= 64:
        out = [0] * k
        for i in range(k - 1, -1, -1):
            n, out[i] = divmod(n, RADIX)
        return out
    half = k // 2
    if half not in powers:
        powers[half] = RADIX ** half
    high, low = divmod(n, powers[half])
    return _to_digits(high, k - half, powers) + _to_digits(low, half, powers)


def radix_literal(blob: bytes) -> tuple[str, int]:
    """A bytes literal of `blob` as base-124 digits (no escapes), and the byte length the decoder restores."""
    digits = _to_digits(int.from_bytes(blob, "big"), radix_digits(len(blob)), {})
    chars = bytes(d + 1 + (d >= 12) + (d >= 32) + (d >= 89) for d in digits)
    assert not set(chars) & {0, 13, 34, 92}
    return 'b"""' + chars.decode("ascii") + '"""', len(blob)


def ascii7_groups(blob: bytes) -> bytes:
    """The bits of `blob` (zero-padded in front to a multiple of 7) as bytes of 7 bits each."""
    chars = -(-len(blob) * 8 // 7)
    bits = format(int.from_bytes(blob, "big"), f"0{chars * 7}b") if blob else ""
    return bytes(int(bits[i:i + 7], 2) for i in range(0, len(bits), 7))


def ascii7_literal(blob: bytes) -> str:
    """A bytes literal (ASCII only) of the 7-bit groups of `blob`: decoded by the ascii7 wrapper."""
    return "b" + latin1_literal(ascii7_groups(blob))


def latin1_literal(blob: bytes) -> str:
    """The shortest of the string literals (quote ' or \", single or triple) whose latin-1 bytes are `blob`."""
    forms = [_literal(blob, q, triple) for q in ('"', "'") for triple in (True, False)]
    return min(forms, key=lambda s: (len(s), s))


def _literal(blob: bytes, quote: str, triple: bool) -> str:
    out = []
    run = 0  # raw quote characters just written (a third would close a triple-quoted literal)
    last = len(blob) - 1
    tail = len(blob.rstrip(quote.encode()))  # quotes from here on would touch the closing fence
    for i, b in enumerate(blob):
        c = chr(b)
        if c == quote:
            # Escape a quote in a single-quoted literal always; in a triple-quoted one when it would
            # make three in a row, or would touch the closing quotes.
            if not triple or run == 2 or i >= tail:
                out.append("\\" + c)
                run = 0
            else:
                out.append(c)
                run += 1
            continue
        run = 0
        if c == "\\":
            out.append("\\\\")
        elif b == 0:
            # \0 followed by an octal digit would read as a longer octal escape.
            out.append("\\x00" if i < last and 0x30 <= blob[i + 1] <= 0x37 else "\\0")
        elif c == "\r":
            out.append("\\r")  # the tokenizer turns a raw CR into a newline
        elif c == "\n" and not triple:
            out.append("\\n")
        else:
            out.append(c)
    fence = quote * 3 if triple else quote
    return fence + "".join(out) + fence
