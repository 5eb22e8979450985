"""The layers: every package imports only from the layers below it, and no module imports itself
back through others.

Read from the source with :mod:`ast` (nothing is imported), so a lazy import inside a function
counts as much as one at the top: it is a dependency all the same, and a cycle through it is one
a reader has to untangle all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Lowest first. A package may import its own modules and any package of a lower layer; packages
# of one layer are independent of each other (the solver and the ledger never see each other;
# the scenarios and the benchmarks neither).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),  # settings: no domain at all
    ("models",),  # the wire schemas and their readers
    ("engine", "ledger"),  # the solver; the ledger's rules, snapshots and brokering decisions
    ("storage",),  # the ledger's state in a database
    ("services",),  # runs that span storage and the solver (brokering, the morning run)
    ("scenarios", "benchmarks"),  # what-if runs and reports; the brokering benchmarks
    ("api",),  # the HTTP service
    ("cli",),  # the command line, which also starts the API
    ("tests",),
)
LAYER_OF = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYER_OF:
        for path in sorted((REPO / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> set[str]:
    """The project modules that ``module`` imports, anywhere in its file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from a import b``: b is a module of its own when the project has one by that name.
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                named.add(candidate if candidate in MODULES else base)
    project = set()
    for name in named:
        # ``import a.b.c`` of a module, or of a name inside one: the longest project module.
        parts = name.split(".")
        while parts and ".".join(parts) not in MODULES:
            parts.pop()
        if parts and parts[0] in LAYER_OF:
            project.add(".".join(parts))
    project.discard(module)
    return project


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def test_every_package_is_in_a_layer() -> None:
    packages = {
        path.parent.name
        for path in REPO.glob("*/__init__.py")
        if not path.parent.name.startswith(".")
    }
    assert packages <= set(LAYER_OF), f"packages without a layer: {packages - set(LAYER_OF)}"


def test_no_package_imports_from_a_layer_above_or_beside_it() -> None:
    wrong = []
    for module, imported in GRAPH.items():
        own = module.split(".")[0]
        for target in imported:
            other = target.split(".")[0]
            if other != own and LAYER_OF[other] >= LAYER_OF[own]:
                wrong.append(f"{module} imports {target} ({own} may not depend on {other})")
    assert not wrong, "\n".join(sorted(wrong))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(root: str) -> None:
        # Iterative, so a long chain of imports cannot hit Python's recursion limit.
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle() -> None:
    assert _cycles(GRAPH) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert _cycles(graph) == expected


def test_the_import_reader_sees_lazy_and_relative_imports() -> None:
    # cli/bench.py builds its parser from the benchmarks' constants, imported inside a function.
    assert any(target.startswith("benchmarks.") for target in GRAPH["cli.bench"])
    assert "models.solve" in GRAPH["engine.problem"]
