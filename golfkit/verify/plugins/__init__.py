"""Checks that verify runs only when asked, because they need more than the record's files.

An extra check is any callable `RecordEvidence -> list[Finding]`, passed to
`golfkit.verify.api.verify_paths(paths, extra_checks=[...])`. Two ship with golfkit:

- `rerun.rerun_check(...)`: evaluate the record's artifacts again with golfkit.eval (`verify --rerun`);
- `probes.make_probe_check(...)`: run the record's own evaluator in golfkit.probe (`verify --probes`).

They live here, above eval and probe, so that neither of those packages imports verify.
"""

from __future__ import annotations

from collections.abc import Callable

from golfkit.findings import Finding
from golfkit.verify.evidence import RecordEvidence

ExtraCheck = Callable[[RecordEvidence], list[Finding]]
