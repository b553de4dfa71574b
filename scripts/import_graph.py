"""Print who imports whom, and fail when the layers are broken.

Two checks, both over every import in the code (those inside functions too, since they
tie modules together just the same):
- between top-level packages: each may import only the layers below it (LAYERS), so
  there is no cycle between them;
- between the modules of one package: no module reaches itself again (no circle).

    python scripts/import_graph.py            # the package graph, then any problem
    python scripts/import_graph.py --modules  # also every module-level edge
    python scripts/import_graph.py --root ../other-checkout
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Bottom first. A package may import the packages listed for it, nothing else of ours.
LAYERS: dict[str, set[str]] = {
    "agent": set(),
    "lab": set(),
    "core": set(),
    "clusters": {"core", "agent", "lab"},
    "maintenance": {"clusters", "core", "agent"},
    "crashes": {"clusters", "core", "agent"},
    "notifications": {"maintenance", "crashes", "clusters", "core", "agent"},
    "console": {"notifications", "maintenance", "crashes", "clusters", "core", "agent", "lab"},
}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, this: str, modules: set[str]) -> set[str]:
    """Our modules that `path` (module `this`) imports, relative imports resolved."""
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                # `from pkg import mod` imports pkg/mod.py; `from mod import name`, mod.
                submodule = f"{module}.{alias.name}"
                found.add(submodule if submodule in modules else module)
    return {name for name in found if name in modules and name != this}


def collect(root: Path) -> dict[str, set[str]]:
    paths = {}
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" not in path.parts:
                paths[module_name(root, path)] = path
    return {name: imported_modules(path, name, set(paths)) for name, path in paths.items()}


def package_edges(graph: dict[str, set[str]]) -> dict[str, dict[str, set[str]]]:
    edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for source, targets in graph.items():
        for target in targets:
            a, b = source.split(".")[0], target.split(".")[0]
            if a != b:
                edges[a][b].add(source)
    return edges


def cycles_within_packages(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle for each strongly connected group of modules of the same package."""
    found = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def inner(name: str) -> set[str]:
        top = name.split(".")[0]
        return {t for t in graph[name] if t.split(".")[0] == top}

    def visit(name: str) -> None:  # Tarjan's algorithm
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in inner(name):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", action="store_true", help="print module-level edges too")
    parser.add_argument("--root", type=Path, default=ROOT, help="another checkout to look at")
    args = parser.parse_args(argv)

    graph = collect(args.root.resolve())
    edges = package_edges(graph)
    problems = []
    print("Imports between top-level packages (bottom layer first):")
    for package, allowed in LAYERS.items():
        targets = edges.get(package, {})
        line = ", ".join(f"{t} ({len(targets[t])})" for t in sorted(targets)) or "nothing"
        print(f"  {package:12} -> {line}")
        for target in sorted(set(targets) - allowed):
            problems.append(
                f"{package} must not import {target} (a layer above it): "
                + ", ".join(sorted(targets[target]))
            )
    for group in cycles_within_packages(graph):
        problems.append("modules import each other in a circle: " + " <-> ".join(group))
    if args.modules:
        print("\nModule edges:")
        for source in sorted(graph):
            for target in sorted(graph[source]):
                print(f"  {source} -> {target}")
    if problems:
        print("\nThe layers are broken:", file=sys.stderr)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        return 1
    print("\nNo import runs up a layer, and no package has a circle of modules.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
