"""No module imports upward: the nouns and the store know nothing of the stages,
config knows nothing of what it configures, and the engine sits above them all."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "autoticket"

# What each part of the code may import from autoticket (besides itself).
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "errors": set(),
    "clock": set(),
    "config": {"releases.settings", "releases.directions", "oncall.settings", "silence_settings"},
    "silence_settings": {"oncall.settings"},
    "telemetry": set(),
    "regex": set(),
    "signature": set(),
    "store": {"model"},
    "sources": {"model", "errors", "signature"},
    "policy": {"model", "config", "regex", "silence_settings"},
    "releases": {"model", "errors", "config", "sources.base"},
    "pipeline": {
        "model",
        "errors",
        "config",
        "policy",
        "sources",
        "telemetry",
        "regex",
        "signature",
    },
    "sinks": {"model", "clock", "config", "store", "signature"},
    "oncall": {"model", "config", "store"},
    "lifecycle": {"model", "config", "store", "engine.actions", "releases", "oncall", "policy"},
    "engine": {
        "model",
        "config",
        "store",
        "pipeline",
        "lifecycle",
        "sinks",
        "telemetry",
        "oncall",
    },
}


def _imports(path: Path) -> set[str]:
    """Every `autoticket.x[.y]` a module imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.removeprefix("autoticket.") for n in names if n.startswith("autoticket.")}
    return found


def _part(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_no_module_imports_upward(part: str) -> None:
    files = sorted((SRC / part).rglob("*.py")) if (SRC / part).is_dir() else [SRC / f"{part}.py"]
    assert files and all(f.exists() for f in files)
    wrong: list[str] = []
    for path in files:
        for name in _imports(path):
            top = _part(name)
            if top == part or top in ALLOWED[part]:
                continue
            if any(name == a or name.startswith(a + ".") for a in ALLOWED[part]):
                continue
            wrong.append(f"{path.relative_to(SRC)} imports autoticket.{name}")
    assert wrong == []


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from autoticket.policy import compile_route\n")
    assert "policy" in {_part(n) for n in _imports(module)}
