"""What each log is (golfkit/verify/roles.py), said once per log that is not a seed run; a console tail
before a run; and a log whose nvidia-smi table lists other GPUs than the 8xH100 the record states.

Where submission.json states no hardware, rules.track.hardware (checks/rules.py) judges the record's
hardware from the same nvidia-smi tables; this check covers the logs that contradict a stated 8xH100.
"""

from __future__ import annotations

from collections import Counter

from golfkit.facts import TIMED_TRACK, TIMED_TRACK_GPU, TIMED_TRACK_GPUS
from golfkit.findings import Finding, error, info, warning
from golfkit.verify.evidence import LogEvidence, RecordEvidence
from golfkit.verify.roles import declared_role

ROLE_IDS = {"summary": "log.summary", "reproduction": "log.reproduction", "ablation": "log.ablation",
            "exploration": "log.exploration"}
ROLE_WORDS = {"summary": "a driver summary, not a run", "reproduction": "a reproduction, not a seed log",
              "ablation": "an ablation, not a seed log", "exploration": "an exploratory run no claim uses"}


def check_log_roles(ev: RecordEvidence) -> list[Finding]:
    found: list[Finding] = []
    sub = ev.submission
    paths = {log.path for log in ev.logs}
    for path, word in (sub.log_roles.items() if sub else []):
        if path not in paths or declared_role(word) is None:
            why = "no log of the folder has that path" if path not in paths else \
                "not a role (reproduction, ablation, exploration, summary)"
            found.append(warning("log.extra_logs.unknown",
                                 f"{sub.path}'s extra_logs names {path} as `{word}`: {why}", file=sub.path,
                                 evidence={"log": path, "role": word, "logs": sorted(paths)}))
    for log in ev.logs:
        if log.copy_of is not None:
            continue
        if log.console_tail is not None:
            first, last = log.console_tail
            found.append(info("log.console_tail",
                              f"{log.path} opens with {last - first + 1} lines of console output (lines {first}-{last}) "
                              f"before its run; they are not a run of their own", file=log.path, line=first,
                              evidence={"lines": [first, last]}))
        if log.role in ROLE_IDS:
            found.append(info(ROLE_IDS[log.role], f"{log.path} is {ROLE_WORDS[log.role]}: {log.role_reason}",
                              file=log.path, evidence={"role": log.role, "reason": log.role_reason}))
        if ev.track == TIMED_TRACK:
            found.extend(_hardware(log, _stated_hardware(ev)))
    return found


def _stated_hardware(ev: RecordEvidence) -> str | None:
    """The track's GPU as submission.json's `hardware` states it (`8xH100 80GB SXM`), else None."""
    stated = ev.submission.canonical.get("hardware") if ev.submission else None
    return stated if isinstance(stated, str) and TIMED_TRACK_GPU.lower() in stated.lower() else None


def _hardware(log: LogEvidence, stated: str | None) -> list[Finding]:
    gpus = log.run.gpus
    if not gpus or stated is None:
        return []
    names = Counter(name for _, name, _ in gpus)
    other = [name for name in names if TIMED_TRACK_GPU.lower() not in name.lower()]
    if not other and len({index for index, _, _ in gpus}) >= TIMED_TRACK_GPUS:
        return []
    shown = ", ".join(f"{count}x {name}" for name, count in names.items())
    why = f"not {TIMED_TRACK_GPU}" if other else f"{len(gpus)} GPUs, not {TIMED_TRACK_GPUS}"
    return [error("log.hardware.not_track",
                  f"{log.path}'s nvidia-smi lists {shown} ({why}), but submission.json states {stated!r}: the "
                  f"10-minute track is timed on {TIMED_TRACK_GPUS}x{TIMED_TRACK_GPU}", file=log.path, line=gpus[0][2],
                  evidence={"gpus": [name for _, name, _ in gpus], "stated": stated, "track_gpu": TIMED_TRACK_GPU,
                            "track_gpus": TIMED_TRACK_GPUS})]
