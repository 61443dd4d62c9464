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
    return grimp.build_graph(
        "reconciler", "reconciler_sandbox", include_external_packages=True, cache_dir=None
    )


def is_sandbox(module: str) -> bool:
    return module.split(".")[0] == "reconciler_sandbox"


def product_modules() -> set[str]:
    """The product's modules: the reconciler package (the sandbox is a distribution of its own)."""
    return {m for m in graph().modules if m.split(".")[0] == "reconciler"}


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
    # Nothing is left out: the sandbox is no longer inside the package.
    assert contract.get("exhaustive_ignores", []) == []


def test_no_product_module_imports_the_sandbox_and_the_sandbox_imports_no_product_module() -> None:
    product_importing_sandbox = {
        importer
        for importer in product_modules()
        for imported in graph().find_modules_directly_imported_by(importer)
        if is_sandbox(imported)
    }
    assert product_importing_sandbox == set()
    sandbox_importing_product = {
        (importer, imported)
        for importer in graph().modules
        if is_sandbox(importer)
        for imported in graph().find_modules_directly_imported_by(importer)
        if imported.split(".")[0] == "reconciler"
    }
    assert sandbox_importing_product == set()


def test_the_product_reaches_the_sandbox_through_one_function() -> None:
    """compose.sandbox_session is the one caller of the entry-point lookup (sandboxing)."""
    callers = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "sandboxing"
                ):
                    callers.add(f"{path.stem}.{function.name}")
    assert callers == {"compose.sandbox_session"}
    assert importers_of("reconciler.sandboxing") == {"reconciler.compose"}


def test_parsing_loads_no_aws_library() -> None:
    # The composition root imports the adapters inside the functions that wire them, so that
    # `reconcile --help` and a refused invocation stay fast and never load boto3.
    probe = (
        "import sys\n"
        "from reconciler import cli\n"
        "assert cli.main(['--validate', '--dry-run']) == cli.EXIT_INVALID\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore'))\n"
        "loaded += sorted(m for m in sys.modules if m.startswith(('reconciler.aws', "
        "'reconciler_sandbox')))\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout == "[]\n"
    assert "--validate" in done.stderr  # refused, as exit 3, naming the options
