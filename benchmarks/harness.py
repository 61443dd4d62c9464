"""Run one scenario for real and measure it.

The sandbox runs in this process (loopback, with the scenario's latency and rate limit);
``reconcile`` runs as a child process, pointed at it the way a user points it at any
AWS-compatible endpoint (``AWS_ENDPOINT_URL`` and credentials in the environment), so that
``os.wait4`` gives its CPU time and peak RSS alone, not the sandbox's. The child is started by
a small launcher process (:mod:`benchmarks.launcher`), not by this one: Linux carries a
parent's peak RSS into its forked child's, which would report this process's size (the
sandbox's whole world) instead of the reconciler's. Every count comes from
the sandbox's calls log, i.e. from what reached the "AWS" side, not from what the reconciler
says it did.

Two wall times are measured:

- ``process``: from starting the child to its exit: Python start-up, imports, manifest load,
  planning, every call, the report. What a user waits for.
- ``aws``: from the first request's arrival at the sandbox to the last one's, plus one
  latency (the sandbox answers every request that much later, so the last answer cannot come
  sooner). This is the quantity the rate-limit bound models, and the one set against the goal;
  the difference between the two is fixed start-up and planning cost, reported too.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks import bounds
from benchmarks.scenarios import (
    ADMIN,
    JOINED,
    Scenario,
    build_state,
    write_manifest,
)
from reconciler_sandbox import Sandbox, SandboxOptions, SandboxState

#: ``reconcile`` exits 0 when converged; D runs with ``--detailed-exitcode``, so 2 (changes
#: pending) proves it saw the missing members.
EXPECTED_EXIT_DRY_RUN = 2
EXPECTED_EXIT = 0

#: The checkout, so that ``python -m benchmarks.phases`` finds this package.
_ROOT = Path(__file__).resolve().parent.parent
_PLAN_LINE = re.compile(r"^Plan: ([\d,]+) to create, ([\d,]+) to invite", re.MULTILINE)


@dataclass
class Measurement:
    """What one run did, next to its bounds."""

    scenario: Scenario
    exit_code: int
    calls: Counter[bounds.CallKey]
    bound: Counter[bounds.CallKey]
    mutating: int
    throttled: int
    wall_process: float
    wall_aws: float
    wall_bound: bounds.WallBound
    cpu_seconds: float
    peak_rss_bytes: int
    #: From the process's start to the first request's arrival, and from the last request's
    #: arrival to the process's exit: the part of ``wall_process`` outside ``wall_aws``.
    before_first_call: float
    after_last_call: float
    #: The machine's 1-minute load average when the run started (other work skews timing).
    load_average: float
    seed_seconds: float
    problems: list[str] = field(default_factory=list)
    #: Dry-runs only: CPU seconds per step of a second, instrumented run (benchmarks.phases).
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_bound(self) -> int:
        return sum(self.bound.values())

    @property
    def call_ratio(self) -> float:
        return self.total_calls / self.total_bound

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.total_calls if self.total_calls else 0.0

    @property
    def aws_ratio(self) -> float | None:
        return self.wall_aws / self.wall_bound.seconds if self.wall_bound.rate_bound else None

    @property
    def process_ratio(self) -> float | None:
        if not self.wall_bound.rate_bound:
            return None
        return self.wall_process / self.wall_bound.seconds

    def to_dict(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "scenario": s.name,
            "scale": s.scale,
            "members": s.members,
            "regions": len(s.regions),
            "services": list(s.services),
            "mode": s.mode,
            "dry_run": s.dry_run,
            "exit_code": self.exit_code,
            "calls": self.total_calls,
            "call_bound": self.total_bound,
            "mutating_calls": self.mutating,
            "throttled": self.throttled,
            "wall_process_seconds": round(self.wall_process, 3),
            "wall_aws_seconds": round(self.wall_aws, 3),
            "wall_bound_seconds": round(self.wall_bound.seconds, 3),
            "before_first_call_seconds": round(self.before_first_call, 3),
            "after_last_call_seconds": round(self.after_last_call, 3),
            "load_average": round(self.load_average, 2),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "peak_rss_mb": round(self.peak_rss_bytes / 2**20, 1),
            "problems": self.problems,
            "phases": self.phases,
        }


def reconcile_command(profile: Path | None = None) -> list[str]:
    """``reconcile`` with this interpreter; under cProfile, writing ``profile``, when given."""
    if profile is not None:
        return [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "reconciler.cli"]
    return [sys.executable, "-m", "reconciler.cli"]


def compile_bytecode() -> None:
    """Compile the reconciler's bytecode, as ``pip install`` (and the container image) does.

    In a checkout with ``PYTHONDONTWRITEBYTECODE`` set, every run would otherwise compile the
    package from source again, a start-up cost no installed deployment pays.
    """
    import compileall

    import reconciler

    compileall.compile_dir(str(Path(reconciler.__file__).parent), quiet=1)


def child_environment(endpoint_url: str, credentials: tuple[str, str]) -> dict[str, str]:
    """The environment of ``reconcile``: the sandbox and its credentials, nothing of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": credentials[0],
            "AWS_SECRET_ACCESS_KEY": credentials[1],
            "AWS_DEFAULT_REGION": "us-east-1",
            # No profile, no instance metadata: nothing can reach a real account.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_COLOR": "1",
        }
    )
    env.pop("GITHUB_STEP_SUMMARY", None)
    return env


