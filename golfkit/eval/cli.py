"""`golfkit eval`: re-run the standard and sliding-window evaluations of an artifact."""

from __future__ import annotations

import json
from pathlib import Path

import click

from golfkit.artifact.compress import DEFAULT_MAX_OUTPUT
from golfkit.errors import GolfkitError
from golfkit.eval.evaluate import CPU_BATCH_FLOATS, DEFAULT_BATCH_TOKENS
from golfkit.eval.precision import PRECISIONS
from golfkit.eval.run import DEFAULT_STRIDE, MODES, EvalReport

MODEL_FLAGS = ("vocab_size", "num_layers", "model_dim", "num_heads", "num_kv_heads", "mlp_mult", "rope_base",
               "logit_softcap")


@click.command("eval")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Folder of fineweb_val_*.bin shards, or a glob of them.")
@click.option("--tokenizer", required=True, type=click.Path(path_type=Path), help="SentencePiece .model file.")
@click.option("--seq-len", type=int, default=None, help="Sliding-window length (default: train_seq_len).")
@click.option("--stride", type=int, default=DEFAULT_STRIDE, show_default=True, help="Sliding-window stride.")
@click.option("--train-seq-len", type=int, default=None,
              help="Trims the stream and sizes the standard windows (default: the header's meta.train_seq_len).")
@click.option("--mode", type=click.Choice(["both", *MODES]), default="both", show_default=True)
@click.option("--vocab-size", type=int, help="Model flags: override or replace the header's meta.model.")
@click.option("--num-layers", type=int)
@click.option("--model-dim", type=int)
@click.option("--num-heads", type=int)
@click.option("--num-kv-heads", type=int)
@click.option("--mlp-mult", type=int)
@click.option("--rope-base", type=float)
@click.option("--logit-softcap", type=float)
@click.option("--trust-code", is_flag=True,
              help="Evaluate with the record's own model code (--script), adapted automatically, in golfkit's "
                   "bubblewrap sandbox.")
@click.option("--hparam", "hparams", multiple=True, metavar="NAME=VALUE",
              help="With --trust-code: a hyperparameter of the run, as its log or README printed it (num_layers=11) or "
                   "as the environment variable the script reads (NUM_LAYERS=11); repeatable.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="fp32, or bf16 autocast as CUDA applies it (emulated on a CPU). auto: the record script's own "
                   "choice with --trust-code (bf16 for real records); else bf16 on CUDA, fp32 on a CPU.")
@click.option("--unconfined", is_flag=True,
              help="With --trust-code where bubblewrap is missing: run the script without the sandbox (the report "
                   "says so). Only on a machine you can afford to lose.")
@click.option("--script", type=click.Path(path_type=Path), default=None,
              help="Script for --trust-code (default: train_gpt.py next to the artifact).")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model body (pays a warm-up).")
@click.option("--batch-tokens", type=int, default=None,
              help=f"Input tokens per batch of windows (default: {DEFAULT_BATCH_TOKENS} on a GPU, about "
                   f"{CPU_BATCH_FLOATS:,} / model_dim on a CPU, so that activations stay in cache).")
@click.option("--device", default=None, help="cpu or cuda[:N] (default: cuda when present). torchrun sets it per rank.")
@click.option("--max-decompressed-bytes", type=int, default=DEFAULT_MAX_OUTPUT, show_default=True,
              help="Refuse artifacts that inflate past this.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def eval_command(artifact: Path, data: Path, tokenizer: Path, seq_len: int | None, stride: int,
                 train_seq_len: int | None, mode: str, trust_code: bool, hparams: tuple[str, ...], precision: str,
                 unconfined: bool, script: Path | None, compile_: bool,
                 batch_tokens: int | None, device: str | None, max_decompressed_bytes: int, as_json: bool,
                 **model_flags: float | None) -> None:
    """Evaluate ARTIFACT on the validation shards: val_loss and val_bpb, standard and sliding window.

    Bytes come from golfkit's own token-byte tables; every target is scored exactly once. Under
    `torchrun --nproc_per_node=N -m golfkit.cli eval ...` the windows are sharded across ranks.
    """
    modes = MODES if mode == "both" else (mode,)
    if trust_code:
        from golfkit.eval.trusted import eval_trusted

        report = eval_trusted(script or artifact.parent / "train_gpt.py", artifact, data, tokenizer,
                              train_seq_len=train_seq_len, seq_len=seq_len, stride=stride, modes=modes,
                              batch_tokens=batch_tokens, device=device, unconfined=unconfined, precision=precision,
                              settings=parse_settings(hparams), max_output=max_decompressed_bytes)
    else:
        from golfkit.eval.run import eval_artifact

        report = eval_artifact(artifact, data, tokenizer, seq_len=seq_len, stride=stride, train_seq_len=train_seq_len,
                               modes=modes, config={k: model_flags[k] for k in MODEL_FLAGS}, compile=compile_,
                               batch_tokens=batch_tokens, device=device, max_output=max_decompressed_bytes,
                               precision=precision)
    if _rank() != 0:
        return
    if trust_code and unconfined:
        from golfkit.sandbox import UNCONFINED_NOTICE

        if as_json:
            click.echo(json.dumps({"notices": [UNCONFINED_NOTICE], **report.to_json()}, indent=2))
        else:
            click.echo(f"NOTICE: {UNCONFINED_NOTICE}\n{format_report(report)}")
        return
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else format_report(report))


def format_report(report: EvalReport) -> str:
    """Human-readable report; metric lines use the trainers' `key:value` style for easy comparison."""
    m = report.model
    arch = (f"{m['num_layers']} layers x {m['model_dim']}, vocab {m['vocab_size']}" if "num_layers" in m
            else m.get("family", "?"))
    lines = [
        f"artifact: {report.artifact} ({report.artifact_bytes:,} bytes), model: {arch}, precision: {report.precision}",
        f"validation: {report.stream_tokens:,} tokens, trimmed for train_seq_len {report.train_seq_len} to "
        f"{report.targets:,} targets, {report.target_bytes:,} bytes" + (f", {report.world_size} ranks"
                                                                          if report.world_size > 1 else ""),
    ]
    if "logits" in m:  # --trust-code: what the adapter did with the record's code
        parts = [f"logits from {m['logits']}"]
        parts += [f"weights by {m['weights']}"] if m.get("weights") else []
        parts += [f"dtypes {m['dtypes']}"] if m.get("dtypes") else []
        parts += [f"decoded {m['wrapper']}"] if m.get("wrapper") else []
        parts += [f"CPU stand-ins for {', '.join(m['stand_ins'])}"] if m.get("stand_ins") else []
        lines.append("adapter: " + "; ".join(parts))
    for r in report.results:
        window = f"seq_len:{r.seq_len}" + (f" stride:{r.stride}" if r.mode == "sliding" else "")
        lines.append(f"{r.mode:<8} val_loss:{r.val_loss:.8f} val_bpb:{r.val_bpb:.8f} {window} "
                     f"tokens:{r.tokens} bytes:{r.bytes} time:{r.wall_s:.1f}s")
    return "\n".join(lines)


def parse_settings(items: tuple[str, ...]) -> dict[str, str]:
    """--hparam NAME=VALUE items as a dict (bad input: GolfkitError)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not name.strip().replace("_", "").isalnum():
            raise GolfkitError(f"--hparam {item!r}: expected NAME=VALUE, e.g. num_layers=11 or NUM_LAYERS=11")
        out[name.strip()] = value
    return out


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))
