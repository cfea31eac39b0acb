"""The demo sits on top: no application code outside demo/ imports it (benches and
tests may), so removing the demo app leaves the other apps whole."""

import ast
from pathlib import Path

from tests.conftest import ROOT

NOT_APPLICATION_CODE = {"demo", "tests", "bench", ".venv", "var", "node_modules"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_outside_demo_imports_demo():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in NOT_APPLICATION_CODE or relative.parts[0].startswith("."):
            continue
        if any(name == "demo" or name.startswith("demo.") for name in _imported_modules(path)):
            offenders.append(str(relative))
    assert offenders == []
