"""golfkit's imports point one way: from the command line down to findings and errors.

Each unit (a top-level module or package of golfkit) sits on a layer; a module may import its own
unit and units on lower layers, never a unit on its own layer or above. Imports inside functions
count the same as module-level ones (a lazy import hides a circle, it does not remove it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "golfkit"

# Lowest first. A unit may import any unit of a strictly lower layer.
LAYERS: list[tuple[str, ...]] = [
    ("golfkit", "errors"),  # the package's face; the error a person can fix and the exit statuses
    ("findings", "facts", "files", "sandbox", "standins", "writes"),  # findings, facts, the file reader and writer,
    # containment, CPU stand-ins for CUDA-only modules
    ("bounded", "schema", "report"),  # bounded decoders, the submission schema, reporters of findings
    ("artifact", "wrappers", "data"),  # containers and records' formats, wrapper decoder, shards/tokenizers
    ("eval", "minify", "probe"),  # engines over the foundations
    ("packing",),  # build: quantize, pack, code; counts minified code through minify
    ("verify",),  # reconcile a record; its plugins run eval and probe
    ("author", "ci", "example"),  # make records, check pull requests, regenerate the example
    ("cli",),  # the command line
    ("__main__",),  # python -m golfkit
]
LAYER_OF = {unit: depth for depth, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "golfkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def golfkit_imports(tree: ast.AST) -> list[tuple[str, int]]:
    """Every golfkit module an `import` or `from ... import` names, at any depth, with its line."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
            # `from golfkit import bounded` imports the unit `bounded`, not just the package face
            if node.module == "golfkit":
                found += [(f"golfkit.{alias.name}", node.lineno) for alias in node.names]
    return [(name, line) for name, line in found if name == "golfkit" or name.startswith("golfkit.")]


def violations(paths: list[Path]) -> list[str]:
    bad: list[str] = []
    for path in paths:
        source_unit = unit_of(module_name(path))
        for target, line in golfkit_imports(ast.parse(path.read_text(encoding="utf-8"))):
            target_unit = unit_of(target)
            if target_unit == source_unit or target == "golfkit" or target_unit == "__version__":
                continue
            if target_unit not in LAYER_OF:
                bad.append(f"{path.relative_to(ROOT)}:{line}: imports {target}, a unit with no declared layer")
            elif LAYER_OF[target_unit] >= LAYER_OF[source_unit]:
                direction = "sideways" if LAYER_OF[target_unit] == LAYER_OF[source_unit] else "up"
                bad.append(f"{path.relative_to(ROOT)}:{line}: {source_unit} imports {target} ({direction})")
    return bad


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_unit_has_a_layer():
    units = {unit_of(module_name(path)) for path in package_files()}
    assert sorted(units - set(LAYER_OF)) == []


def test_imports_point_down_only():
    assert violations(package_files()) == []


def test_lazy_cli_targets_exist_and_are_commands():
    from golfkit.cli import COMMANDS

    for name, target in COMMANDS.items():
        module, attr = target.split(":")
        assert (ROOT / Path(*module.split("."))).with_suffix(".py").is_file(), name
        assert attr


@pytest.mark.parametrize(("source", "text", "expected"), [
    ("golfkit/eval/x.py", "from golfkit.verify.api import verify_paths\n", "eval imports golfkit.verify.api (up)"),
    ("golfkit/data/x.py", "def f():\n    import golfkit.eval.model\n", "data imports golfkit.eval.model (up)"),
    ("golfkit/minify/x.py", "from golfkit.probe import run\n", "minify imports golfkit.probe (sideways)"),
    ("golfkit/artifact/x.py", "from golfkit import wrappers\n", "artifact imports golfkit.wrappers (sideways)"),
])
def test_an_upward_or_sideways_import_is_caught(tmp_path, monkeypatch, source, text, expected):
    fake_root = tmp_path / "repo"
    path = fake_root / source
    path.parent.mkdir(parents=True)
    path.write_text(text)
    monkeypatch.setattr(f"{__name__}.ROOT", fake_root)
    found = violations([path])
    assert len(found) == 1 and expected in found[0]


def test_a_downward_import_is_allowed(tmp_path, monkeypatch):
    fake_root = tmp_path / "repo"
    path = fake_root / "golfkit/verify/x.py"
    path.parent.mkdir(parents=True)
    path.write_text("from golfkit.eval.run import eval_artifact\nfrom golfkit.findings import error\n")
    monkeypatch.setattr(f"{__name__}.ROOT", fake_root)
    assert violations([path]) == []
