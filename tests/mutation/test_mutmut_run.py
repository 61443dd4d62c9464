"""The documented mutation run itself (docs/development.md): heavy, optional, not in CI.

Aspects under test:
- ``mutmut run --max-children 1`` on a clean copy of the checkout, with the committed
  ``[tool.mutmut]`` config, leaves every one of the four modules at 90 % or more, with exactly
  the survivors SURVIVORS.md explains (``python -m tests.mutation.score`` exits 0).

It took 11 minutes on one core of a shared 2-core machine, and needs the optional ``mutation`` extra (mutmut):
``pip install -c requirements-dev.lock -e '.[dev,mutation]'``, then ``pytest -m heavy
tests/mutation``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.heavy, pytest.mark.timeout(3 * 3600)]


def _tracked_copy(destination: Path) -> None:
    """The committed files only: no earlier ./mutants/ results, no virtual environment."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def test_the_documented_mutation_run_meets_the_minimum_with_the_listed_survivors(
    tmp_path: Path,
) -> None:
    pytest.importorskip("mutmut", reason="needs the mutation extra: pip install -e '.[mutation]'")
    _tracked_copy(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    checked = subprocess.run(
        [sys.executable, "-m", "tests.mutation.score"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for module in ("diff.py", "plan.py", "planfile.py", "manifest/checks.py"):
        assert f"reconciler/{module}" in checked.stdout
