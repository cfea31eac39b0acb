"""The project's import graph: no cycles between modules, and the apps' layering.

Every .py file of the project's packages is parsed (not imported) with `ast`; every
import statement counts, inside functions too (an import moved into a function to
dodge a cycle is still the cycle), except those under `if TYPE_CHECKING:`. Importing
a module also runs its packages' __init__ files, so an import depends on those too.

The layering, from the bottom (a layer may import the ones below it):

    inference.ml   the plain-Python ML library: nothing of the project but itself,
                   and no Django
    jobs           nothing above it
    annotations    inference.ml, jobs
    inference      (the app, outside ml) annotations, jobs, inference.ml
    review         inference, annotations, jobs
    analytics      review, inference, annotations, jobs
    demo           anything; nothing imports demo

radreview/ is the project glue: its urls, settings, celery and wsgi may import the
apps; its helpers (roles, api_permissions, ...) import no app, and every app may
import them (not the glue).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("annotations", "inference", "review", "analytics", "jobs", "radreview", "demo")
# The package itself is glue too: its __init__ starts Celery.
GLUE = ("radreview.urls", "radreview.api_urls", "radreview.settings", "radreview.celery", "radreview.wsgi")
ALLOWED = {
    "inference.ml": {"inference.ml"},
    "jobs": {"jobs"},
    "annotations": {"annotations", "inference.ml", "jobs"},
    "inference": {"inference", "annotations", "jobs", "inference.ml"},
    "review": {"review", "inference", "annotations", "jobs", "inference.ml"},
    "analytics": {"analytics", "review", "inference", "annotations", "jobs", "inference.ml"},
    "demo": {"demo", "analytics", "review", "inference", "annotations", "jobs", "inference.ml"},
}
HELPERS = "radreview helpers"
NOT_PLAIN_PYTHON = ("django", "rest_framework", "celery", "drf_spectacular", *PACKAGES)


@cache
def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the project's packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def imported_names(module: str) -> Iterator[str]:
    """Every dotted name the module imports. `from a import b` names the module a.b
    when there is one, else (b is a name in a) the module a."""
    path = modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = _type_checking_nodes(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                yield submodule if submodule in modules() else source


def _project_module(name: str) -> str | None:
    """The project module a dotted name refers to (a name inside a module -> the module)."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _packages_of(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@cache
def graph() -> dict[str, frozenset[str]]:
    """module -> the project modules importing it runs: the modules it names and
    their packages' __init__ files (but its own packages': they are already running
    when the module is imported)."""
    edges: dict[str, frozenset[str]] = {}
    known = modules()
    for module in known:
        running = set(_packages_of(module))
        targets: set[str] = set()
        for name in imported_names(module):
            target = _project_module(name)
            if target is not None:
                targets.add(target)
                targets.update(p for p in _packages_of(target) if p in known and p not in running)
        targets -= running | {module}
        edges[module] = frozenset(targets)
    return edges


def cycles() -> list[list[str]]:
    """One cycle (a path back to its start) per strongly connected component."""
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(start: str) -> None:  # iterative Tarjan: the graph is deep enough for recursion limits
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return [_cycle_in(component, edges) for component in components]


def _cycle_in(component: set[str], edges: dict[str, frozenset[str]]) -> list[str]:
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(edges[node] & component):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    raise AssertionError(f"no cycle through {start}")


def layer(module: str) -> str:
    if module == "inference.ml" or module.startswith("inference.ml."):
        return "inference.ml"
    top = module.split(".")[0]
    if top == "radreview":
        glue = module == "radreview" or any(module == g or module.startswith(g + ".") for g in GLUE)
        return "radreview glue" if glue else HELPERS
    return top


def layering_violations() -> list[str]:
    """ "importer -> imported" for every named import the layering forbids."""
    found = []
    for module in modules():
        mine = layer(module)
        if mine == "radreview glue":
            continue
        if mine == HELPERS:
            allowed = {HELPERS}
        else:  # every app may import the helpers; the ML library may not
            allowed = ALLOWED[mine] | ({HELPERS} if mine != "inference.ml" else set())
        for name in sorted(set(imported_names(module))):
            target = _project_module(name)
            if target is None or target == module:
                continue
            theirs = layer(target)
            if theirs not in allowed:
                found.append(f"{module} -> {target} ({mine} may not import {theirs})")
    return sorted(set(found))


def not_plain_python() -> list[str]:
    """inference.ml modules importing Django, Celery, DRF or any project package but inference.ml."""
    found = []
    for module in modules():
        if layer(module) != "inference.ml":
            continue
        for name in set(imported_names(module)):
            top = name.split(".")[0]
            inside = name == "inference.ml" or name.startswith("inference.ml.")
            if top in NOT_PLAIN_PYTHON and not inside:
                found.append(f"{module} -> {name}")
    return sorted(set(found))


def _show(lines: list[str]) -> str:
    return "\n" + "\n".join(lines)


def test_no_import_cycles_anywhere():
    found = [" -> ".join(c) for c in cycles()]
    assert not found, _show(found)


def test_the_layering_holds():
    found = layering_violations()
    assert not found, _show(found)


def test_inference_ml_imports_no_django_and_no_app():
    found = [*not_plain_python(), *(v for v in layering_violations() if v.startswith("inference.ml"))]
    assert not found, _show(found)


def test_the_graph_sees_imports_inside_functions_and_skips_type_checking_ones():
    # InferenceConfig.ready() imports what it registers inside the method.
    assert "inference.services.stage2_modes.builtin" in graph()["inference.apps"]
    # Importing a module runs its packages' __init__ files, except the importer's own.
    assert "inference.services" in graph()["inference.apps"]
    assert "inference.services" not in graph()["inference.services.stage2"]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import review\n")
    assert len(_type_checking_nodes(tree)) > 0
