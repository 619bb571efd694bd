"""The tree's design, checked from the imports: layers, no cycle, models free of run machinery, moved targets.

Layers, top to bottom (an import may only go down or sideways within its own layer's package):
    faces        train, eval, predict, api, cli, the package's __init__
    machinery    runs, checkpoints, search, compare
    lab          data, models, optim_lab
    basics       errors, atomic, shown
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hydra.utils import get_object

import overfit

SRC = Path(overfit.__file__).parent
LAYERS = {
    "faces": {"__init__", "train", "eval", "predict", "api", "cli"},
    "machinery": {"runs", "checkpoints", "search", "compare"},
    "lab": {"data", "models", "optim_lab"},
    "basics": {"errors", "atomic", "shown", "compat"},  # compat: dependencies' private names, used from any layer
}
RANK = {entry: rank for rank, names in enumerate(LAYERS.values()) for entry in names}


def _entry(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> dict[tuple[str, str], set[str]]:
    """{(importing entry, imported entry): files} for every `overfit` import, lazy ones in functions included."""
    edges: dict[tuple[str, str], set[str]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        here = _entry(".".join(rel.parts))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "overfit":
                names = [f"overfit.{a.name}" for a in node.names] if node.module == "overfit" else [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.split(".")[0] == "overfit"]
            else:
                continue
            for name in names:
                there = _entry(name)
                if there != here and there in RANK:
                    edges.setdefault((here, there), set()).add(str(path.relative_to(SRC)))
    return edges


def test_every_top_level_entry_has_a_layer():
    entries = {p.stem if p.suffix == ".py" else p.name for p in SRC.iterdir() if p.suffix == ".py" or p.is_dir()}
    entries.discard("__pycache__")
    assert entries - set(RANK) == set(), "a new module at src/overfit/'s top: give it a layer here (and a reason)"
    assert len([e for e in entries if (SRC / f"{e}.py").exists()]) <= 10  # the faces and the basics only


def test_imports_only_go_down_and_never_in_a_circle():
    edges = _imports()
    up = {f"{a} -> {b} ({', '.join(sorted(files))})" for (a, b), files in edges.items() if RANK[b] < RANK[a]}
    assert up == set()
    # within the machinery layer, packages may use each other, but never both ways round
    both = {tuple(sorted(pair)) for pair in edges if pair[::-1] in edges}
    assert both == set()


def test_the_models_and_the_data_import_no_run_machinery():
    edges = _imports()
    below = {(a, b) for (a, b) in edges if a in LAYERS["lab"] and b not in LAYERS["basics"] | LAYERS["lab"]}
    assert below == set()


@pytest.mark.parametrize("old,new", sorted(overfit.MOVED.items()))
def test_a_moved_target_keeps_working(old, new):
    """A config (or a checkpoint's recorded config) from before the move names the old module in `_target_`."""
    targets = [
        line.split(":", 1)[1].strip()
        for p in (SRC.parents[1] / "conf").rglob("*.yaml")
        for line in p.read_text().splitlines()
        if line.strip().lstrip("- ").startswith("_target_:") and new in line
    ]
    assert targets, f"no config names {new} any more: drop it from overfit.MOVED"
    for target in targets:
        assert get_object(target.replace(new, old)) is get_object(target)
