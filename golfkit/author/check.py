"""`golfkit check RECORD`: everything golfkit can establish about one record folder, in one run, before
the pull request is opened.

    folder -> plan (what can be checked here, and why not the rest)
           -> verify + the statistics against the best record of the track (`--against auto`)
              + extra checks: the byte budget of every seed from the files (code, loader, model),
                the re-run of each shipped artifact on shipped data, the proof of a shipped wrapper,
                the sandboxed probes when asked
           -> one report, and a summary: what was checked, what could not be and why, what to do next

Each part is one of verify's extra checks (`golfkit.verify.plugins`), so `golfkit ci --check` runs the
same set on a pull request. A part records how it went in its `Step`, which the summary prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from golfkit.errors import GolfkitError
from golfkit.facts import SIZE_CAP_BYTES
from golfkit.findings import Finding, Severity, error, info, warning
from golfkit.report import RecordReport
from golfkit.verify.evidence import RecordEvidence

SEED_IN_NAME = re.compile(r"seed[_-]?(\d+)")
LOADER_FILE = "artifact_loader.py"
Progress = Callable[[str], None]


@dataclass
class Step:
    """One part of a check: whether it ran, and in one line what it found or why it could not run."""

    name: str
    checked: bool = False
    detail: str = "not reached"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "checked": self.checked, "detail": self.detail}


@dataclass
class CheckOptions:
    """What `golfkit check` is asked to do (see its --help)."""

    against: str | None = "auto"  # a record folder, "auto", or None
    rerun: bool = True  # re-run shipped artifacts when data is there
    data: Path | None = None  # validation shards for the re-run (default: the record's own)
    tokenizer: Path | None = None
    probes: bool = False
    trust_code: bool = False
    unconfined: bool = False


@dataclass
class CheckResult:
    report: RecordReport
    steps: list[Step]
    next_steps: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.report.verdict == "fail"

    def to_json(self) -> dict[str, Any]:
        return {"record": self.report.to_json(), "steps": [s.to_json() for s in self.steps],
                "next": list(self.next_steps)}


# ---------------------------------------------------------------- the parts, as extra checks


def budget_check(step: Step | None = None, progress: Progress | None = None):
    """An extra check: each seed's bytes counted from the shipped files (code, decoder, model) against
    the cap and against the seed's claimed total."""
    step = step or Step("budget")

    def check_budget(evidence: RecordEvidence) -> list[Finding]:
        if progress:
            progress("counting the byte budget of every seed")
        findings, checked, detail = seed_budgets(evidence)
        step.checked, step.detail = checked, detail
        return findings

    check_budget.__name__ = "budget_check"
    return check_budget


def seed_budgets(evidence: RecordEvidence) -> tuple[list[Finding], bool, str]:
    """(findings, whether any seed was counted, one line for the summary)."""
    from golfkit.verify.checks.code import counted_code_bytes, counted_siblings

    root = Path(evidence.root)
    code = counted_code_bytes(evidence)
    if code is None:
        return [], False, "no training script shipped: nothing to count"
    artifacts = _artifacts(evidence)
    if not artifacts:
        return [], False, ("the record ships no artifact (*.ptz): the logged totals were checked by verify; "
                           "ship the artifact to have its bytes counted from the file")
    code_text = _code_text(evidence, counted_siblings(evidence))
    parts = ", ".join([f"{evidence.script.path} {evidence.script.bytes:,}"]
                      + [f"{ref.name} {ref.bytes:,}" for ref in counted_siblings(evidence)])
    claims = evidence.submission.seed_results if evidence.submission else {}
    findings: list[Finding] = []
    lines = []
    for seed, path in artifacts:
        model = path.stat().st_size
        missing = _missing_loader(path, code_text)
        total = code + model + (len(missing.encode()) if missing else 0)
        name = path.relative_to(root).as_posix()
        label = f"seed {seed}" if seed is not None else name
        what = f"code {code:,} ({parts}) + model {model:,} ({name})"
        if missing:
            what += f" + the decoder it needs {len(missing.encode()):,}"
            findings.append(error("check.loader.missing",
                                  f"{name} is a version-2 golfkit container, and no shipped code holds its decoder: "
                                  f"the script cannot read it; ship it as {LOADER_FILE} (golfkit build --loader "
                                  f"{LOADER_FILE}), which the reference trainer reads with ARTIFACT_LOADER",
                                  file=name, evidence={"loader_bytes": len(missing.encode())}))
        evidence_json = {"seed": seed, "artifact": name, "code_bytes": code, "model_bytes": model,
                         "loader_bytes_missing": len(missing.encode()) if missing else 0, "total_bytes": total,
                         "headroom_bytes": SIZE_CAP_BYTES - total}
        findings.append(info("check.budget.seed", f"{label}: {what} = {total:,} bytes, headroom "
                             f"{SIZE_CAP_BYTES - total:,} to {SIZE_CAP_BYTES:,}", file=name, evidence=evidence_json))
        lines.append(f"{label} {total:,}")
        if total > SIZE_CAP_BYTES:
            findings.append(error("check.budget.over_cap",
                                  f"{label}: {total:,} bytes counted from the shipped files, "
                                  f"{total - SIZE_CAP_BYTES:,} over the {SIZE_CAP_BYTES:,}-byte cap; shrink the model "
                                  "(golfkit build --scheme '*=int6_row', --codec best) or the code (golfkit minify)",
                                  file=name, evidence=evidence_json))
        claim = claims.get(str(seed)) if seed is not None else None
        if claim is not None and claim.bytes_total is not None and claim.bytes_total != total:
            findings.append(warning("check.budget.claim_differs",
                                    f"seed {seed} claims bytes_total {claim.bytes_total:,}, but its shipped files make "
                                    f"{total:,} ({what}); claim what the folder holds (golfkit new counts it)",
                                    file=evidence.submission.path if evidence.submission else None,
                                    evidence={**evidence_json, "claimed": claim.bytes_total}))
    detail = f"{len(artifacts)} artifact(s) counted from the files: {'; '.join(lines)} bytes (cap {SIZE_CAP_BYTES:,})"
    return findings, True, detail


