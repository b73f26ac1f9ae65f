"""`golfkit build` and `golfkit inspect`: quantize a checkpoint, pack and code it, account for every byte.

checkpoint -> schemes (one per tensor, by name pattern) -> container -> codings -> artifact + budget.
"""
