"""Turn measurements into the results table (Markdown), the goal checks and the scaling notes.

The table is printed as Markdown so that ``benchmarks/RESULTS.md`` holds exactly what the
command printed.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

from benchmarks.harness import Measurement

#: The goals of issue 6.
CALL_RATIO_GOAL = 1.0
WALL_RATIO_GOAL = 1.15
THROTTLED_GOAL = 0.01
D_CPU_GOAL = 2.0
D_RSS_GOAL_MB = 300.0

HEADER = (
    "| run | members × regions × services | calls | call bound | ratio | AWS span s "
    "| wall bound s | ratio | process s | ratio | outside span s | 429s | CPU s "
    "| planning CPU s | peak RSS MB |"
)
RULE = "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"


def machine() -> list[str]:
    """Where the numbers come from: the machine, the versions, the commit, the date."""
    import botocore

    model = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except OSError:
        commit = ""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"- date: {now}; commit {commit or 'unknown'}",
        f"- CPU: {os.cpu_count()} × {model} (nproc {len(os.sched_getaffinity(0))}); "
        f"memory {memory}",
        f"- {platform.python_implementation()} {platform.python_version()}, "
        f"botocore {botocore.__version__}, {platform.system()} {platform.release()}",
    ]


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def row(m: Measurement) -> str:
    s = m.scenario
    name = s.name if s.scale == 1.0 else f"{s.name} ×{s.scale:g}"
    shape = f"{s.members:,} × {len(s.regions)} × {len(s.services)}"
    bound_s = f"{m.wall_bound.seconds:.2f}" if m.wall_bound.rate_bound else "n/a"
    throttled = f"{m.throttled} ({100 * m.throttled_share:.2f}%)"
    planning = f"{planning_cpu(m.phases):.2f}" if m.phases else "–"
    return (
        f"| {name} | {shape} | {m.total_calls:,} | {m.total_bound:,} | {m.call_ratio:.2f} "
        f"| {m.wall_aws:.2f} | {bound_s} | {_ratio(m.aws_ratio)} | {m.wall_process:.2f} "
        f"| {_ratio(m.process_ratio)} | {m.before_first_call:.2f} + {m.after_last_call:.2f} "
        f"| {throttled} | {m.cpu_seconds:.2f} | {planning} "
        f"| {m.peak_rss_bytes / 2**20:.0f} |"
    )


def table(measurements: Sequence[Measurement]) -> str:
    return "\n".join([HEADER, RULE, *(row(m) for m in measurements)])


def breakdown(m: Measurement) -> str:
    """Calls by operation, made vs bound (every shard alike, so summed over shards)."""
    made: dict[tuple[str, str], int] = {}
    wanted: dict[tuple[str, str], int] = {}
    for (service, _, operation), count in m.calls.items():
        made[(service, operation)] = made.get((service, operation), 0) + count
    for (service, _, operation), count in m.bound.items():
        wanted[(service, operation)] = wanted.get((service, operation), 0) + count
    parts = [
        f"{service} {operation} {made.get((service, operation), 0):,}/"
        f"{wanted.get((service, operation), 0):,}"
        for service, operation in sorted(made.keys() | wanted.keys())
    ]
    return "; ".join(parts)


def goal_checks(measurements: Sequence[Measurement], *, timing: bool) -> list[tuple[bool, str]]:
    """(met, sentence) per goal and run; timing goals only for full-size runs."""
    checks: list[tuple[bool, str]] = []
    for m in measurements:
        s = m.scenario
        name = s.name if s.scale == 1.0 else f"{s.name} ×{s.scale:g}"
        checks.append(
            (
                m.calls == m.bound,
                f"{name}: calls {m.total_calls:,} = bound {m.total_bound:,}, "
                "per service, region and operation",
            )
        )
        checks.append(
            (m.throttled_share < THROTTLED_GOAL, f"{name}: {m.throttled} throttled (< 1%)")
        )
        if s.dry_run or s.existing_fraction >= 1.0:
            checks.append((m.mutating == 0, f"{name}: {m.mutating} mutating calls (0 expected)"))
        if m.problems:
            checks.append((False, f"{name}: " + " | ".join(m.problems)))
        if not timing or s.scale != 1.0:
            continue
        if m.aws_ratio is not None:
            checks.append(
                (
                    m.aws_ratio <= WALL_RATIO_GOAL,
                    f"{name}: AWS span / bound {m.aws_ratio:.3f} (≤ {WALL_RATIO_GOAL})",
                )
            )
        if s.dry_run:
            mb = m.peak_rss_bytes / 2**20
            if m.phases:
                planning = planning_cpu(m.phases)
                checks.append(
                    (
                        planning < D_CPU_GOAL,
                        f"{name}: CPU of planning ({' + '.join(PLANNING_PHASES)}) "
                        f"{planning:.2f} s (< {D_CPU_GOAL})",
                    )
                )
            else:
                checks.append((False, f"{name}: no CPU by step (benchmarks.phases did not run)"))
            checks.append(
                (mb < D_RSS_GOAL_MB, f"{name}: peak RSS {mb:.0f} MB (< {D_RSS_GOAL_MB:.0f})")
            )
    return checks


#: The phases of :mod:`benchmarks.phases` that are planning proper: everything but the
#: interpreter, the imports, building the clients and the AWS calls themselves (whose number
#: the call bound fixes, and whose CPU is botocore's per call).
PLANNING_PHASES = ("region catalog", "manifest load", "expand", "diff + plan", "report")


def whole_process_note(m: Measurement) -> str | None:
    """What the whole dry-run process cost beside its planning (reported, not a goal)."""
    if not m.phases:
        return None
    reads = m.phases.get("observe (AWS reads)", 0.0)
    fixed = m.phases.get("start-up", 0.0) + m.phases.get("imports", 0.0)
    calls = m.total_calls
    return (
        f"the whole reconcile process took {m.cpu_seconds:.2f} s of CPU: planning "
        f"{planning_cpu(m.phases):.2f} s, the {calls:,} calls {reads:.2f} s "
        f"({1000 * reads / max(calls, 1):.1f} ms each), interpreter and imports {fixed:.2f} s"
    )


def planning_cpu(phases: dict[str, float]) -> float:
    return sum(phases.get(phase, 0.0) for phase in PLANNING_PHASES)


def phase_table(measurements: Sequence[Measurement]) -> list[str]:
    """CPU seconds per step of the dry-runs, one column per size."""
    runs = [m for m in measurements if m.phases]
    if not runs:
        return []
    names = list(runs[0].phases)
    header = "| phase | " + " | ".join(f"{m.scenario.members:,} members" for m in runs) + " |"
    lines = [header, "|---|" + "--:|" * len(runs)]
    for phase in names:
        cells = " | ".join(f"{m.phases.get(phase, 0.0):.2f}" for m in runs)
        lines.append(f"| {phase} | {cells} |")
    totals = " | ".join(f"**{sum(m.phases.values()):.2f}**" for m in runs)
    lines.append(f"| total | {totals} |")
    planning = " | ".join(f"{planning_cpu(m.phases):.2f}" for m in runs)
    lines.append(f"| of which planning ({' + '.join(PLANNING_PHASES)}) | {planning} |")
    return lines


def scaling(measurements: Sequence[Measurement]) -> list[str]:
    """For each scenario run at several sizes: how CPU, memory and time grow with members."""
    lines: list[str] = []
    ordered = sorted(measurements, key=lambda m: (m.scenario.name, m.scenario.members))
    for name, group in groupby(ordered, key=lambda m: m.scenario.name):
        runs = list(group)
        if len(runs) < 2:
            continue
        base = runs[0]
        lines.append(f"Scenario {name}, {base.scenario.title}:")
        lines.append("")
        lines.append(
            "| members | × | CPU s | Δ CPU per 1,000 members | peak RSS MB "
            "| Δ RSS per 1,000 members | process s | calls |"
        )
        lines.append("|--:|--:|--:|--:|--:|--:|--:|--:|")
        previous: Measurement | None = None
        for m in runs:
            members = m.scenario.members
            if previous is None:
                d_cpu = d_rss = "–"
            else:
                step = (members - previous.scenario.members) / 1000
                d_cpu = f"{(m.cpu_seconds - previous.cpu_seconds) / step:.3f}"
                d_rss = f"{(m.peak_rss_bytes - previous.peak_rss_bytes) / 2**20 / step:.2f}"
            lines.append(
                f"| {members:,} | {members / base.scenario.members:g} | {m.cpu_seconds:.2f} "
                f"| {d_cpu} | {m.peak_rss_bytes / 2**20:.0f} | {d_rss} | {m.wall_process:.2f} "
                f"| {m.total_calls:,} |"
            )
            previous = m
        lines.append("")
    return lines
