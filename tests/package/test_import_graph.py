"""The package's modules import each other one way: no import cycle anywhere.

Reads every module that ships in the wheel (the packages and folders ``pyproject.toml`` maps into
``wildchat50m``: ``src/wildchat50m`` and also ``builders/``, ``spaces/``, ``hub_plugins/``, which an
editable install's ``wildchat50m.__path__`` does not list), reads its imports (at module level and
the lazy ones inside functions alike: a lazy import that closes a cycle is still a tangle) and fails
on any cycle among the package's own modules, naming it.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _package_folder(package: str, package_dir: dict[str, str]) -> Path:
    """Where setuptools takes ``package`` from: its own ``package-dir`` entry, or its nearest
    mapped parent's folder plus the rest of its dotted name."""
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        mapped = package_dir.get(".".join(parts[:cut]))
        if mapped is not None:
            return ROOT / mapped / Path(*parts[cut:])
    return ROOT / Path(*parts)


def _module_files() -> dict[str, Path]:
    """Every module of the wheel, by dotted name, from the packages ``pyproject.toml`` ships."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    files: dict[str, Path] = {}
    for package in setuptools["packages"]:
        folder = _package_folder(package, setuptools.get("package-dir", {}))
        assert (folder / "__init__.py").exists(), f"{package}: no {folder}/__init__.py"
        for path in sorted(folder.glob("*.py")):
            files[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return files


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports, at module level or lazily inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    found.add(f"{base}.{alias.name}")
                elif base in known:
                    found.add(base)
    found.discard(name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_package_has_no_import_cycle():
    files = _module_files()
    graph = {name: _imports(name, path, set(files)) for name, path in files.items()}
    assert "wildchat50m.cli.common" in graph["wildchat50m.cli.generate"], "the walk sees imports"
    for folder in ("builders.repository", "spaces.viewer.app", "hub_plugins.axolotl.plugin"):
        assert f"wildchat50m.{folder}" in graph, f"the walk reads wildchat50m.{folder}"
    importers_of_root = sorted(name for name, targets in graph.items() if "wildchat50m.cli" in targets)
    assert importers_of_root == ["wildchat50m.__main__"], "no command module imports the root group back"
    assert _cycles(graph) == []


def test_a_cycle_is_found_and_named():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
