"""minify: source -> minify -> wrap (encoding) -> proof that it decodes to the same program.

`packer` runs the whole pipeline; golfkit.wrappers decodes any self-extracting wrapper without
running it (shared with verify, probe and build).
"""