def _artifacts(evidence: RecordEvidence) -> list[tuple[int | None, Path]]:
    """Each shipped artifact (*.ptz, and any file a seed claims as its artifact) with its seed."""
    root = Path(evidence.root)
    named: dict[str, int] = {}
    canonical = evidence.submission.canonical if evidence.submission else {}
    for seed, result in (canonical.get("seed_results") or {}).items():
        extra = result.get("extra") if isinstance(result, dict) else None
        artifact = extra.get("artifact") if isinstance(extra, dict) else None
        if isinstance(artifact, str) and str(seed).lstrip("-").isdigit():
            named[artifact] = int(seed)
    files = sorted({*(p.name for p in root.glob("*.ptz")), *(n for n in named if (root / n).is_file())})
    out = []
    seeds = sorted(evidence.seed_logs())
    for name in files:
        path = root / name
        if path.is_symlink() or not path.is_file():
            continue
        seed = named.get(name)
        if seed is None and (m := SEED_IN_NAME.search(name)):
            seed = int(m.group(1))
        if seed is None and len(seeds) == 1:
            seed = seeds[0]
        out.append((seed, path))
    return out


def _code_text(evidence: RecordEvidence, siblings) -> str:
    """The text of the code that counts: the script's program and the siblings it uses."""
    root = Path(evidence.root)
    texts = [evidence.script.program or ""] if evidence.script else []
    for ref in siblings:
        try:
            texts.append((root / ref.name).read_bytes().decode("utf-8", errors="replace"))
        except OSError:
            continue
    return "\n".join(texts)


def _missing_loader(path: Path, code_text: str) -> str | None:
    """The decoder a version-2 golfkit container needs when no counted code holds it, else None."""
    from golfkit.artifact.container import container_version
    from golfkit.artifact.record_formats import read_record_artifact
    from golfkit.packing.loader import emit_loader

    try:
        rec = read_record_artifact(path)
    except GolfkitError:
        return None  # verify and the re-run say what they make of a file golfkit cannot read
    if rec.container is None or container_version(rec.container) < 2:
        return None
    outer = rec.layers[0] if rec.layers in (["zstd"], ["zlib"]) else "zstd"
    loader = emit_loader(rec.container, outer)
    return None if loader.split("\n", 1)[1] in code_text else loader


def wrapper_check(step: Step | None = None, progress: Progress | None = None):
    """An extra check: a shipped self-extracting wrapper decodes without running and compiles
    (`golfkit minify --check`)."""
    step = step or Step("wrapper")

    def check_wrapper(evidence: RecordEvidence) -> list[Finding]:
        script = evidence.script
        if script is None or not script.wrapper_layers:
            step.checked, step.detail = False, "the script is plain source, not a self-extracting wrapper: nothing to prove"
            return []
        if progress:
            progress(f"proving the wrapper {script.path} (minify --check)")
        from golfkit.minify.proof import proof_summary, prove

        text = script.text or ""
        try:
            found = [proof_summary(text, script.path), *prove(text, None, None, script.path)]
        except GolfkitError as exc:
            found = [error("minify.proof.does_not_compile", f"{script.path}: {exc}", file=script.path)]
        bad = [f for f in found if f.severity == Severity.ERROR]
        step.checked = True
        step.detail = (f"{script.path} ({' > '.join(script.wrapper_layers)}): "
                       + ("does not decode and compile: see the errors" if bad else "decodes without running and compiles"))
        return found

    check_wrapper.__name__ = "wrapper_check"
    return check_wrapper


