"""The built-in checks. Each is a pure function `RecordEvidence -> list[Finding]`; the ids of its
findings start with the prefix it is registered under (a stable interface for CI configs)."""

from __future__ import annotations

from collections.abc import Callable

from golfkit.findings import Finding
from golfkit.verify.checks import claims, code, data, files, readme, roles, rules, seeds, sizes, timing
from golfkit.verify.checks import stats as stats_checks
from golfkit.verify.evidence import RecordEvidence

Check = Callable[[RecordEvidence], list[Finding]]

CHECKS: list[tuple[str, Check]] = [
    ("files.", files.check_files),
    ("log.", files.check_logs),
    ("log.", roles.check_log_roles),
    ("submission.", files.check_submission),
    ("claim.", claims.check_claims),
    ("readme.", readme.check_readme),
    ("size.", sizes.check_seed_sizes),
    ("budget.", sizes.check_budget),
    ("code.", code.check_code),
    ("seeds.", seeds.check_seeds),
    ("time.", timing.check_times),
    ("data.", data.check_data),
    ("stats.", stats_checks.check_seed_statistics),
    ("rules.", rules.check_rules),
]


def run_checks(evidence: RecordEvidence) -> list[Finding]:
    """Every built-in check over one record, in registry order."""
    found: list[Finding] = []
    for _prefix, check in CHECKS:
        found.extend(check(evidence))
    return found
