"""probe: run a record's own evaluation code, sandboxed, on a tiny random model and a synthetic stream,
and check it against the rules (coverage, byte accounting, C1-C4, document isolation). See docs/probe.md.

run.py orchestrates, sandbox.py boxes the child, child.py (standalone) instruments the script,
inputs.py makes the tokenizer, stream and run plan, probes.py turns the records into findings,
report.py renders in verify's formats; golfkit.verify.plugins.probes is the extra check for
`verify --probes`.
"""
