"""golfkit: package and verify Parameter Golf submissions."""

__version__ = "0.1.0"

# The challenge's cap on code bytes + compressed model bytes (decimal, not MiB).
SIZE_CAP_BYTES = 16_000_000
# Training and evaluation wall-clock budgets on 8xH100, in seconds.
TRAIN_BUDGET_S = 600.0
EVAL_BUDGET_S = 600.0
