"""Lower layers never import higher ones: every `import` in ladder/, those inside functions included.

The table is docs/architecture.md's "Layers" section; a new top-level module must be placed there.
"""
import ast
from pathlib import Path

import pytest

LADDER = Path(__file__).resolve().parents[1] / "ladder"

# Lowest first. A module may import from its own layer or any lower one.
LAYERS = [
    {"errors", "registry", "home", "stats", "manifest"},
    {"models"},
    {"task", "splits", "leaks", "metrics", "cost", "store"},
    {"retrieval", "prompts", "citations", "evaluation", "judge", "data"},
    {"train"},
    {"rungs"},
    {"advisor", "distill", "answer", "verdict", "rundir", "estimate", "saved", "report", "gate", "export", "promptfoo"},
    {"server", "cli", "__main__", "ladder", "testing"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def unit(module: str) -> str | None:
    """The top-level part of ladder a dotted module name belongs to ("ladder" for the package itself)."""
    parts = module.split(".")
    if parts[0] != "ladder":
        return None
    return parts[1] if len(parts) > 1 else "ladder"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported ladder module) for every import statement in a file, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"ladder.{a.name}" for a in node.names] if node.module == "ladder" else [node.module]
            out += [(node.lineno, n) for n in names]
    return [(line, n) for line, n in out if n.split(".")[0] == "ladder"]


def module_unit(path: Path) -> str:
    rel = path.relative_to(LADDER.parent).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return unit(".".join(parts))


FILES = sorted(LADDER.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = sorted({module_unit(f) for f in FILES} - set(RANK))
    assert not missing, f"place these in LAYERS (and docs/architecture.md): {missing}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(LADDER.parent)))
def test_imports_go_down(path):
    src = module_unit(path)
    if src not in RANK:
        pytest.skip("not placed yet (test_every_module_has_a_layer says so)")
    up = [f"line {line}: {name}" for line, name in imports(path)
          if unit(name) in RANK and RANK[unit(name)] > RANK[src]]
    assert not up, f"{path.name} ({src}, layer {RANK[src]}) imports from a higher layer: {up}"


def test_the_checker_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from ladder.cli import main\n    import ladder.advisor\n")
    assert imports(f) == [(2, "ladder.cli"), (3, "ladder.advisor")]
