"""The CI smoke test of the benchmarks: the quick scenarios make exactly the bound's calls.

Runs ``python -m benchmarks --quick``'s scenarios through the same harness (a sandbox with
AWS's latency and rate limit, ``reconcile`` as a child process, the sandbox's calls log
counted), and asserts what does not depend on the machine: every call the run made, by
service, region and operation, equals the lower bound computed from the scenario; the
converged run and the dry-run mutate nothing; nothing was throttled; the run did its job (exit
code, plan, members in the sandbox). Timing is printed, never asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import report
from benchmarks.bounds import call_bound, mutating_bound
from benchmarks.harness import Measurement, compile_bytecode, run_scenario
from benchmarks.scenarios import QUICK


@pytest.fixture(scope="module")
def measurements(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Measurement]:
    workdir: Path = tmp_path_factory.mktemp("bench")
    compile_bytecode()
    return {name: run_scenario(QUICK[name], workdir) for name in sorted(QUICK)}


@pytest.mark.parametrize("name", sorted(QUICK))
def test_calls_equal_the_bound(measurements: dict[str, Measurement], name: str) -> None:
    measured = measurements[name]
    print(f"\n{report.row(measured)}")
    assert measured.problems == []
    assert dict(measured.calls) == dict(call_bound(QUICK[name]))
    assert measured.total_calls == measured.total_bound
    assert measured.throttled == 0


@pytest.mark.parametrize("name", ["B", "D"])
def test_converged_and_dry_runs_mutate_nothing(
    measurements: dict[str, Measurement], name: str
) -> None:
    assert mutating_bound(QUICK[name]) == 0
    assert measurements[name].mutating == 0


def test_onboarding_mutates_exactly_the_batches(measurements: dict[str, Measurement]) -> None:
    for name in ("A", "C"):
        assert measurements[name].mutating == mutating_bound(QUICK[name]) > 0


def test_the_dry_run_reports_its_phases(measurements: dict[str, Measurement]) -> None:
    phases = measurements["D"].phases
    assert set(report.PLANNING_PHASES) <= set(phases)
    assert all(seconds >= 0 for seconds in phases.values())
