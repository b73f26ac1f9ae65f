"""bytes_code equals the bytes of the shipped code (the script plus every sibling file it imports,
execs or opens), the logged code size equals it too, and embedded sources equal the shipped script."""

from __future__ import annotations

from golfkit.findings import Finding, error, info, warning
from golfkit.verify.evidence import RecordEvidence, SiblingRef
from golfkit.verify.matching import same_source, script_for_log

CODE_HOWS = {"import", "exec", "run_path"}
# A shipped script this small that execs one sibling is a stub: the sibling is the code it counts (accepted).
STUB_MAX_BYTES = 256


def counted_siblings(ev: RecordEvidence) -> list[SiblingRef]:
    """Sibling files that count as code: imported, exec'd or run, and any opened .py file."""
    if ev.script is None:
        return []
    return [ref for ref in ev.script.siblings
            if ref.how in CODE_HOWS or (ref.how == "open" and ref.name.endswith(".py"))]


def counted_code_bytes(ev: RecordEvidence) -> int | None:
    """Bytes of the code that counts: the shipped script plus its counted siblings (None without a script)."""
    if ev.script is None:
        return None
    return ev.script.bytes + sum(ref.bytes or 0 for ref in counted_siblings(ev))


def check_code(ev: RecordEvidence) -> list[Finding]:
    found = _unread_scripts(ev)
    script = ev.script
    if script is None:
        return found
    if script.problem:
        found.append(error("code.wrapper.undecodable", script.problem, file=script.path))
    if script.wrapper_layers:
        found.append(info("code.wrapper.decoded",
                          f"{script.path} is a self-extracting wrapper ({' > '.join(script.wrapper_layers)}); "
                          f"decoded without running it to {len(script.unwrapped or '')} characters of source",
                          file=script.path, evidence={"layers": list(script.wrapper_layers)}))
    siblings = counted_siblings(ev)
    code_bytes = counted_code_bytes(ev)
    for ref in siblings:
        found.append(info("code.sibling.counted",
                          f"{script.path} {ref.how}s {ref.name} from its folder (line {ref.line}); its "
                          f"{ref.bytes} bytes count as code", file=script.path, line=ref.line,
                          evidence={"file": ref.name, "how": ref.how, "bytes": ref.bytes}))
    for ref in script.siblings:
        if ref not in siblings and ref.how == "open":
            found.append(info("code.sibling.data_file",
                              f"{script.path} names {ref.name} ({ref.bytes} bytes) from its folder (line {ref.line}); "
                              "if the model needs it at evaluation, it counts toward the 16,000,000 bytes",
                              file=script.path, line=ref.line, evidence={"file": ref.name, "bytes": ref.bytes}))
    sub = ev.submission
    parts = {script.path: script.bytes, **{ref.name: ref.bytes for ref in siblings}}
    stub = len(siblings) == 1 and siblings[0].how in CODE_HOWS and script.bytes <= STUB_MAX_BYTES
    if stub and sub is not None and sub.bytes_code == siblings[0].bytes:
        pass  # bytes_code counts the sibling that a stub execs (the stub's bytes are in code_bytes for the budget)
    elif sub is not None and sub.bytes_code is not None and sub.bytes_code != code_bytes:
        other = next((s.path for s in ev.scripts if s.bytes == sub.bytes_code), None)
        note = f"; that is the size of {other}" if other else ""
        if sub.bytes_code == script.bytes and siblings:
            note = "; that leaves out the sibling files the script uses"
        found.append(error("code.bytes_code.mismatch",
                           f"bytes_code {sub.bytes_code} in {sub.path} is not the {code_bytes} bytes of the shipped "
                           f"code ({', '.join(f'{k} {v}' for k, v in parts.items())}){note}",
                           file=sub.path, evidence={"claimed": sub.bytes_code, "shipped": code_bytes, "parts": parts}))
    found.extend(_logged_sizes(ev, code_bytes or 0))
    found.extend(_embedded(ev))
    return found


