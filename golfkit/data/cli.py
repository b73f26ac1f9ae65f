"""`golfkit data`: make synthetic datasets and check shards."""

from __future__ import annotations

from pathlib import Path

import click

from golfkit.data.shards import check_shard


@click.group()
def data() -> None:
    """Make synthetic datasets and check token shards."""


@data.command()
@click.argument("out", type=click.Path(path_type=Path))  # a file is refused in one line (make_dataset)
@click.option("--vocab-size", default=512, show_default=True, help="Tokenizer vocabulary size.")
@click.option("--train-docs", default=40_000, show_default=True, help="Synthetic training documents.")
@click.option("--val-docs", default=1_000, show_default=True, help="Synthetic validation documents.")
@click.option("--seed", default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace a dataset already in OUT (its tokenizer and every shard).")
def synth(out: Path, vocab_size: int, train_docs: int, val_docs: int, seed: int, force: bool) -> None:
    """Write a synthetic corpus as tokenizer.model + train/val shards into OUT.

    A folder that already holds a tokenizer or shards is refused without --force: shards made with another
    tokenizer must never sit beside the new ones (the trainer reads every fineweb_train_*.bin)."""
    from golfkit.data.tokenizer import make_dataset

    ds = make_dataset(out, vocab_size, train_docs, val_docs, seed, force=force)
    click.echo(f"tokenizer: {ds.tokenizer}")
    click.echo(f"train: {len(ds.train_shards)} shard(s) in {ds.root}")
    click.echo(f"val: {ds.val_shard} tokens:{ds.val_tokens} bytes:{ds.val_bytes}")


@data.command("check")
@click.argument("shards", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--vocab-size", type=int, default=None, help="Also require every token id below this.")
def check(shards: tuple[Path, ...], vocab_size: int | None) -> None:
    """Validate token shards: magic, version, size, and optionally token range."""
    for path in shards:
        info = check_shard(path, vocab_size)
        click.echo(f"{info.path}: ok, {info.num_tokens} tokens, max id {info.max_token}")
