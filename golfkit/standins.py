"""CPU stand-ins for the CUDA-only modules record scripts import: flash-attention and Triton.

Real scripts import `flash_attn_interface` (or `flash_attn`) and `triton` at module level, so they do not
even import on a machine without them. These stand-ins let them import and run on the CPU: attention
computed by PyTorch exactly as flash-attention defines it (an argument the stand-in does not compute
raises StandInUnsupported rather than give another function); Triton kernels that import but never run.
`install_stand_ins(torch)` serves them only where the real module is missing.

Deliberately standalone (standard library only; torch is passed in), so that a child that must not import
golfkit (the probe's) can load this file by path as well as golfkit's own evaluation child can import it.
The probe's child loads this file by path (golfkit/probe/run.py copies it beside the child).
"""

import sys

# What the child provided in place of something the record's code needs on CUDA, in the order first used
# (the probe, golfkit eval --trust-code and minify's behaviour proof report them).
STAND_INS_USED = []


def note_stand_in(what):
    if what not in STAND_INS_USED:
        STAND_INS_USED.append(what)


class StandInUnsupported(NotImplementedError):
    """A call the CPU stand-in cannot compute exactly as the CUDA kernel would (an argument it does not
    implement): the evaluator fails with this message rather than get a different function."""


def attention_reference(torch, q, k, v, scale, causal, window, softcap, dropout_p=0.0, want_lse=False):
    """Flash-attention's function on CPU: q [B, Tq, H, D], k and v [B, Tk, Hk, D] (Hk divides H: query
    head h reads key/value head h // (H / Hk)). Scores q.k * scale (scale 1/sqrt(D) when None), then
    softcap * tanh(scores / softcap) when softcap > 0; query i may see key j when j <= i + Tk - Tq (causal,
    aligned to the bottom right as flash-attention does when Tq != Tk) and within window_size = (left,
    right) of that diagonal (-1: unbounded). A query that may see no key gets 0 (and lse -inf). Computed in
    float32 (the kernel's accumulators) and returned in q's dtype, with the log-sum-exp [B, H, Tq] when
    asked."""
    Tq, Tk = q.shape[1], k.shape[1]
    rows = torch.arange(Tq, device=q.device)[:, None] + (Tk - Tq)
    cols = torch.arange(Tk, device=q.device)[None, :]
    return attend(torch, q, k, v, window_mask(torch, rows, cols, causal, window), scale, softcap, dropout_p,
                  want_lse)


def window_mask(torch, rows, cols, causal, window):
    """Which key each query may see: rows [Tq, 1] and cols [1, Tk] are their places on one diagonal."""
    left, right = (-1, -1) if window is None else (int(window[0]), int(window[1]))
    if causal:
        right = 0
    allowed = torch.ones(rows.shape[0], cols.shape[1], dtype=torch.bool, device=rows.device)
    if right >= 0:
        allowed &= cols <= rows + right
    if left >= 0:
        allowed &= cols >= rows - left
    return allowed