def rerun_step(options: CheckOptions, step: Step | None = None, progress: Progress | None = None):
    """An extra check: the re-run of each shipped artifact on the shipped (or given) validation data, when
    both are there; otherwise the step says what is missing and nothing fails."""
    from golfkit.verify.plugins.rerun import rerun_check

    step = step or Step("rerun")
    inner = rerun_check(data=options.data, tokenizer=options.tokenizer, trust_code=options.trust_code,
                        unconfined=options.unconfined)

    def check_rerun(evidence: RecordEvidence) -> list[Finding]:
        root = Path(evidence.root)
        artifacts = [p for p in sorted(root.glob("*.ptz")) if p.is_file()]
        data = options.data or root
        shards = sorted(Path(data).glob("fineweb_val_*.bin"))
        tokenizers = [options.tokenizer] if options.tokenizer else sorted(root.glob("*.model"))
        missing = [what for what, have in (("no artifact (*.ptz)", artifacts),
                                           ("no validation shards (fineweb_val_*.bin)", shards),
                                           ("no tokenizer (*.model)", tokenizers)) if not have]
        if missing:
            step.checked = False
            step.detail = (f"the record ships {', '.join(missing)}: nothing to re-run"
                           + ("" if not artifacts else "; pass --data DIR --tokenizer MODEL to re-run on your copy"))
            return []
        if progress:
            progress(f"re-running the evaluation of {len(artifacts)} artifact(s) on {len(shards)} shard(s)")
        found = inner(evidence)
        matched = sum(f.id.endswith(".matched") for f in found if f.id.startswith("rerun."))
        bad = [f for f in found if f.severity == Severity.ERROR]
        step.checked = True
        step.detail = (f"{len(artifacts)} artifact(s) re-evaluated: "
                       + (f"{len(bad)} error(s), see above" if bad else f"{matched} claim(s) reproduced"))
        return found

    check_rerun.__name__ = "rerun_check"
    return check_rerun


def probe_step(options: CheckOptions, step: Step | None = None, progress: Progress | None = None):
    """An extra check: the sandboxed probes of the record's own evaluator."""
    from golfkit.probe.run import ProbeOptions
    from golfkit.verify.plugins.probes import make_probe_check

    step = step or Step("probes")
    inner = make_probe_check(ProbeOptions(unconfined=options.unconfined))

    def check_probes(evidence: RecordEvidence) -> list[Finding]:
        if progress:
            progress("probing the record's own evaluator in the sandbox")
        found = inner(evidence)
        bad = [f for f in found if f.severity == Severity.ERROR]
        step.checked = not any(f.id in ("probe.skipped", "probe.not_run") for f in found)
        step.detail = ("ran the script's evaluator under the legality probes: "
                       + (f"{len(bad)} error(s), see above" if bad else "no error")
                       + (" (unconfined: no sandbox)" if options.unconfined else ""))
        return found

    check_probes.__name__ = "probe_check"
    return check_probes


def extra_checks(options: CheckOptions, steps: dict[str, Step] | None = None,
                 progress: Progress | None = None) -> list:
    """The parts of a check beyond verify, as verify's extra checks (`golfkit ci --check` runs these)."""
    steps = steps if steps is not None else {}
    for name in ("budget", "rerun", "wrapper", "probes"):
        steps.setdefault(name, Step(name))
    checks = [budget_check(steps["budget"], progress)]
    if options.rerun:
        checks.append(rerun_step(options, steps["rerun"], progress))
    else:
        steps["rerun"].detail = "not asked (--no-rerun)"
    checks.append(wrapper_check(steps["wrapper"], progress))
    if options.probes:
        checks.append(probe_step(options, steps["probes"], progress))
    else:
        steps["probes"].detail = ("not asked: they run the record's own code; add --probes --trust-code (in a "
                                  "bubblewrap sandbox)")
    return checks


# ---------------------------------------------------------------- one record


def check_options_valid(options: CheckOptions) -> None:
    """Refuse contradictory options, and probes without a sandbox, before anything is read (exit 2)."""
    if options.probes and not options.trust_code:
        raise GolfkitError("--probes runs the record's own code: add --trust-code if you trust it (it runs sandboxed)")
    if options.unconfined and not options.trust_code:
        raise GolfkitError("--unconfined only applies with --trust-code")
    if options.trust_code and (options.probes or options.rerun):
        from golfkit.sandbox import require

        require(options.unconfined)


