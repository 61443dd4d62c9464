"""``python -m benchmarks [--quick] [--scenario A|B|C|D]… [--scale 1,2,4]``.

Runs each scenario (see :mod:`benchmarks.scenarios`) against a fresh sandbox, prints the
results table, the calls by operation, the goal checks and, for scenarios run at several
sizes, how CPU and memory grow with the number of members. Exits 1 when a run failed or a
call count differs from its bound (timing goals are reported, never fatal: they depend on the
machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import report
from benchmarks.harness import Measurement, compile_bytecode, run_scenario
from benchmarks.scenarios import FULL, scenarios


def _scales(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or any(value <= 0 for value in values):
        raise argparse.ArgumentTypeError(f"scales must be positive: {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark reconcile against the local sandbox: calls, wall time, CPU, "
        "memory, each set against its lower bound.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (seconds; what CI runs), same code"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(FULL),
        help="run only this scenario (repeatable; default all)",
    )
    parser.add_argument(
        "--scale",
        type=_scales,
        help="comma-separated multipliers of the scenario's members, e.g. 1,2,4 "
        "(default: B and D at 0.25,0.5,1, the others at 1; --quick: 1)",
    )
    parser.add_argument("--workdir", type=Path, help="keep manifests, outputs and calls logs here")
    parser.add_argument("--json", type=Path, help="also write the measurements as JSON here")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run reconcile under cProfile, writing <workdir>/<run>.prof (adds overhead)",
    )
    return parser


def run(
    names: Sequence[str],
    *,
    quick: bool,
    scales: Sequence[float] | None,
    workdir: Path,
    profile: bool = False,
) -> list[Measurement]:
    compile_bytecode()
    measurements: list[Measurement] = []
    for scenario in scenarios(names, quick=quick, scales=scales):
        print(
            f"running {scenario.name} ×{scenario.scale:g}: {scenario.title}, "
            f"{scenario.describe()} …",
            file=sys.stderr,
            flush=True,
        )
        measurement = run_scenario(scenario, workdir, profile=profile)
        print(
            f"  {measurement.total_calls:,} calls in {measurement.wall_process:.1f} s "
            f"(seeding took {measurement.seed_seconds:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
        measurements.append(measurement)
    return measurements


def render(measurements: Sequence[Measurement], *, quick: bool) -> tuple[str, bool]:
    """The printed report, and whether every run was correct with calls at the bound."""
    lines = ["Machine:", "", *report.machine(), "", report.table(measurements), ""]
    lines.append(
        "calls and call bound include the run's one sts GetCallerIdentity; "
        "AWS span = first request's arrival to last request's arrival + one latency (what the "
        "wall bound models, and what the goal is checked on); process = the reconcile process "
        "from start to exit; outside span = process start to first request + last request to "
        "exit (interpreter, imports, manifest, report); 429s = throttled responses; CPU and "
        "peak RSS are the reconcile process's own (os.wait4); planning CPU = region catalog, "
        "manifest load, expansion, diff, plan and report, from a second, instrumented run of "
        "the same dry-run (benchmarks.phases). 1-minute load average at the "
        "start of each run: "
        + ", ".join(f"{_name(m)} {m.load_average:.1f}" for m in measurements)
        + "."
    )
    lines += ["", "Calls by operation (made/bound):", ""]
    lines += [f"- {_name(m)}: {report.breakdown(m)}" for m in measurements]
    lines += ["", "Goals:", ""]
    checks = report.goal_checks(measurements, timing=not quick)
    lines += [f"- [{'x' if met else ' '}] {text}" for met, text in checks]
    if quick:
        lines.append("- (quick run: timing goals are not checked at this size)")
    phases = report.phase_table(measurements)
    if phases:
        lines += ["", "CPU seconds by step of the dry-run (benchmarks.phases, a second run):", ""]
        lines += phases
        notes = [(m, report.whole_process_note(m)) for m in measurements]
        lines += [""] + [f"- {_name(m)}: {note}" for m, note in notes if note]
    scaling = report.scaling(measurements)
    if scaling:
        lines += ["", "Scaling:", "", *scaling]
    correct = all(not m.problems and m.calls == m.bound for m in measurements)
    return "\n".join(lines).rstrip() + "\n", correct


def _name(m: Measurement) -> str:
    return (
        m.scenario.name if m.scenario.scale == 1.0 else f"{m.scenario.name} ×{m.scenario.scale:g}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = args.scenario or sorted(FULL)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="reconcile-bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        measurements = run(
            names, quick=args.quick, scales=args.scale, workdir=workdir, profile=args.profile
        )
    text, correct = render(measurements, quick=args.quick)
    sys.stdout.write(text)
    print(
        f"\n{len(measurements)} runs in {time.monotonic() - started:.0f} s on "
        f"{platform.python_implementation()} {platform.python_version()}",
        file=sys.stderr,
    )
    if args.json:
        args.json.write_text(
            json.dumps([m.to_dict() for m in measurements], indent=1) + "\n", encoding="utf-8"
        )
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
