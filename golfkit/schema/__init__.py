"""JSON Schemas shipped with golfkit, as data files, and a validator over them."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema


@cache
def load_schema(name: str = "submission") -> dict[str, Any]:
    """The schema `golfkit/schema/<name>.schema.json` as a dict."""
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def schema_errors(document: Any, name: str = "submission") -> list[str]:
    """Every way `document` breaks the schema, as `path: message` lines (empty when valid)."""
    validator = jsonschema.Draft202012Validator(load_schema(name))
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    lines = []
    for error in errors:
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        lines.append(f"{where}: {error.message}")
    return lines
