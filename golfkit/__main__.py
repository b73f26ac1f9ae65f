"""`python -m golfkit` runs the command line."""

from golfkit.cli import main

main()