def _logged_sizes(ev: RecordEvidence, code_bytes: int) -> list[Finding]:
    found: list[Finding] = []
    script = ev.script
    assert script is not None
    for log in ev.distinct_logs():
        logged = log.run.size("code")
        # Each log against the script it ran (its embedded source or code size names it: variants, a sibling
        # that the shipped script execs), else the main script.
        ran, how = script_for_log(ev, log)
        ran = ran or script
        if logged is None or logged.bytes in (code_bytes, script.bytes, ran.bytes):
            continue
        compressed = log.run.size("code_compressed")
        evidence = {"logged": logged.bytes, "shipped": code_bytes, "script": ran.path,
                    "logged_compressed": compressed.bytes if compressed else None}
        source = log.run.embedded_source
        if how == "embedded source" and source is not None:
            if logged.bytes == source.bytes:
                found.append(info("code.logged_size.trailing_newline",
                                  f"{log.path} logs a code size of {logged.bytes} bytes and embeds that source, which "
                                  f"is {ran.path} ({ran.bytes} bytes) but for its trailing newlines", file=log.path,
                                  line=logged.line, evidence={**evidence, "embedded_bytes": source.bytes}))
                continue
            found.append(warning("code.logged_size.mismatch",
                                 f"{log.path} logs a code size of {logged.bytes} bytes, but the source it embeds "
                                 f"({source.bytes} bytes) is the shipped {ran.path} ({ran.bytes} bytes): the logged "
                                 "size is not that of the code the run embedded", file=log.path, line=logged.line,
                                 evidence={**evidence, "embedded_bytes": source.bytes}))
            continue
        found.append(warning("code.logged_size.mismatch",
                             f"{log.path} logs a code size of {logged.bytes} bytes but the shipped {ran.path} "
                             f"is {ran.bytes} bytes: the run used other code than the shipped file",
                             file=log.path, line=logged.line, evidence=evidence))
    return found


def _unread_scripts(ev: RecordEvidence) -> list[Finding]:
    found: list[Finding] = []
    for script in ev.scripts:
        refused = script.refused
        if refused is not None:
            ident = "code.source.too_deep" if refused.kind == "too_deep" else "code.source.too_large"
            found.append(error(ident, f"{refused.message}; its imports were looked for by pattern only",
                               file=script.path, line=refused.line))
    for problem in ev.problems:
        if problem.kind == "script_unreadable":
            found.append(error("code.script.unreadable", problem.detail, file=problem.file))
        elif problem.kind == "script_too_large":
            found.append(error("code.script.too_large", f"{problem.file} is over {problem.limit} bytes; no training "
                               "script is that large", file=problem.file))
    return found


def _embedded(ev: RecordEvidence) -> list[Finding]:
    script = ev.script
    assert script is not None
    texts = {s.path: s.text for s in ev.scripts if s.text is not None}
    texts.update({f"{s.path} (decoded)": s.unwrapped for s in ev.scripts if s.unwrapped is not None})
    executed = {ref.name for ref in counted_siblings(ev) if ref.how in CODE_HOWS}
    differing: list[str] = []
    found: list[Finding] = []
    for log in ev.distinct_logs():
        source = log.run.embedded_source
        if source is None:
            continue
        equal = [name for name, text in texts.items() if same_source(text, source.text)]
        if script.path in equal or f"{script.path} (decoded)" in equal or executed & set(equal):
            continue  # the main script, or a sibling it execs (the code that runs)
        if equal:
            found.append(info("code.embedded.other_file",
                              f"{log.path} ran {equal[0]}, not {script.path}", file=log.path, line=source.line))
            continue
        differing.append(log.path)
        seed = f" (seed {log.seed})" if log.seed is not None else ""
        found.append(warning("code.embedded.differs",
                             f"the source embedded in {log.path}{seed} ({source.bytes} bytes) equals no shipped "
                             f"file; {script.path} is {script.bytes} bytes: that run used other code",
                             file=log.path, line=source.line,
                             evidence={"embedded_bytes": source.bytes, "shipped_bytes": script.bytes,
                                       "seed": log.seed}))
    return found
