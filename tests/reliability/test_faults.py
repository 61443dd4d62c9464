"""Fault storms (issue 7, item 2): 500s, throttling, late answers, cut connections.

Each scenario onboards accounts by invitation (GuardDuty, Security Hub and Detective, two
regions, accepting in the member accounts, where accepting also creates GuardDuty detectors and
enables Security Hub, and GuardDuty's and Detective's invitations pass through their email
verification) against a sandbox that misbehaves, running ``reconcile`` (a real process) again
and again, as the hourly job would, until a run exits 0. Every run must be honest: exit 0 only
when the sandbox holds the desired state; otherwise exit 1 naming, in its JSON ``results``,
every account it did not converge and why (or the shard it could not even observe); never a
``converged`` result for an account that is not. At the end nothing was created or invited
twice and each member got exactly one invitation email, however many requests were retried or
answered after the client had given up.

Before the first apply and after each failed one, a dry run against the same storm must make
read calls only (issue 7, item 4). Every line each process printed is scanned for credentials
(the sandbox's key pair and every AssumeRole-issued key, secret and token) and full emails.

The numbers (faults injected by kind, botocore retries, throttled responses) are reported at
the end of the run; CI runs 20 members per scenario, ``-m heavy`` 120, three seeds, and
two more storms (a client paced to the sandbox's 1 request/s, and everything at once).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler_sandbox import Sandbox, SandboxOptions, SandboxState
from tests.reliability.conftest import report
from tests.reliability.harness import (
    REGIONS,
    SERVICES,
    TRAITS,
    Completed,
    divergences,
    dry_run_problems,
    honesty_problems,
    leaks,
    onboarding_manifest,
    onboarding_world,
    run,
    write_yaml,
)

MAX_RUNS = 8
# ``service.Operation`` of every member-side write the onboarding makes.
MEMBER_SIDE_WRITES = tuple(f"{t.name}.{op}" for t in TRAITS.values() for op in t.member_side)
ARGS = ("--output", "json", "--log-format", "json", "--log-level", "debug", "--no-progress")


@dataclass(frozen=True)
class Storm:
    name: str
    options: dict[str, Any]
    args: tuple[str, ...] = ()
    # The kind of fault the storm must actually have injected (a storm that injected nothing
    # proves nothing).
    expect: str = ""


STORMS = [
    Storm("500s", {"fault_rate": 0.3}, expect="500"),
    # Two attempts only: calls fail for good, runs exit 1 and must name what they left.
    Storm("500s, two attempts a call", {"fault_rate": 0.2}, ("--max-attempts", "2"), "500"),
    Storm("throttled 1/s burst 1", {"rate": 1, "burst": 1}, expect="throttle"),
    Storm(
        "answers later than the read timeout",
        {"slow_rate": 0.2, "slow_ms": 1500},
        ("--read-timeout", "0.5"),
        expect="slow",
    ),
    Storm("connections cut mid-response", {"drop_rate": 0.2}, expect="drop"),
]
HEAVY_STORMS = [
    *STORMS,
    Storm(
        "throttled 1/s burst 1, client paced to it",
        {"rate": 1, "burst": 1},
        tuple(arg for service in SERVICES for arg in ("--rate", f"{service}=1/1")),
    ),
    Storm(
        "everything at once",
        {"fault_rate": 0.2, "slow_rate": 0.05, "slow_ms": 1500, "drop_rate": 0.1, "rate": 2},
        ("--read-timeout", "0.5"),
        expect="500",
    ),
]
CI_MEMBERS = 20
HEAVY_MEMBERS = 120


@dataclass
class Weather:
    """What one storm did to the runs, and what they made of it."""

    runs: list[Completed] = field(default_factory=list)
    previews: list[Completed] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    # Mutating requests that reached the sandbox, by operation (faulted ones included).
    writes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def _calls(self, name: str) -> int:
        return sum(_document(r)["summary"]["aws_calls"][name] for r in (*self.previews, *self.runs))

    @property
    def retries(self) -> int:
        """botocore's retries, as the runs' JSON summaries count them (dry runs included)."""
        return self._calls("retries")

    @property
    def throttled(self) -> int:
        """429 responses the runs saw, retried ones included (their JSON summaries)."""
        return self._calls("throttled")

    def named_failures(self) -> int:
        return sum(
            1
            for r in self.runs
            for item in _document(r).get("results", [])
            if item["outcome"] == "failed"
        )

    def blocked_shards(self) -> int:
        return sum(
            1 for r in self.runs for s in _document(r).get("shards", []) if s["status"] == "blocked"
        )

    def held_accounts(self) -> int:
        """Accounts exit-1 runs named in blocking drift (not touched, with the reason)."""
        return sum(
            1
            for r in self.runs
            if r.code == 1
            for d in _document(r).get("drift", [])
            if d["blocking"]
        )


def _document(result: Completed) -> Any:
    """The run's JSON document; an empty one when stdout is not (reported as a problem)."""
    try:
        return result.json()
    except ValueError:
        return {"summary": {"aws_calls": {"retries": 0, "throttled": 0}}}


