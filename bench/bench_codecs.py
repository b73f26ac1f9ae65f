"""Benchmark: model bytes and time of every codec/layout against the order-0 entropy bound.

Usage: python bench/bench_codecs.py [--checkpoint CKPT | --artifact GOLFKIT_ARTIFACT] [--scheme int6_row]
       [--min-numel N] [--json OUT]
Without --checkpoint it builds a baseline-sized state dict (9 layers, 512 wide, MLP 3x, vocab
1024, 4 KV heads) with heavy-tailed (Student-t, 4 dof) rows and log-normal column scales.
Reports, for the same quantized values: (1) the whole stream of q values in row, column and
byte-shuffled layouts under every general codec, (2) golfkit artifacts (same container, scales
included) for `--codec best`, `ans` and the general codecs, (3) decode time of an artifact of
about 16 MB (int8, `--codec best`) through read_artifact and through the emitted loader.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from golfkit.artifact import codecs
from golfkit.artifact.container import read_artifact
from golfkit.packing.checkpoint import load_checkpoint
from golfkit.packing.part_codecs import order0_bytes
from golfkit.packing.pipeline import build_in_memory, quantize_state
from golfkit.packing.policy import parse_rule

GENERAL = [("zlib", 9), ("zstd", 22), ("lzma", 9), ("xz", 9), ("brotli", 11)]
REFERENCE = ("brotli", "zstd", "lzma")  # the goal compares against the best of these


def baseline_state(seed: int = 0, layers: int = 9, dim: int = 512, vocab: int = 1024, kv: int = 256) -> dict:
    g = torch.Generator().manual_seed(seed)
    t4 = torch.distributions.StudentT(torch.tensor(4.0))
    torch.manual_seed(seed)

    def mat(rows: int, cols: int, std: float) -> torch.Tensor:
        cols_scale = torch.exp(torch.randn(cols, generator=g) * 0.4)
        return t4.sample((rows, cols)) * std * cols_scale

    sd = {"tok_emb.weight": mat(vocab, dim, 0.05)}
    for i in range(layers):
        p = f"blocks.{i}."
        sd[p + "attn.c_q.weight"] = mat(dim, dim, 0.02)
        sd[p + "attn.c_k.weight"] = mat(kv, dim, 0.02)
        sd[p + "attn.c_v.weight"] = mat(kv, dim, 0.02)
        sd[p + "attn.proj.weight"] = mat(dim, dim, 0.01)
        sd[p + "attn.q_gain"] = torch.full((8,), 1.5)
        sd[p + "mlp.fc.weight"] = mat(3 * dim, dim, 0.02)
        sd[p + "mlp.proj.weight"] = mat(dim, 3 * dim, 0.01)
        sd[p + "attn_scale"] = torch.ones(dim)
        sd[p + "mlp_scale"] = torch.ones(dim)
        sd[p + "resid_mix"] = torch.stack([torch.ones(dim), torch.zeros(dim)])
    sd["skip_weights"] = torch.ones(layers // 2, dim)
    return sd


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def streams(state: dict, scheme: str, min_numel: int) -> dict:
    """Whole-stream compression of all q values (and, separately, the fp16 scales)."""
    artifact, _ = quantize_state(state, [parse_rule(f"*={scheme}")], min_numel=min_numel)
    qs = [r.parts["q"].numpy() for r in artifact.tensors if "q" in r.parts]
    scales = b"".join(r.parts["scale"].numpy().tobytes() for r in artifact.tensors if "scale" in r.parts)
    out = {"values": int(sum(q.size for q in qs)), "order0_bytes": sum(order0_bytes(q) for q in qs),
           "scales_raw_bytes": len(scales), "codecs": {}}
    for layout in codecs.LAYOUTS:
        raw = b"".join(codecs.lay_out(q, layout, 2) for q in qs)
        for name, level in GENERAL:
            blob, secs = timed(codecs.compress_bytes, raw, name, level)
            blob = blob[0]
            out["codecs"][f"{name}-{level}:{layout}"] = {"bytes": len(blob), "seconds": round(secs, 2),
                                                         "vs_order0": len(blob) / out["order0_bytes"] - 1}
            print(f"  stream {name}-{level}:{layout}: {len(blob):,} ({100 * (len(blob) / out['order0_bytes'] - 1):+.2f}% vs order-0) {secs:.1f}s", flush=True)
    return out


def artifacts(state: dict, scheme: str, specs: list[str], min_numel: int) -> dict:
    """Model bytes of golfkit artifacts for each codec spec (same container, scales included)."""
    out = {}
    rules = [parse_rule(f"*={scheme}")]
    for spec in specs:
        built, secs = timed(build_in_memory, state, rules, spec, None, min_numel)
        entry = {"model_bytes": len(built.blob), "build_seconds": round(secs, 1), "loader_bytes": len(built.loader)}
        if spec in ("best", "ans"):
            entry["coded_q_bytes"], entry["order0_coded_q"] = _ans_parts_vs_order0(built)
        out[spec] = entry
        print(f"  artifact {spec}: {len(built.blob):,} bytes, build {secs:.1f}s", flush=True)
    return out


def _ans_parts_vs_order0(built) -> tuple[int, float]:
    """Bytes of the ANS-coded q parts (tables and group ids included) and the order-0 bound of their values."""
    from golfkit.artifact.compress import decompress

    container = decompress(built.blob)
    hlen = int.from_bytes(container[8:12], "little")
    header = json.loads(container[12 : 12 + hlen])
    q = {r.name: r.parts["q"].numpy() for r in built.artifact.tensors if "q" in r.parts}
    coded = [(e["name"], e["parts"]["q"]["nbytes"]) for e in header["tensors"]
             if "q" in e["parts"] and e["parts"]["q"].get("coding", {}).get("codec") == "ans"]
    return sum(n for _, n in coded), sum(order0_bytes(q[name]) for name, _ in coded)


def decode_time(state: dict) -> dict:
    built = build_in_memory(state, [], "best")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gk"
        path.write_bytes(built.blob)
        read = min(timed(lambda: read_artifact(path).state_dict())[1] for _ in range(3))
        ns: dict = {}
        exec(compile(built.loader, "loader", "exec"), ns)  # noqa: S102 - golfkit's own emitted loader
        loader = min(timed(lambda: ns["load_artifact"](str(path)))[1] for _ in range(3))
    return {"artifact_bytes": len(built.blob), "read_artifact_seconds": round(read, 3), "loader_seconds": round(loader, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint")
    ap.add_argument("--artifact", help="a golfkit artifact (e.g. the example record's): its dequantized weights")
    ap.add_argument("--min-numel", type=int, default=65_536)
    ap.add_argument("--scheme", default="int6_row")
    ap.add_argument("--json")
    ap.add_argument("--skip-streams", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.artifact:
        state = read_artifact(args.artifact).state_dict()
    else:
        state = load_checkpoint(args.checkpoint) if args.checkpoint else baseline_state()
    print(f"state dict: {sum(t.numel() for t in state.values()):,} parameters; scheme {args.scheme}", flush=True)
    report = {"scheme": args.scheme, "params": sum(t.numel() for t in state.values())}
    if not args.skip_streams:
        report["streams"] = streams(state, args.scheme, args.min_numel)
    specs = ["best", "ans"] + [f"{n}-{lv}:{lay}" for n, lv in GENERAL if n in REFERENCE for lay in codecs.LAYOUTS]
    report["artifacts"] = arts = artifacts(state, args.scheme, specs, args.min_numel)
    ref = min((v["model_bytes"], k) for k, v in arts.items() if k not in ("best", "ans"))
    report["best_vs_reference"] = {"reference": ref[1], "reference_bytes": ref[0],
                                   "gain": 1 - arts["best"]["model_bytes"] / ref[0]}
    if arts["best"]["coded_q_bytes"]:
        report["coded_q_vs_order0"] = arts["best"]["coded_q_bytes"] / arts["best"]["order0_coded_q"] - 1
    if not args.artifact:
        report["decode"] = decode_time(state)
    print(json.dumps({k: v for k, v in report.items() if k != "streams"}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
