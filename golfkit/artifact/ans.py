"""Context-grouped ANS coding of quantized integer tensors (container version 2, codec "ans").

Rows and columns of a quantized matrix differ in spread (per-row clipping, input features of
different size), so one frequency table per tensor wastes bits. We sort rows and columns by mean
|q| into `rg` and `cg` equal-sized groups; each (row group, column group) pair is one context with
its own table, and all its values are coded with constriction's ANS coder in one call.

Two ways to model a context ("mode"), chosen per tensor by exact code length:
- "table": one uint8 table per context over the symbols lo..hi (0 = absent, v > 0 = probability
  proportional to 2**(v / 16): 1.1% steps, 1 byte per symbol).
- "scaled": one such table for the whole tensor (its shape), and one byte j per context that
  stretches it by s = 2**((j - 64) / 16): p(x) = F((x + 1/2) / s) - F((x - 1/2) / s), F the
  piecewise-linear CDF of the shape over [lo - 1/2, hi + 1/2]. Cheap side information, so many
  more contexts pay off, which matters for wide alphabets (int8).
Part bytes: row-group ids, then column-group ids (each packed at log2(groups) bits, omitted when
there is one group), then the tables ("table": rg*cg tables; "scaled": the shape table, then rg*cg
bytes j), then the ANS words (uint32 little-endian). Coding: {"codec": "ans", "lo", "hi", "rg",
"cg", "mode"} ("mode" absent = "table").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from golfkit.errors import GolfkitError

LOG_STEPS = 16  # table entries per doubling of probability
GROUP_CHOICES = (1, 2, 4, 8, 16, 32)


def _constriction():
    try:
        import constriction
    except ImportError:
        raise GolfkitError("constriction is not installed: pip install constriction (needed for codec ans)") from None
    return constriction


def group_ids(stat: np.ndarray, groups: int) -> np.ndarray:
    """Assign each index to one of `groups` equal-sized groups by rank of `stat` (stable)."""
    ranks = np.empty(len(stat), dtype=np.int64)
    ranks[np.argsort(stat, kind="stable")] = np.arange(len(stat))
    return (ranks * groups // max(len(stat), 1)).astype(np.uint8)


def table_from_counts(counts: np.ndarray) -> np.ndarray:
    """uint8 log-scale table for one context's symbol counts."""
    table = np.zeros(len(counts), dtype=np.uint8)
    seen = counts > 0
    if seen.any():
        rel = np.log2(counts[seen] / counts.max())
        table[seen] = np.clip(np.round(255 + LOG_STEPS * rel), 1, 255).astype(np.uint8)
    return table


def table_probabilities(table: np.ndarray) -> np.ndarray:
    """The float probabilities a table stands for (encoder and decoder compute them identically)."""
    p = np.where(table > 0, np.exp2((table.astype(np.float64) - 255.0) / LOG_STEPS), 0.0)
    return p / p.sum()


def _pack_ids(ids: np.ndarray, groups: int) -> bytes:
    bits = int(math.log2(groups))
    if bits == 0:
        return b""
    planes = (ids[:, None].astype(np.uint8) >> np.arange(bits, dtype=np.uint8)) & 1
    return np.packbits(planes.ravel()).tobytes()


def _unpack_ids(blob: memoryview, n: int, groups: int) -> tuple[np.ndarray, int]:
    bits = int(math.log2(groups))
    if bits == 0:
        return np.zeros(n, dtype=np.uint8), 0
    nbytes = (n * bits + 7) // 8
    if len(blob) < nbytes:
        raise GolfkitError("ans part is truncated (group ids); corrupt artifact")
    planes = np.unpackbits(np.frombuffer(blob[:nbytes], dtype=np.uint8))[: n * bits].reshape(n, bits)
    return (planes << np.arange(bits, dtype=np.uint8)).sum(axis=1).astype(np.uint8), nbytes


def context_counts(q: np.ndarray, rows: np.ndarray, cols: np.ndarray, cg: int, lo: int, alphabet: int) -> np.ndarray:
    """Counts [contexts, alphabet] of the symbols of `q` under row/column group ids."""
    ctx = rows.astype(np.int64)[:, None] * cg + cols.astype(np.int64)[None, :]
    flat = (ctx * alphabet + (q.astype(np.int64) - lo)).ravel()
    ncontexts = (int(rows.max()) + 1 if len(rows) else 1) * cg
    return np.bincount(flat, minlength=ncontexts * alphabet).reshape(-1, alphabet)