def weather(storm: Storm, members_count: int, seed: int, directory: Path) -> Weather:
    state, members = onboarding_world(members_count, member_side_writes=True)
    path = write_yaml(directory / "manifest.yaml", onboarding_manifest(members))
    sandbox = Sandbox(
        SandboxState.from_dict(state), SandboxOptions(seed=seed, **storm.options), port=0
    ).start()
    seen = Weather()
    try:
        for attempt in range(1, MAX_RUNS + 1):
            preview = run(
                sandbox,
                directory / f"dry{attempt}",
                "--manifest",
                path,
                "--dry-run",
                *ARGS,
                *storm.args,
            )
            seen.previews.append(preview)
            seen.faults.update(c["fault"] for c in preview.calls if c["fault"])
            seen.problems += [f"dry run {attempt}: {p}" for p in dry_run_problems(preview)]
            if preview.code not in (0, 1):
                seen.problems.append(f"dry run {attempt}: {preview.describe()}")
            result = run(
                sandbox, directory / f"run{attempt}", "--manifest", path, *ARGS, *storm.args
            )
            seen.runs.append(result)
            seen.faults.update(c["fault"] for c in result.calls if c["fault"])
            seen.writes.update(
                f"{c['service']}.{c['operation']}" for c in result.calls if c["mutating"]
            )
            seen.problems += [
                f"run {attempt}: {p}" for p in honesty_problems(result, sandbox, members)
            ]
            for output in (preview, result):
                found = leaks(output.stdout + output.stderr, sandbox, members, emails_masked=True)
                seen.problems += [f"run {attempt} leaked {item}" for item in found]
            if result.code == 0 or seen.problems:
                break
        if seen.runs[-1].code != 0:
            seen.problems.append(f"not converged after {MAX_RUNS} runs")
        seen.problems += divergences(sandbox, members)
    finally:
        sandbox.stop()
    return seen


def check(storm: Storm, seen: Weather, members_count: int, seed: int) -> None:
    codes = [r.code for r in seen.runs]
    faults = dict(sorted(seen.faults.items()))
    report(
        "faults",
        f"{storm.name} ({members_count} members, seed {seed}): runs exited {codes}; "
        f"faults injected {faults}; {seen.retries} retries, {seen.throttled} throttled "
        f"responses; {seen.named_failures()} account failures, {seen.blocked_shards()} blocked "
        f"shards and {seen.held_accounts()} accounts in blocking drift named in exit-1 runs",
        storm=storm.name,
        members=members_count,
        seed=seed,
        exit_codes=codes,
        faults=faults,
        retries=seen.retries,
        throttled=seen.throttled,
        named_failures=seen.named_failures(),
        blocked_shards=seen.blocked_shards(),
        held_accounts=seen.held_accounts(),
    )
    assert not seen.problems, "\n".join(seen.problems)
    # Every member-side write went through the storm.
    for operation in MEMBER_SIDE_WRITES:
        assert seen.writes[operation] > 0, f"no {operation} was made"
    if storm.expect:
        assert seen.faults[storm.expect] > 0, f"the storm injected no {storm.expect!r} fault"
        assert seen.retries > 0
    if storm.args[:1] == ("--max-attempts",):
        # The point of this storm: runs that gave up on accounts and said so.
        assert 1 in [r.code for r in seen.runs]
        # An account can be named as a failed result, as part of a blocked shard, or in
        # blocking drift (e.g. a member side whose check was lost to the storm, not invited).
        assert seen.named_failures() + seen.blocked_shards() + seen.held_accounts() > 0
    if set(seen.faults) <= {"throttle"}:
        # Every 429 the sandbox sent reached the client, which counts each one.
        assert seen.throttled == seen.faults["throttle"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("storm", STORMS, ids=lambda s: s.name)
def test_every_run_converges_or_names_what_it_could_not(storm: Storm, tmp_path: Path) -> None:
    seen = weather(storm, CI_MEMBERS, 7, tmp_path)
    check(storm, seen, CI_MEMBERS, 7)


@pytest.mark.heavy
@pytest.mark.timeout(0)
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("storm", HEAVY_STORMS, ids=lambda s: s.name)
def test_every_run_converges_or_names_what_it_could_not_at_120(
    storm: Storm, seed: int, tmp_path: Path
) -> None:
    seen = weather(storm, HEAVY_MEMBERS, seed, tmp_path)
    check(storm, seen, HEAVY_MEMBERS, seed)


def test_the_honesty_check_catches_false_success_and_unnamed_accounts(tmp_path: Path) -> None:
    state, members = onboarding_world(3)
    with Sandbox(SandboxState.from_dict(state), SandboxOptions(rate=0), port=0) as sandbox:

        def claim(code: int, status: str, results: list[dict[str, Any]]) -> Completed:
            document = {"shards": [], "results": results, "summary": {"status": status}}
            return Completed([], code, json.dumps(document), "", 0.0)

        # Nothing is onboarded: an exit 0 is a lie, and so is a "converged" result.
        converged = [
            {
                "service": "guardduty",
                "region": "us-east-1",
                "account_id": members[0],
                "outcome": "converged",
                "reason": "created",
                "status": "Enabled",
            }
        ]
        shards = len(SERVICES) * len(REGIONS)
        problems = honesty_problems(claim(0, "converged", converged), sandbox, members)
        assert any(f"exit 0 with {shards * 3} unconverged" in p for p in problems)
        assert any("reported converged but is not" in p for p in problems)
        # An exit 1 naming one account of all the shards' leaves every other one unnamed.
        failed = [{**converged[0], "outcome": "failed", "reason": "AccessDenied"}]
        problems = honesty_problems(claim(1, "failed", failed), sandbox, members)
        assert len([p for p in problems if "not converged and not named" in p]) == shards * 3 - 1
        assert honesty_problems(claim(2, "failed", []), sandbox, members)
