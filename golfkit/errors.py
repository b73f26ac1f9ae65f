"""Errors that reach a person: bad input they can fix. The CLI prints them and exits 2."""


class GolfkitError(Exception):
    """Bad input or usage. The message says what is wrong, where, and what to do."""