class Launcher:
    """The small process that starts every measured ``reconcile`` (see benchmarks.launcher)."""

    def __init__(self) -> None:
        script = Path(__file__).with_name("launcher.py")
        self._process = subprocess.Popen(
            [sys.executable, "-S", str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._process.stdin is None or self._process.stdout is None:
            raise RuntimeError("the benchmark launcher has no pipes")
        self._requests: IO[str] = self._process.stdin
        self._answers: IO[str] = self._process.stdout

    def run(
        self, argv: list[str], env: dict[str, str], cwd: Path, stdout: Path, stderr: Path
    ) -> dict[str, Any]:
        """Run ``argv`` to completion; its exit code, CPU times, peak RSS and start/end."""
        request = {
            "argv": argv,
            "env": env,
            "cwd": str(cwd),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        self._requests.write(json.dumps(request) + "\n")
        self._requests.flush()
        answer = self._answers.readline()
        if not answer:
            raise RuntimeError("the benchmark launcher died")
        result: dict[str, Any] = json.loads(answer)
        return result

    def close(self) -> None:
        self._requests.close()
        self._process.wait(timeout=10)
        self._answers.close()


_LAUNCHER: Launcher | None = None


def launcher() -> Launcher:
    """The launcher of this process, started on first use and closed at exit."""
    global _LAUNCHER
    if _LAUNCHER is None:
        _LAUNCHER = Launcher()
        atexit.register(_LAUNCHER.close)
    return _LAUNCHER


def run_scenario(scenario: Scenario, workdir: Path, *, profile: bool = False) -> Measurement:
    """Seed the sandbox, run ``reconcile`` once, and measure it.

    With ``profile``, ``reconcile`` runs under cProfile and writes ``<workdir>/<run>.prof``
    (its CPU time and memory then include the profiler's overhead).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    tag = f"{scenario.name}-x{scenario.scale:g}"
    started = time.monotonic()
    state = build_state(scenario)
    manifest = write_manifest(scenario, workdir / f"{tag}.yaml")
    seed_seconds = time.monotonic() - started

    calls_log = workdir / f"{tag}.calls.jsonl"
    calls_log.unlink(missing_ok=True)
    options = SandboxOptions(
        latency_ms=scenario.latency_ms,
        rate=0 if scenario.rate is None else scenario.rate,
        burst=scenario.burst,
        calls_log=calls_log,
    )
    with Sandbox(state, options, host="127.0.0.1", port=0) as sandbox:
        command = [
            *reconcile_command(workdir / f"{tag}.prof" if profile else None),
            "--manifest",
            str(manifest),
            "--log-level",
            "warning",
            "--log-format",
            "json",
            "--no-progress",
            *(
                arg
                for service in scenario.services
                for arg in ("--rate", f"{service}={scenario.rate_spec}")
            ),
        ]
        if scenario.dry_run:
            command += ["--dry-run", "--detailed-exitcode"]
        stdout_path, stderr_path = workdir / f"{tag}.stdout", workdir / f"{tag}.stderr"
        env = child_environment(sandbox.endpoint_url, sandbox.credentials)
        load_before = os.getloadavg()[0]
        usage = launcher().run(command, env, Path.cwd(), stdout_path, stderr_path)
        records = _read_calls(calls_log)
        problems = list(sandbox.internal_errors)
        problems += _check(scenario, sandbox.state, usage["returncode"], stdout_path, stderr_path)
        phases: dict[str, float] = {}
        if scenario.dry_run and not profile:
            phases = _phases(manifest, scenario, env, problems)

    calls: Counter[bounds.CallKey] = Counter()
    for record in records:
        service = record.get("service") or "?"
        region = "-" if service == "sts" else (record.get("region") or "?")
        calls[(service, region, record.get("operation") or "?")] += 1
    stamps = [float(record["ts"]) for record in records] or [usage["started"]]
    wall_aws = max(stamps) - min(stamps) + scenario.latency_ms / 1000.0
    return Measurement(
        scenario=scenario,
        exit_code=usage["returncode"],
        calls=calls,
        bound=bounds.call_bound(scenario),
        mutating=sum(1 for record in records if record.get("mutating")),
        throttled=sum(1 for record in records if record.get("status") == 429),
        wall_process=usage["ended"] - usage["started"],
        wall_aws=wall_aws,
        wall_bound=bounds.wall_bound(scenario),
        cpu_seconds=usage["utime"] + usage["stime"],
        peak_rss_bytes=usage["maxrss_kb"] * 1024,
        before_first_call=min(stamps) - usage["started"],
        after_last_call=usage["ended"] - max(stamps),
        load_average=load_before,
        seed_seconds=seed_seconds,
        problems=problems,
        phases=phases,
    )


def _phases(
    manifest: Path, scenario: Scenario, env: dict[str, str], problems: list[str]
) -> dict[str, float]:
    """CPU per step of the same dry-run (a second run, after the measured one)."""
    command = [sys.executable, "-m", "benchmarks.phases", str(manifest), scenario.rate_spec]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=_ROOT, check=False)
    if done.returncode != 0:
        problems.append(f"benchmarks.phases failed: {done.stderr.strip()[-2000:]}")
        return {}
    phases: dict[str, float] = json.loads(done.stdout)
    return phases


def _read_calls(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _check(
    scenario: Scenario, state: SandboxState, code: int, stdout_path: Path, stderr_path: Path
) -> list[str]:
    """Whether the run did its job: the right exit code, the right plan, the members in AWS."""
    problems: list[str] = []
    expected = EXPECTED_EXIT_DRY_RUN if scenario.dry_run else EXPECTED_EXIT
    if scenario.dry_run and len(scenario.existing_ids()) == scenario.members:
        expected = EXPECTED_EXIT
    if code != expected:
        tail = stderr_path.read_text(encoding="utf-8", errors="replace").strip()[-2000:]
        problems.append(f"exit code {code}, expected {expected}: {tail}")
    missing = scenario.members - len(scenario.existing_ids())
    text = stdout_path.read_text(encoding="utf-8", errors="replace")
    found = _PLAN_LINE.search(text)
    if found is None:
        problems.append("no 'Plan:' line in the output")
    else:
        to_create = int(found.group(1).replace(",", ""))
        wanted = missing * len(scenario.shards)
        if to_create != wanted:
            problems.append(f"the plan creates {to_create} members, expected {wanted}")
    if scenario.dry_run:
        return problems
    for service, region in scenario.shards:
        wanted_status = {JOINED[service][scenario.mode]}
        members = state.members(ADMIN, region, service)
        good = sum(1 for member in members if member["status"] in wanted_status)
        if len(members) != scenario.members or good != scenario.members:
            problems.append(
                f"{service} {region}: {len(members)} members in the sandbox, {good} in "
                f"{'/'.join(sorted(wanted_status))}; expected {scenario.members}"
            )
    return problems