def attend(torch, q, k, v, allowed, scale, softcap, dropout_p=0.0, want_lse=False):
    """Attention of q [B, Tq, H, D] over k, v [B, Tk, Hk, D] where `allowed` [Tq, Tk] says so, in float32."""
    F = torch.nn.functional
    H, D, Hk = q.shape[2], q.shape[3], k.shape[2]
    if H % Hk:
        raise StandInUnsupported(f"flash-attention stand-in: {H} query heads over {Hk} key/value heads")
    if Hk != H:
        k, v = k.repeat_interleave(H // Hk, dim=2), v.repeat_interleave(H // Hk, dim=2)
    scale = D ** -0.5 if scale is None else float(scale)
    seen = allowed.any(-1)  # [Tq]
    with torch.autocast("cpu", enabled=False):
        qf, kf, vf = (t.transpose(1, 2).float() for t in (q, k, v))  # [B, H, T, D]
        if softcap or want_lse or dropout_p or not bool(seen.all()):
            # by hand: the softcap, the log-sum-exp, and rows with no key (0, where SDPA gives NaN)
            scores = torch.matmul(qf, kf.transpose(-1, -2)) * scale
            if softcap:
                scores = softcap * torch.tanh(scores / softcap)
            scores = scores.masked_fill(~allowed, float("-inf"))
            lse = torch.logsumexp(scores, dim=-1)  # [B, H, Tq], -inf where no key
            probs = torch.exp(scores - torch.where(seen, lse, 0.0)[..., None])
            if dropout_p:
                probs = F.dropout(probs, p=dropout_p)
            out = torch.matmul(probs, vf)
        else:
            lse = None
            out = F.scaled_dot_product_attention(qf, kf, vf, attn_mask=allowed, scale=scale)
    out = out.transpose(1, 2).to(q.dtype)
    return (out, lse) if want_lse else out


def _unsupported(what, **extras):
    """Refuse arguments the stand-in does not compute (non-default values only)."""
    for name, value in extras.items():
        if value is not None and not (isinstance(value, (bool, int, float)) and not value):
            raise StandInUnsupported(f"golfkit's CPU stand-in for {what} does not implement {name}={value!r}")


def varlen_reference(torch, q, k, v, cu_q, cu_k, seqused_q, seqused_k, scale, causal, window, softcap,
                     dropout_p=0.0, want_lse=False):
    """Variable-length attention: q [total_q, H, D], k and v [total_k, Hk, D]; segment s is
    q[cu_q[s]:cu_q[s+1]] against k[cu_k[s]:cu_k[s+1]] (its first seqused_* rows when given), each on its
    own as attention_reference computes it. Rows in no segment are 0 (lse -inf), as flash-attention
    leaves them."""
    bq = [int(b) for b in cu_q.tolist()]
    bk = [int(b) for b in cu_k.tolist()]
    if len(bq) != len(bk):
        raise StandInUnsupported("flash-attention stand-in: cu_seqlens_q and cu_seqlens_k differ in length")
    if bq == bk and seqused_q is None and seqused_k is None and q.shape[0] == k.shape[0]:
        # the same segments for queries and keys (self-attention, as the records call it): one attention
        # over the packed row, each query seeing only keys of its own segment (a block-diagonal mask)
        seg = torch.full((q.shape[0],), -1, dtype=torch.int64, device=q.device)
        for s in range(len(bq) - 1):
            seg[bq[s]:bq[s + 1]] = s
        place = torch.arange(q.shape[0], device=q.device)
        allowed = window_mask(torch, place[:, None], place[None, :], causal, window)
        allowed &= (seg[:, None] == seg[None, :]) & (seg[:, None] >= 0)
        got = attend(torch, q[None], k[None], v[None], allowed, scale, softcap, dropout_p, want_lse)
        return (got[0][0], got[1][0]) if want_lse else got[0]
    out = torch.zeros_like(q)
    lse = torch.full((q.shape[1], q.shape[0]), float("-inf"), dtype=torch.float32, device=q.device)
    for s in range(len(bq) - 1):
        q0, q1, k0, k1 = bq[s], bq[s + 1], bk[s], bk[s + 1]
        if seqused_q is not None:
            q1 = min(q1, q0 + int(seqused_q[s]))
        if seqused_k is not None:
            k1 = min(k1, k0 + int(seqused_k[s]))
        if q1 <= q0:
            continue
        if k1 <= k0:
            continue  # no key: zeros, as for a query that may see none
        got = attention_reference(torch, q[None, q0:q1], k[None, k0:k1], v[None, k0:k1], scale, causal, window,
                                  softcap, dropout_p, want_lse)
        if want_lse:
            got, seg_lse = got
            lse[:, q0:q1] = seg_lse[0]
        out[q0:q1] = got[0]
    return (out, lse) if want_lse else out


def flash_attn_module(torch, name, version):
    """A CPU stand-in for flash-attention's Python interface: `flash_attn_interface` (version 3, the
    Hopper build the records import) or `flash_attn` / `flash_attn.flash_attn_interface` (version 2),
    with their functions' own signatures (they differ: version 2 takes dropout_p before softmax_scale)."""
    import types

    mod = types.ModuleType(name)
    mod.__doc__ = f"golfkit: CPU stand-in for {name} (flash-attention {version}), through PyTorch"
    mod.__file__ = f"<golfkit stand-in for {name}>"
    what = f"{name}.flash_attn_varlen_func"

    def pack(result, want, extra):
        if not want:
            return result
        out, lse = result
        return (out, lse, None) if extra else (out, lse)

    if version == 3:
        def flash_attn_func(q, k, v, softmax_scale=None, causal=False, qv=None, q_descale=None, k_descale=None,
                            v_descale=None, window_size=(-1, -1), attention_chunk=0, softcap=0.0, num_splits=1,
                            pack_gqa=None, deterministic=False, sm_margin=0, return_attn_probs=False):
            _unsupported(f"{name}.flash_attn_func", qv=qv, q_descale=q_descale, k_descale=k_descale,
                         v_descale=v_descale, attention_chunk=attention_chunk)
            note_stand_in(name)
            return pack(attention_reference(torch, q, k, v, softmax_scale, causal, window_size, softcap,
                                            want_lse=bool(return_attn_probs)), return_attn_probs, False)

        def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q=None, max_seqlen_k=None,
                                   seqused_q=None, seqused_k=None, softmax_scale=None, causal=False, qv=None,
                                   q_descale=None, k_descale=None, v_descale=None, window_size=(-1, -1),
                                   attention_chunk=0, softcap=0.0, num_splits=1, pack_gqa=None,
                                   deterministic=False, sm_margin=0, return_attn_probs=False):
            _unsupported(what, qv=qv, q_descale=q_descale, k_descale=k_descale, v_descale=v_descale,
                         attention_chunk=attention_chunk)
            note_stand_in(name)
            return pack(varlen_reference(torch, q, k, v, cu_seqlens_q, cu_seqlens_k, seqused_q, seqused_k,
                                         softmax_scale, causal, window_size, softcap,
                                         want_lse=bool(return_attn_probs)), return_attn_probs, False)

        def flash_attn_qkvpacked_func(qkv, softmax_scale=None, causal=False, q_descale=None, k_descale=None,
                                      v_descale=None, window_size=(-1, -1), attention_chunk=0, softcap=0.0,
                                      deterministic=False, num_heads_q=None, sm_margin=0,
                                      return_attn_probs=False):
            _unsupported(f"{name}.flash_attn_qkvpacked_func", q_descale=q_descale, k_descale=k_descale,
                         v_descale=v_descale, attention_chunk=attention_chunk, num_heads_q=num_heads_q)
            q, k, v = qkv.unbind(dim=-3)
            return flash_attn_func(q, k, v, softmax_scale, causal, window_size=window_size, softcap=softcap,
                                   return_attn_probs=return_attn_probs)
    else:
        def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1),
                            softcap=0.0, alibi_slopes=None, deterministic=False, return_attn_probs=False):
            _unsupported(f"{name}.flash_attn_func", alibi_slopes=alibi_slopes)
            note_stand_in(name)
            return pack(attention_reference(torch, q, k, v, softmax_scale, causal, window_size, softcap,
                                            dropout_p, want_lse=bool(return_attn_probs)), return_attn_probs, True)

        def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q=None, max_seqlen_k=None,
                                   dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1),
                                   softcap=0.0, alibi_slopes=None, deterministic=False, return_attn_probs=False,
                                   block_table=None):
            _unsupported(what, alibi_slopes=alibi_slopes, block_table=block_table)
            note_stand_in(name)
            return pack(varlen_reference(torch, q, k, v, cu_seqlens_q, cu_seqlens_k, None, None, softmax_scale,
                                         causal, window_size, softcap, dropout_p, want_lse=bool(return_attn_probs)),
                        return_attn_probs, True)

        def flash_attn_qkvpacked_func(qkv, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1),
                                      softcap=0.0, alibi_slopes=None, deterministic=False, return_attn_probs=False):
            q, k, v = qkv.unbind(dim=2)
            return flash_attn_func(q, k, v, dropout_p, softmax_scale, causal, window_size, softcap, alibi_slopes,
                                   deterministic, return_attn_probs)

        def flash_attn_kvpacked_func(q, kv, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1),
                                     softcap=0.0, alibi_slopes=None, deterministic=False, return_attn_probs=False):
            k, v = kv.unbind(dim=2)
            return flash_attn_func(q, k, v, dropout_p, softmax_scale, causal, window_size, softcap, alibi_slopes,
                                   deterministic, return_attn_probs)

        mod.flash_attn_kvpacked_func = flash_attn_kvpacked_func
        mod.__version__ = "2.0.0+golfkit.cpu"
    mod.flash_attn_func = flash_attn_func
    mod.flash_attn_varlen_func = flash_attn_varlen_func
    mod.flash_attn_qkvpacked_func = flash_attn_qkvpacked_func
    return mod


