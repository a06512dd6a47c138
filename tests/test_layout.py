"""The layering of docs/layout.md, enforced: every edgeqa import goes to its own floor or a lower
one, so the pipeline's direction (data -> finetune -> export -> reader -> evaluation -> report)
cannot quietly run backwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "edgeqa"

# The floor of each top-level module or subpackage of edgeqa; docs/layout.md draws the same.
FLOORS: dict[str, int] = {
    **dict.fromkeys(
        [
            "errors",
            "fileio",
            "option_field",
            "hardware",
            "versions",
            "sequences",
            "squad_metrics",
            "prompts",
            "run_folder",
            "provenance",
            "command_args",
            "isolation",
            "user_cache",
        ],
        0,
    ),
    **dict.fromkeys(["data", "models"], 1),
    **dict.fromkeys(["runtime", "finetune"], 2),
    "export": 3,
    "reader": 4,
    **dict.fromkeys(["evaluation", "serve", "longctx", "profiling", "integrations"], 5),
    **dict.fromkeys(["demo", "judge", "pipeline"], 6),
    **dict.fromkeys(["cli", "__main__", "__init__"], 7),
}

# Arrows the floors alone would allow but the design rules out: the runtime and the reader are a
# library (no command line in them), profiling measures GGUFs (no training code), and export is
# upstream of evaluation.
FORBIDDEN: dict[str, set[str]] = {
    "runtime": {"command_args", "cli"},
    "reader": {"command_args", "cli"},
    "profiling": {"finetune"},
    "export": {"evaluation"},
}


def unit_of(dotted: str) -> str:
    """The top-level piece of edgeqa a dotted module name belongs to."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 2 else parts)


def edgeqa_imports(path: Path) -> set[str]:
    """Every edgeqa module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "edgeqa" or name.startswith("edgeqa.")}


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_top_level_piece_has_a_floor() -> None:
    pieces = {unit_of(module_name(path)) for path in SOURCES}
    assert pieces - set(FLOORS) == set(), "give the new module a floor here and in docs/layout.md"


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_go_to_the_same_floor_or_lower(path: Path) -> None:
    importer = unit_of(module_name(path))
    upward = [
        name
        for name in edgeqa_imports(path)
        if FLOORS.get(unit_of(name) if name != "edgeqa" else "__init__", 0) > FLOORS[importer]
    ]
    assert upward == [], f"{importer} (floor {FLOORS[importer]}) imports a higher floor: {upward}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_import_the_design_rules_out(path: Path) -> None:
    importer = unit_of(module_name(path))
    ruled_out = [name for name in edgeqa_imports(path) if unit_of(name) in FORBIDDEN.get(importer, set())]
    assert ruled_out == [], f"{importer} must not import {ruled_out}"


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    stray = tmp_path / "stray.py"
    stray.write_text("from edgeqa.pipeline.run import run_pipeline\nimport edgeqa.errors\n")
    assert edgeqa_imports(stray) == {"edgeqa.pipeline.run", "edgeqa.errors"}
    assert FLOORS[unit_of("edgeqa.pipeline.run")] > FLOORS[unit_of("edgeqa.runtime.engine")]


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_modules_and_functions_stay_readable_at_a_glance(path: Path) -> None:
    """A module over 400 lines or a function over 60 hides its steps; cut it into named ones."""
    source = path.read_text(encoding="utf-8")
    assert source.count("\n") <= 400
    long_functions = [
        node.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert long_functions == []
