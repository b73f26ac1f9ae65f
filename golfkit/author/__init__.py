"""Authoring record folders: records that cannot disagree with their logs.

- `new_record`: make a record folder from a run, every number taken from its logs and files.
- `curves`: which final metric line is a run's score, and its curves (shared by `new` and `plot`).
- `plot`: training/validation curves and final scores of a record's seed logs.
"""
