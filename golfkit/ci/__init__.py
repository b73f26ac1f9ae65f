"""Records that cannot disagree with their logs, and CI for records pull requests.

- `new`: make a record folder from a run, every number taken from its logs and files.
- `shape` + `git`: the shape of a records pull request in a git range.
- `pipeline`: `golfkit ci`, shape checks and verify on the new folder, annotated for GitHub.
- `runs`: which final metric line is a run's score, and its curves (shared by `new` and `plot`).
- `plot`: training/validation curves and final scores of a record's seed logs.
"""