def triton_module(name):
    """A minimal `triton` (and any submodule) that lets a module defining Triton kernels import on CPU:
    `@triton.jit`, `@triton.autotune`, `@triton.heuristics`, `triton.Config`, `triton.cdiv`,
    `triton.next_power_of_2`, `tl.constexpr` and any other name as an inert placeholder. Launching a kernel,
    or calling anything else of Triton's, raises: the records take their Triton path only on CUDA (in
    training mode, or after asking the device's properties), never in what golfkit runs on the CPU."""
    import types

    mod = types.ModuleType(name)
    mod.__doc__ = "golfkit: CPU stand-in for Triton (kernels cannot run on CPU)"
    mod.__file__ = f"<golfkit stand-in for {name}>"

    class Absent:
        """Any Triton name: usable as an annotation or a default value; calling it raises."""

        def __init__(self, path):
            self._path = path

        def __getattr__(self, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return Absent(f"{self._path}.{attr}")

        def __call__(self, *args, **kwargs):
            raise RuntimeError(f"{self._path}() is Triton's: it cannot run on the probe's CPU (golfkit's triton "
                               "stand-in)")

        def __getitem__(self, key):
            return self

        def __repr__(self):
            return f"<golfkit triton stand-in {self._path}>"

    class Kernel:
        """What @triton.jit makes of a kernel: its function kept; a launch (kernel[grid](...)) raises."""

        def __init__(self, fn, options):
            self.fn, self.options = fn, options
            self.__name__ = getattr(fn, "__name__", "kernel")
            self.__doc__ = getattr(fn, "__doc__", None)

        def __getitem__(self, grid):
            return self.run

        def run(self, *args, **kwargs):
            raise RuntimeError(f"Triton kernel {self.__name__} was launched: Triton kernels cannot run on the probe's "
                               "CPU (golfkit's triton stand-in; the script took its CUDA path)")

        __call__ = run

    def jit(fn=None, **options):
        note_stand_in("triton")
        return Kernel(fn, options) if fn is not None else (lambda f: Kernel(f, options))

    def decorator(*args, **kwargs):
        return lambda f: f

    class Config:
        def __init__(self, kwargs=None, num_warps=4, num_stages=2, **options):
            self.kwargs, self.num_warps, self.num_stages, self.options = dict(kwargs or {}), num_warps, num_stages, options

    class constexpr:  # Triton's own name
        def __init__(self, value=None):
            self.value = value

    absent = Absent(name)
    if name == "triton":
        mod.__version__ = "0.0.0+golfkit.cpu"
        mod.jit = jit
        mod.autotune = decorator
        mod.heuristics = decorator
        mod.Config = Config
        mod.cdiv = lambda a, b: -(-a // b)
        mod.next_power_of_2 = lambda n: 1 if n <= 1 else 1 << (int(n) - 1).bit_length()
    elif name == "triton.language":
        mod.constexpr = constexpr
    mod.__getattr__ = lambda attr: (_raise_attr(attr) if attr.startswith("__") else getattr(absent, attr))
    return mod


def _raise_attr(attr):
    raise AttributeError(attr)


class StandInFinder:
    """Serves a stand-in for a CUDA-only module the record imports, and only when the real one is missing:
    it sits at the end of sys.meta_path, so every real finder is asked first. What it serves is noted."""

    FLASH = (("flash_attn_interface", 3), ("flash_attn", 2), ("flash_attn.flash_attn_interface", 2))

    def __init__(self, torch):
        self.torch = torch

    def find_spec(self, fullname, path=None, target=None):
        import importlib.machinery

        top = fullname.split(".")[0]
        if fullname not in dict(self.FLASH) and top != "triton":
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=fullname in ("flash_attn", "triton")
                                              or top == "triton")

    def create_module(self, spec):
        name = spec.name
        if name in dict(self.FLASH):
            mod = flash_attn_module(self.torch, name, dict(self.FLASH)[name])
        else:
            mod = triton_module(name)
        note_stand_in(name.split(".")[0])
        if spec.submodule_search_locations is not None:
            mod.__path__ = []
        return mod

    def exec_module(self, module):
        pass


def install_stand_ins(torch):
    """The stand-in finder, last on sys.meta_path. torch's own probe for Triton is answered first (and
    cached), so that torch never takes the stand-in for a real Triton."""
    try:
        from torch.utils import _triton

        _triton.has_triton_package()
        _triton.has_triton()
    except Exception:  # noqa: BLE001, S110 - an older or newer torch without these helpers: nothing cached
        pass
    sys.meta_path.append(StandInFinder(torch))


def cpu_autocast(torch):
    """`torch.autocast(device_type="cuda", dtype=...)` as CPU autocast with the same dtype and switch: the
    script's CUDA regions compute in the precision it asked for (bfloat16 weights, as a binary linear
    layer makes, then meet float32 inputs as they would under CUDA autocast)."""
    base = torch.amp.autocast_mode.autocast

    class autocast(base):  # torch's own name
        def __init__(self, device_type="cuda", dtype=None, enabled=True, cache_enabled=None):
            if device_type == "cuda":
                if enabled:
                    note_stand_in(f"autocast cuda->cpu ({str(dtype or torch.float16).replace('torch.', '')})")
                device_type = "cpu"
                dtype = torch.float16 if dtype is None else dtype
            super().__init__(device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    class cuda_amp_autocast(autocast):  # torch.cuda.amp.autocast(enabled, dtype, cache_enabled)
        def __init__(self, enabled=True, dtype=None, cache_enabled=True):
            super().__init__("cuda", dtype=dtype or torch.float16, enabled=enabled, cache_enabled=cache_enabled)

    torch.autocast = autocast
    torch.amp.autocast = autocast
    torch.cuda.amp.autocast = cuda_amp_autocast



