"""Services are plug-ins: outside its own module and the registry, no product file names one.

Everything that differs between member services is declared in the service's module
(``reconciler/services/<name>.py``) and listed once in ``reconciler/services/registry.py``;
every other module reads the specs. This test holds that line for every registered service:
its name (any case), its label, the parameters its probe finds (``DetectorId``) and the
operations only it calls (``DescribeHub``; operations several services share, and the plan
steps' own operations, are the common vocabulary) appear in no other product source file.
The sandbox is a separate distribution (``sandbox/``, outside this package) with its own
test of the same line, tests/sandbox/test_service_names.py.

Aspects under test:
- every registered service's words are found, by file and line, wherever they appear;
- the scan covers every product source file, and finds a planted name (it is not vacuous).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from reconciler.services import registry
from reconciler.services.spec import ServiceSpec
from reconciler.steps import STEPS

PACKAGE = Path(__file__).resolve().parents[2] / "reconciler"


def product_files() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def own_files(spec: ServiceSpec, root: Path = PACKAGE) -> set[Path]:
    """The service's module (or package) and the registry."""
    services = root / "services"
    owned = {services / f"{spec.name}.py", services / "registry.py"}
    owned.update((services / spec.name).rglob("*.py"))
    return owned


def words_of(spec: ServiceSpec) -> list[re.Pattern[str]]:
    """The patterns that name ``spec``'s service."""
    shared = Counter(
        name for other in registry.SPECS for name in {op.name for op in other.operations}
    )
    common = {step.operation for step in STEPS.values()}
    own_operations = sorted(
        {op.name for op in spec.operations} - common - {n for n, c in shared.items() if c > 1}
    )
    return [
        re.compile(re.escape(spec.name), re.IGNORECASE),
        re.compile(re.escape(spec.label)),
        *(re.compile(rf"\b{re.escape(key)}\b") for key in spec.scope_keys),
        *(re.compile(rf"\b{re.escape(name)}\b") for name in own_operations),
    ]


def findings(spec: ServiceSpec, files: list[Path], root: Path = PACKAGE) -> list[str]:
    """``file:line: word in line`` for every line of ``files`` that names the service."""
    allowed = own_files(spec, root)
    patterns = words_of(spec)
    found: list[str] = []
    for path in files:
        if path in allowed:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for pattern in patterns:
                match = pattern.search(line)
                if match:
                    where = path.relative_to(root.parent)
                    found.append(f"{where}:{number}: {match.group(0)!r} in {line.strip()!r}")
                    break  # one finding per line
    return found


@pytest.mark.parametrize("spec", registry.SPECS, ids=lambda spec: spec.name)
def test_a_service_is_named_only_in_its_module_and_the_registry(spec: ServiceSpec) -> None:
    found = findings(spec, product_files())
    assert not found, (
        f"{spec.label} is named outside reconciler/services/{spec.name}.py and the registry "
        "(declare it in the service's spec, or say it generically):\n" + "\n".join(found)
    )


def test_the_scan_covers_the_product_and_names_file_and_line(tmp_path: Path) -> None:
    files = product_files()
    assert PACKAGE / "plan.py" in files
    assert PACKAGE / "aws" / "base.py" in files
    assert not any("sandbox" in path.parts for path in files)
    spec = registry.SPECS[0]
    # A copy of the layout with the service named in a generic module and in its own.
    root = tmp_path / "reconciler"
    (root / "services").mkdir(parents=True)
    (root / "plan.py").write_text(f"x = 1\n# {spec.label} here\n", encoding="utf-8")
    own = root / "services" / f"{spec.name}.py"
    own.write_text(f"# {spec.label}\n", encoding="utf-8")
    found = findings(spec, [root / "plan.py", own], root)
    assert len(found) == 1
    assert found[0].startswith("reconciler/plan.py:2: ")