def estimate_bytes(counts: np.ndarray, nrows: int, ncols: int, rg: int, cg: int) -> float:
    """Bytes of the ans part for these context counts: ids, tables, and the coded values."""
    bits = 0.0
    for c in counts:
        if c.sum():
            p = table_probabilities(table_from_counts(c))
            bits += float(-(c[c > 0] * np.log2(p[c > 0])).sum())
    ids = len(_pack_ids(np.zeros(nrows, np.uint8), rg)) + len(_pack_ids(np.zeros(ncols, np.uint8), cg))
    return ids + counts.size + bits / 8 + 4


def _stats(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.abs(q.astype(np.float32))
    return a.mean(axis=1), a.mean(axis=0)


def scaled_probabilities(shape_table: np.ndarray, lo: int, stretch: np.ndarray) -> np.ndarray:
    """[len(stretch), alphabet] probabilities: the shape table stretched by 2**((j - 64) / 16)."""
    base = table_probabilities(shape_table)
    cdf = np.concatenate([[0.0], np.cumsum(base)])
    edges = np.arange(lo, lo + len(base) + 1) - 0.5
    scale = np.exp2((np.asarray(stretch, dtype=np.float64) - 64.0) / 16.0)[:, None]
    p = np.interp(edges[None, 1:] / scale, edges, cdf) - np.interp(edges[None, :-1] / scale, edges, cdf)
    p = np.maximum(p, 1e-9)
    return p / p.sum(axis=1, keepdims=True)


def _scaled_cost(counts: np.ndarray, shape_table: np.ndarray, lo: int) -> tuple[np.ndarray, float]:
    """Best stretch byte per context and the coded bits of all contexts under them."""
    bits = counts @ -np.log2(scaled_probabilities(shape_table, lo, np.arange(256))).T
    return bits.argmin(axis=1).astype(np.uint8), float(bits.min(axis=1).sum())


def choose(q: np.ndarray) -> tuple[dict[str, Any], float]:
    """The plan {"rg", "cg", "mode"} with the smallest estimated part size, and that size.

    For each mode: column groups first, then row groups (greedy, exact code lengths).
    """
    lo, hi = int(q.min()), int(q.max())
    alphabet = hi - lo + 1
    rstat, cstat = _stats(q)
    nrows, ncols = q.shape
    shape_table = table_from_counts(np.bincount((q.astype(np.int64) - lo).ravel(), minlength=alphabet))

    def cost(rg: int, cg: int, mode: str) -> float:
        counts = context_counts(q, group_ids(rstat, rg), group_ids(cstat, cg), cg, lo, alphabet)
        if mode == "table":
            return estimate_bytes(counts, nrows, ncols, rg, cg)
        _, bits = _scaled_cost(counts, shape_table, lo)
        ids = len(_pack_ids(np.zeros(nrows, np.uint8), rg)) + len(_pack_ids(np.zeros(ncols, np.uint8), cg))
        return ids + alphabet + rg * cg + bits / 8 + 4

    best: tuple[dict[str, Any], float] | None = None
    for mode in ("table", "scaled"):
        plan, size = {"rg": 1, "cg": 1, "mode": mode}, cost(1, 1, mode)
        for cg in GROUP_CHOICES[1:]:
            if cg * 8 > ncols:
                break
            c = cost(1, cg, mode)
            if c < size:
                plan, size = {**plan, "cg": cg}, c
        for rg in GROUP_CHOICES[1:]:
            if rg * 8 > nrows:
                break
            c = cost(rg, plan["cg"], mode)
            if c < size:
                plan, size = {**plan, "rg": rg}, c
        if best is None or size < best[1]:
            best = (plan, size)
    return best


def encode(q: np.ndarray, plan: dict[str, Any] | None = None) -> tuple[bytes, dict[str, Any]]:
    """ANS-code an integer matrix under `plan` ({"rg", "cg", "mode"}; chosen by `choose` if None)."""
    constriction = _constriction()
    q = np.asarray(q)
    if q.ndim != 2 or q.size == 0:
        raise GolfkitError(f"ans coding needs a non-empty 2-D integer array, got shape {list(q.shape)}")
    plan = plan or choose(q)[0]
    rg, cg, mode = int(plan["rg"]), int(plan["cg"]), plan.get("mode", "table")
    lo, hi = int(q.min()), int(q.max())
    if lo == hi:  # constriction needs two symbols or more
        lo, hi = (lo, lo + 1) if lo < 127 else (lo - 1, hi)
    alphabet = hi - lo + 1
    rstat, cstat = _stats(q)
    rows, cols = group_ids(rstat, rg), group_ids(cstat, cg)
    counts = context_counts(q, rows, cols, cg, lo, alphabet)
    counts = np.vstack([counts, np.zeros((rg * cg - len(counts), alphabet), dtype=counts.dtype)])
    if mode == "scaled":
        shape_table = table_from_counts(counts.sum(axis=0))
        stretch, _ = _scaled_cost(counts, shape_table, lo)
        side, probs = shape_table.tobytes() + stretch.tobytes(), scaled_probabilities(shape_table, lo, stretch)
    else:
        tables = np.stack([table_from_counts(c) for c in counts])
        side, probs = tables.tobytes(), [table_probabilities(t) if t.any() else None for t in tables]
    coder = constriction.stream.stack.AnsCoder()
    # A stack: encode the last context first so that the decoder reads them in order.
    for k in reversed(range(rg * cg)):
        r_idx, c_idx = np.flatnonzero(rows == k // cg), np.flatnonzero(cols == k % cg)
        if len(r_idx) == 0 or len(c_idx) == 0:
            continue
        symbols = (q[np.ix_(r_idx, c_idx)].astype(np.int32) - lo).ravel()
        coder.encode_reverse(symbols, constriction.stream.model.Categorical(probs[k], perfect=False))
    words = coder.get_compressed().astype("<u4").tobytes()
    coding = {"codec": "ans", "lo": lo, "hi": hi, "rg": rg, "cg": cg}
    if mode == "scaled":
        coding["mode"] = "scaled"
    return _pack_ids(rows, rg) + _pack_ids(cols, cg) + side + words, coding


def decode(blob: bytes | memoryview, coding: dict[str, Any], shape: tuple[int, int], where: str) -> np.ndarray:
    """Inverse of `encode`: an int8 array of `shape`. Every field is checked before use."""
    constriction = _constriction()
    try:
        lo, hi, rg, cg = (int(coding[k]) for k in ("lo", "hi", "rg", "cg"))
    except (KeyError, TypeError, ValueError):
        raise GolfkitError(f"{where}: ans coding lacks lo/hi/rg/cg; corrupt artifact") from None
    mode = coding.get("mode", "table")
    if (not (-128 <= lo < hi <= 127) or rg not in GROUP_CHOICES or cg not in GROUP_CHOICES or len(shape) != 2
            or mode not in ("table", "scaled")):
        fields = repr(coding) if len(repr(coding)) <= 120 else repr(coding)[:117] + "..."
        raise GolfkitError(f"{where}: ans coding has bad fields {fields} for shape {list(shape)}; corrupt artifact")
    nrows, ncols = shape
    alphabet = hi - lo + 1
    view = memoryview(blob)
    rows, used = _unpack_ids(view, nrows, rg)
    view = view[used:]
    cols, used = _unpack_ids(view, ncols, cg)
    view = view[used:]
    ntab = rg * cg * alphabet if mode == "table" else alphabet + rg * cg
    if len(view) < ntab or (len(view) - ntab) % 4 or rows.max(initial=0) >= rg or cols.max(initial=0) >= cg:
        raise GolfkitError(f"{where}: ans part is truncated or its group ids are out of range; corrupt artifact")
    side = np.frombuffer(view[:ntab], dtype=np.uint8)
    if mode == "scaled":
        if not side[:alphabet].any():
            raise GolfkitError(f"{where}: ans shape table is empty; corrupt artifact")
        probs = scaled_probabilities(side[:alphabet], lo, side[alphabet:])
    else:
        tables = side.reshape(rg * cg, alphabet)
        probs = [table_probabilities(t) if t.any() else None for t in tables]
    words = np.frombuffer(view[ntab:], dtype="<u4").astype(np.uint32)
    out = np.empty(shape, dtype=np.int8)
    coder = constriction.stream.stack.AnsCoder(words)
    for k in range(rg * cg):
        r_idx, c_idx = np.flatnonzero(rows == k // cg), np.flatnonzero(cols == k % cg)
        if len(r_idx) == 0 or len(c_idx) == 0:
            continue
        if probs[k] is None:
            raise GolfkitError(f"{where}: ans context {k} has an empty table; corrupt artifact")
        model = constriction.stream.model.Categorical(probs[k], perfect=False)
        symbols = coder.decode(model, len(r_idx) * len(c_idx))
        out[np.ix_(r_idx, c_idx)] = (symbols + lo).astype(np.int8).reshape(len(r_idx), len(c_idx))
    if not coder.is_empty():
        raise GolfkitError(f"{where}: ans part has data left over after decoding; corrupt artifact")
    return out
