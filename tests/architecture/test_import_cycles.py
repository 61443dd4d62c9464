"""No import cycles anywhere in the product, counting every import statement.

A cycle is a set of modules that cannot be understood, tested or loaded one without the
others; the usual dodge, an import moved into a function, only hides it from the interpreter
at load time (it still runs, later, in whatever order the calls happen). So the graph is read
from each module's syntax tree, as pip-tools' test does: module-level imports and nested ones
(in functions, in ``if TYPE_CHECKING:``) alike, relative imports resolved, and
``from package import name`` counted as an import of the submodule when ``name`` is one.
Importing a package's child does not count as depending on the package's ``__init__`` (every
package re-exporting its children would otherwise be "a cycle").

The product is every first-party package of the repository, wherever it lives (the reconciler,
a sandbox distribution in its own folder, the benchmarks), except the test suite.

We test these aspects:
- the real product has no strongly connected component of more than one module;
- the checker sees a module-level cycle, a cycle through a function-level import, a relative
  import and ``from package import submodule``, and does not call a package re-exporting its
  children a cycle (so the first test could fail).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
# Folders that hold no product code: the suite itself, environments, build output.
NOT_PRODUCT = frozenset({"tests", "build", "dist", "node_modules", "site-packages"})


def product_packages(root: Path) -> list[Path]:
    """Every top-level package under ``root``: a folder with ``__init__.py`` whose parent has none."""
    found: list[Path] = []
    for init in sorted(root.rglob("__init__.py")):
        package = init.parent
        relative = package.relative_to(root).parts
        if any(part.startswith(".") or part in NOT_PRODUCT for part in relative):
            continue
        if any(part.endswith(".egg-info") for part in relative):
            continue
        if not (package.parent / "__init__.py").exists():
            found.append(package)
    return found


def modules_of(package: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, whether it is a package's ``__init__``)."""
    modules: dict[str, tuple[Path, bool]] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        return [f"{source}.{alias.name}" for alias in node.names] + [source]
    return []


def import_graph(modules: Mapping[str, tuple[Path, bool]]) -> dict[str, set[str]]:
    """Module → the first-party modules it imports anywhere in its body."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets = _imported(node, name, is_package)
            if isinstance(node, ast.ImportFrom) and targets:
                # ``from a import b``: the submodule a.b if there is one, else the module a.
                source = targets[-1]
                targets = [t if t in modules else source for t in targets[:-1]]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                child = pending.pop()
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def product_cycles(root: Path) -> list[list[str]]:
    modules: dict[str, tuple[Path, bool]] = {}
    for package in product_packages(root):
        modules.update(modules_of(package))
    return cycles(import_graph(modules))


def test_the_product_has_no_import_cycle() -> None:
    packages = {package.name for package in product_packages(REPOSITORY)}
    assert "reconciler" in packages  # the walk found the product at all
    found = product_cycles(REPOSITORY)
    assert found == [], "import cycles (module-level and nested imports):\n" + "\n".join(
        " ↔ ".join(component) for component in found
    )


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "import pkg.a\n"},
            [["pkg.a", "pkg.b"]],
            id="module-level",
        ),
        pytest.param(
            {
                "pkg/__init__.py": "",
                "pkg/registry.py": "def load():\n    import pkg.adapter\n",
                "pkg/adapter.py": "from pkg import registry\n",
            },
            [["pkg.adapter", "pkg.registry"]],
            id="function-level",
        ),
        pytest.param(
            {
                "pkg/__init__.py": "",
                "pkg/sub/__init__.py": "",
                "pkg/sub/a.py": "from . import b\n",
                "pkg/sub/b.py": "from ..sub.a import thing\n",
            },
            [["pkg.sub.a", "pkg.sub.b"]],
            id="relative",
        ),
        pytest.param(
            {
                "pkg/__init__.py": "from pkg.a import A\n",
                "pkg/a.py": "from pkg import b\nA = 1\n",
                "pkg/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg.a import A\n",
            },
            [["pkg.a", "pkg.b"]],
            id="type-checking-only",
        ),
        pytest.param(
            {
                "pkg/__init__.py": "from pkg.a import A\nfrom pkg.b import B\n",
                "pkg/a.py": "from pkg import b\nA = 1\n",
                "pkg/b.py": "B = 2\n",
            },
            [],
            id="package-re-exporting-children",
        ),
    ],
)
def test_the_checker_sees_every_kind_of_cycle(
    tmp_path: Path, files: Mapping[str, str], expected: list[list[str]]
) -> None:
    _write(tmp_path, files)
    assert product_cycles(tmp_path) == expected


def test_the_suite_is_not_product(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "tests/__init__.py": "",
            "tests/a.py": "import tests.b\n",
            "tests/b.py": "import tests.a\n",
            "product/__init__.py": "",
            "product/sub/__init__.py": "",
        },
    )
    assert [p.name for p in product_packages(tmp_path)] == ["product"]
    assert product_cycles(tmp_path) == []
