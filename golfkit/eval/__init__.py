"""Re-run a submission's evaluation from its artifact: model, windows, token bytes, val_loss and val_bpb.

    artifact -> decode -> model -> windows -> per-token loss and bytes -> val_loss, val_bpb

golfkit.data.token_bytes holds golfkit's own byte tables of a tokenizer, `windows` lays out the
standard and sliding-window evaluations, `model` is golfkit's implementation of the reference
family (docs/reference-model.md), `evaluate` runs the batched, shardable loop, `load` turns files
into those objects with errors a person can act on, and `trusted` runs a record's own model class in a
subprocess. golfkit.verify.plugins.rerun turns a re-run into verify findings.
"""
