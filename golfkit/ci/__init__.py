"""CI for records pull requests.

- `shape` + `git`: the shape of a records pull request in a git range.
- `pipeline`: `golfkit ci`, shape checks and verify on the new folder, annotated for GitHub.
"""
