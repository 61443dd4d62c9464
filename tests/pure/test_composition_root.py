"""The product's shape: one composition root, layers, and the sandbox reached in one place.

We test these aspects, on the real import graph (grimp, as import-linter builds it):

- only the composition root (``reconciler.compose``) imports the AWS adapters;
- the CLI module parses, calls and maps exceptions: it imports no adapter and no renderer of its
  own, only the option parser, the composition root and the output module;
- the pipeline's layers hold (CLI above composition above pipeline above apply/verify/observe
  above plan above diff above manifest and model), and ``pyproject.toml`` declares them as an
  import-linter ``layers`` contract that places every module of the package;
- the product reaches the sandbox through one function of the composition root, whatever the
  sandbox's package is called (it is leaving the product for a distribution of its own).
"""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import grimp
import pytest

import reconciler

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(reconciler.__file__).parent

# The issue's order, top to bottom; modules of one entry are siblings.
PIPELINE_LAYERS: list[set[str]] = [
    {"reconciler.cli"},
    {"reconciler.compose"},
    {"reconciler.pipeline"},
    {"reconciler.apply", "reconciler.verify", "reconciler.observe"},
    {"reconciler.plan"},
    {"reconciler.diff"},
    {"reconciler.manifest", "reconciler.model"},
]


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("reconciler", include_external_packages=True, cache_dir=None)


def is_sandbox(module: str) -> bool:
    return any("sandbox" in part for part in module.split("."))


def product_modules() -> set[str]:
    """The product's modules: the package, without the sandbox while it still lives inside."""
    return {m for m in graph().modules if m.startswith("reconciler") and not is_sandbox(m)}


def importers_of(package: str) -> set[str]:
    return graph().find_modules_that_directly_import(package, as_package=True)


def test_only_the_composition_root_imports_the_aws_adapters() -> None:
    aws = {"reconciler.aws", *graph().find_descendants("reconciler.aws")}
    assert importers_of("reconciler.aws") - aws == {"reconciler.compose"}


def test_the_cli_only_parses_calls_and_maps_exceptions() -> None:
    imported = {
        m for m in graph().find_modules_directly_imported_by("reconciler.cli") if "reconciler" in m
    }
    # The parser, the composition root, the output module; the errors and the run statuses
    # it maps to exit codes, the logs it configures.
    allowed = {
        "reconciler",
        "reconciler.pipeline",
        "reconciler.options",
        "reconciler.compose",
        "reconciler.render",
        "reconciler.errors",
        "reconciler.logs",
    }
    assert imported <= allowed, sorted(imported - allowed)
    assert {"reconciler.options", "reconciler.compose", "reconciler.render"} <= imported


@pytest.mark.parametrize("upper", range(len(PIPELINE_LAYERS)))
def test_no_lower_layer_reaches_a_higher_one(upper: int) -> None:
    chains = [
        chain
        for higher in PIPELINE_LAYERS[upper]
        for layer in PIPELINE_LAYERS[upper + 1 :]
        for lower in layer
        if (chain := graph().find_shortest_chain(lower, higher, as_packages=True))
    ]
    assert chains == []


def layers_contract() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if c["type"] == "layers"]
    return dict(contract)


def test_pyproject_declares_the_pipeline_layers_in_the_issues_order() -> None:
    contract = layers_contract()
    assert contract["containers"] == ["reconciler"]
    declared = [
        {f"reconciler.{name.strip()}" for name in layer.replace(":", "|").split("|")}
        for layer in contract["layers"]
    ]

    def position(module: str) -> int:
        (index,) = [i for i, layer in enumerate(declared) if module in layer]
        return index

    positions = [{position(module) for module in layer} for layer in PIPELINE_LAYERS]
    for higher, lower in itertools.pairwise(positions):
        assert max(higher) < min(lower)


def test_the_layers_contract_places_every_module_of_the_package() -> None:
    contract = layers_contract()
    assert contract["exhaustive"] is True
    # Only the sandbox (independent of the product, leaving the package) is left out.
    assert set(contract.get("exhaustive_ignores", [])) <= {"sandbox"}


def test_the_product_reaches_the_sandbox_through_one_function() -> None:
    importers = {
        importer
        for importer in product_modules()
        for imported in graph().find_modules_directly_imported_by(importer)
        if is_sandbox(imported)
    }
    assert importers <= {"reconciler.compose"}
    tree = ast.parse((PACKAGE / "compose.py").read_text(encoding="utf-8"))
    functions_importing_it = {
        function.name
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom) and _names_sandbox(node)
    }
    module_level = [
        node
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom) and _names_sandbox(node)
    ]
    assert module_level == []
    assert functions_importing_it <= {"sandbox_session"}


def _names_sandbox(node: ast.Import | ast.ImportFrom) -> bool:
    names = [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        names = [node.module or "", *(f"{node.module}.{name}" for name in names)]
    return any(is_sandbox(name) for name in names)


def test_parsing_loads_no_aws_library() -> None:
    # The composition root imports the adapters inside the functions that wire them, so that
    # `reconcile --help` and a refused invocation stay fast and never load boto3.
    probe = (
        "import sys\n"
        "from reconciler import cli\n"
        "assert cli.main(['--validate', '--dry-run']) == cli.EXIT_INVALID\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore'))\n"
        "loaded += sorted(m for m in sys.modules if m.startswith(('reconciler.aws', "
        "'reconciler.sandbox')))\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout == "[]\n"
    assert "--validate" in done.stderr  # refused, as exit 3, naming the options
