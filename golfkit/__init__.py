"""golfkit: package and verify Parameter Golf submissions."""

__version__ = "0.1.0"