def check_record(folder: str | Path, options: CheckOptions | None = None,
                 progress: Progress | None = None) -> CheckResult:
    """Check one record folder (see the module doc). Raises GolfkitError for a folder that is not a record."""
    from golfkit.verify.api import find_folders, verify_folders

    options = options or CheckOptions()
    check_options_valid(options)
    folder = Path(folder)
    if not folder.is_dir():
        raise GolfkitError(f"{folder}: not a folder; give one record folder (records/track_*/YYYY-MM-DD_name)")
    found = find_folders([folder])
    if [f.resolve() for f in found] != [folder.resolve()]:
        raise GolfkitError(f"{folder} is not a record folder but holds {len(found)}: golfkit check takes one "
                           f"(e.g. {found[0]}); golfkit verify {folder} verifies them all")
    steps = {"verify": Step("verify"), "against": Step("against")}
    extras = extra_checks(options, steps, progress)
    against = _against(folder, options, steps["against"])
    if progress:
        progress("verify: reconciling claims, logs and files")
    [report] = list(verify_folders([folder], against=against, extra_checks=extras))
    _verify_step(report, steps["verify"], steps["against"], options)
    ordered = [steps[n] for n in ("verify", "budget", "against", "rerun", "wrapper", "probes")]
    return CheckResult(report, ordered, next_steps(report, ordered, folder))


def _against(folder: Path, options: CheckOptions, step: Step) -> str | Path | None:
    if options.against is None:
        step.detail = "not asked (--against none)"
        return None
    if options.against != "auto":
        return Path(options.against)
    from golfkit.facts import is_track_folder

    parent = folder.resolve().parent
    others = [p for p in parent.iterdir() if p.is_dir() and p != folder.resolve()] if is_track_folder(parent.name) else []
    if not others:
        where = parent.name if is_track_folder(parent.name) else "its parent (not a records/track_* folder)"
        step.detail = f"no other record in {where} to compare with"
        return None
    return "auto"


def _verify_step(report: RecordReport, verify: Step, against: Step, options: CheckOptions) -> None:
    own = [f for f in report.findings if not f.id.startswith(("check.", "rerun.", "probe.", "minify."))]
    errors = sum(f.severity == Severity.ERROR for f in own)
    warnings = sum(f.severity == Severity.WARNING for f in own)
    verify.checked = True
    verify.detail = f"claims, logs, files, sizes and timing: {errors} error(s), {warnings} warning(s)"
    stats = report.measured.get("against")
    said = next((f for f in report.findings if f.id.startswith("stats.against.")), None)
    if isinstance(stats, dict):
        against.checked = True
        against.detail = f"against {stats.get('against')}: " + (said.message if said else "compared")
    elif options.against is not None and against.detail == "not reached":
        against.detail = "no other record with a claimed val_bpb to compare with"


def next_steps(report: RecordReport, steps: list[Step], folder: Path) -> list[str]:
    """What the person does next: fix errors first, then what would make more of the folder checkable."""
    out = []
    errors = report.count(Severity.ERROR)
    if errors:
        out.append(f"fix the {errors} error(s) above (each says what to do), then run golfkit check {folder} again")
    elif report.count(Severity.WARNING):
        out.append("read the warnings above: a reviewer will ask about each")
    by = {s.name: s for s in steps}
    if not by["rerun"].checked and "ships no" in by["rerun"].detail and "artifact" not in by["rerun"].detail.split(":")[0]:
        out.append("ship the tokenizer and validation shards the scores refer to (golfkit new --data ...) so that "
                   "anyone can re-run the evaluation")
    if not by["probes"].checked:
        out.append(f"run the legality probes on your own evaluator: golfkit check {folder} --probes --trust-code")
    if not errors:
        out.append("commit this folder alone (one new records/track_*/ folder, nothing else) and open the pull "
                   "request; golfkit ci verifies it there")
    return out


# ---------------------------------------------------------------- rendering


def render_text(result: CheckResult, verbose: bool = False) -> str:
    from golfkit.report import text as text_report
    from golfkit.report import visible

    lines = text_report.notice_lines(result.report.notices)
    lines += text_report.record_lines(result.report, verbose=verbose)
    while lines and not lines[-1].strip():
        lines.pop()
    width = max(len(s.name) for s in result.steps)
    checked = [s for s in result.steps if s.checked]
    not_checked = [s for s in result.steps if not s.checked]
    lines += ["", "checked:"] + [f"  {s.name:<{width}}  {visible(s.detail)}" for s in checked]
    if not_checked:
        lines += ["not checked:"] + [f"  {s.name:<{width}}  {visible(s.detail)}" for s in not_checked]
    lines += ["next:"] + [f"  - {visible(n)}" for n in result.next_steps]
    r = result.report
    lines.append(f"golfkit check: {'FAIL' if result.failed else 'PASS'} ({r.count(Severity.ERROR)} errors, "
                 f"{r.count(Severity.WARNING)} warnings)")
    return "\n".join(lines)
