"""minify: source -> minify -> wrap (encoding) -> proof that it decodes to the same program.

`unwrap` decodes any self-extracting wrapper without running it (used by verify too).
"""
