"""Crash anywhere, converge on the next run (issue 7, item 1; Detective: issue 14).

The scenario: onboarding 120 accounts outside the organization by invitation, GuardDuty,
Security Hub and Detective, two regions, accepting each invitation in the member account (an
assumed role; ``createMemberDetector: true``, and a third of the members have no detector in one
region, a third no hub in the other). An uninterrupted run makes K mutating calls of the three
services (creates, invites, Detective's CreateMembers that does both, and in the member accounts
detector creations, hub enables, accepts: AcceptAdministratorInvitation, Detective's
AcceptInvitation); for a k in 1..K the reconciler, a real process, is SIGKILLed right after its
k-th mutating call took effect, and then run again to completion. What differs between the
services (status words, which calls create and invite, the member side) is the harness's
``TRAITS`` table.

The kill point is deterministic: the sandbox's :meth:`~reconciler_sandbox.Sandbox.hold_after`
counts mutating requests as they are applied and, once the k-th has been, holds every further
request (the k-th's own response included); the test sees the hold trip, SIGKILLs the process,
then stops that endpoint with the hold still tripped, so whatever the dead process had sent
(held, in a socket buffer, in the listen backlog) is dropped without effect, and serves the same
state on a new endpoint. So exactly k calls took effect, whatever the reconciler's threads were
doing, and the client never heard the k-th answer: the worst case, where the state changed and
the client does not know it.

Between the two runs, a dry run of the half-done state (``--detailed-exitcode``) must make read
calls only, all as the administrator, and exit 2 exactly when something is left to do. After
each pair: the sandbox state is the desired state (every account enabled by invitation in all
six shards, associated with our administrator, nothing pending), no account was created or
invited more than once per shard (the sandbox counts successful creates and invites, and the
invitation emails each member received), the killed run had applied exactly k mutating calls,
the second run exited 0, the two runs together made at least the K mutating calls of an
uninterrupted run (fewer would mean a call took effect that neither made), and no output of the
three processes (debug logs, JSON lines) holds a credential or a full email.

CI runs a sample of k (the first and last call, the last create, the last invite, the first
call of the member-side phase, the first of each member-side operation: CreateDetector,
EnableSecurityHub, AcceptAdministratorInvitation, AcceptInvitation; then evenly spread ones up
to the sample's size); ``-m heavy`` runs every k from 1 to K.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.services import registry
from reconciler_sandbox import Sandbox, SandboxOptions, SandboxState
from reconciler_sandbox import services as sandbox_services
from tests.reliability.conftest import report
from tests.reliability.harness import (
    MEMBER_SERVICES,
    REGIONS,
    TRAITS,
    cli_command,
    cli_env,
    divergences,
    dry_run_problems,
    leaks,
    member_side_writes,
    mutating_member_calls,
    onboarding_manifest,
    onboarding_world,
    run,
    spawn,
    write_yaml,
)

MEMBERS = 120
# Two pairs at a time: each reconcile process is CPU-bound on one core.
WORKERS = 2
# Each pair costs about one full run plus a dry run (~25 s of CPU): CI takes the phase edges
# and the first call of each member-side operation (see Reference.edges), up to 8 in all.
CI_SAMPLE = 8
ARGS = ("--output", "json", "--log-format", "json", "--log-level", "debug", "--no-progress")
# Per ``service.Operation``: its phase. A call that creates and invites (Detective's
# CreateMembers) is in the invite phase: the invitation is what it ends with.
PHASES = {
    f"{t.name}.{operation}": phase
    for t in TRAITS.values()
    for phase, operations in (
        ("create", t.creates),
        ("invite", t.invites),
        ("accept", t.member_side),
    )
    for operation in operations
}
# The member-side operations by name (GuardDuty's and Security Hub's accepts share theirs).
MEMBER_SIDE_OPERATIONS = tuple(
    dict.fromkeys(operation for t in TRAITS.values() for operation in t.member_side)
)
# Administrator calls per shard: MEMBERS in batches of at most 50 (every service's limit).
BATCHES = -(-MEMBERS // 50)


@dataclass(frozen=True)
class Reference:
    """The uninterrupted run: its mutating calls in the order they took effect."""

    operations: tuple[str, ...]
    seconds: float

    @property
    def total(self) -> int:
        return len(self.operations)

    def edges(self) -> list[int]:
        """1-based k at the phase edges: the first call, the last create, the last invite, the
        first call in the member accounts, the first of each member-side operation (detector
        creations, hub enables, acceptances), the last call."""
        ks = {1, self.total}
        for phase in ("create", "invite"):
            ks.add(max(i for i, op in enumerate(self.operations, 1) if _phase(op) == phase))
        ks.add(min(i for i, op in enumerate(self.operations, 1) if _phase(op) == "accept"))
        for operation in MEMBER_SIDE_OPERATIONS:
            ks.add(
                min(i for i, op in enumerate(self.operations, 1) if op.endswith(f".{operation}"))
            )
        return sorted(ks)


def _phase(qualified_operation: str) -> str:
    return PHASES[qualified_operation]


@dataclass(frozen=True)
class Pair:
    """What one kill-and-rerun pair did (numbers and problems only: hundreds are kept)."""

    k: int
    second_mutating: int
    failures: list[str]


def scenario(directory: Path) -> tuple[dict[str, Any], list[str], Path]:
    state, members = onboarding_world(MEMBERS, member_side_writes=True)
    directory.mkdir(parents=True, exist_ok=True)
    path = write_yaml(directory / "manifest.yaml", onboarding_manifest(members))
    return state, members, path


def start(state: dict[str, Any]) -> Sandbox:
    # AWS's own throttling (10 requests/s, burst 30 per account, region and service).
    return Sandbox(SandboxState.from_dict(state), SandboxOptions(), port=0).start()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    directory = tmp_path_factory.mktemp("reference")
    state, members, path = scenario(directory)
    sandbox = start(state)
    try:
        result = run(sandbox, directory / "run", "--manifest", path, *ARGS)
        assert result.code == 0, result.describe()
        assert divergences(sandbox, members) == []
        operations = tuple(
            f"{c['service']}.{c['operation']}" for c in mutating_member_calls(result.calls)
        )
    finally:
        sandbox.stop()
    # Per shard the batches of each administrator call (one call for Detective's CreateMembers,
    # which also invites), per member and region Security Hub's EnableSecurityHub (a 409 where
    # it is enabled already), per member without a detector one CreateDetector, and per member
    # and shard one accept.
    administrator = Counter(
        f"{t.name}.{operation}"
        for t in TRAITS.values()
        for operation in t.administrator_writes
        for _ in range(BATCHES * len(REGIONS))
    )
    expected = administrator + member_side_writes(MEMBERS)
    assert Counter(operations) == expected
    assert expected["guardduty.CreateDetector"] > 0
    return Reference(operations, result.seconds)


def crash_pair(k: int, total: int, directory: Path) -> Pair:
    state, members, path = scenario(directory)
    first = start(state)
    try:
        hold = first.hold_after(k, services=MEMBER_SERVICES)
        process = spawn(cli_command("--manifest", path, *ARGS), cli_env(first), directory / "1")
        deadline = time.monotonic() + 600
        tripped = False
        while time.monotonic() < deadline:
            if hold.tripped.wait(0.02):
                tripped = True
                break
            if process.poll() is not None:
                break
        process.send_signal(signal.SIGKILL)
        first_code = process.wait()
        applied = len(mutating_member_calls(first.calls))
    finally:
        # The endpoint goes away with the hold still tripped: what the dead process had sent
        # is dropped, including requests still in socket buffers or the listen backlog, which
        # a released hold would otherwise let through after the kill (found at k=1).
        first.stop()
    problems: list[str] = []
    first_output = (directory / "1" / "stdout").read_text() + (
        directory / "1" / "stderr"
    ).read_text()
    problems += [f"leaked {i}" for i in leaks(first_output, first, members, emails_masked=True)]
    # The same state behind a new endpoint, as AWS is still there when a job is restarted.
    sandbox = Sandbox(first.state, SandboxOptions(), port=0).start()
    try:
        # What a reviewer would run now: a preview of the half-done state, read-only, that
        # says whether changes are pending (2) or not (0).
        preview = run(
            sandbox,
            directory / "dry",
            "--manifest",
            path,
            "--dry-run",
            "--detailed-exitcode",
            *ARGS,
        )
        pending = bool(divergences(sandbox, members))
        if preview.code != (2 if pending else 0):
            problems.append(f"dry run exit {preview.code} with changes pending: {pending}")
        second = run(sandbox, directory / "2", "--manifest", path, *ARGS)
        problems += divergences(sandbox, members)
        for text in (preview.stdout + preview.stderr, second.stdout + second.stderr):
            problems += [
                f"leaked {item}" for item in leaks(text, sandbox, members, emails_masked=True)
            ]
        if not tripped:
            problems.append(f"the hold never tripped (first run exit {first_code})")
        if first_code != -signal.SIGKILL:
            problems.append(f"first run ended with {first_code}, not SIGKILL")
        if applied != k:
            problems.append(f"{applied} mutating calls took effect, not {k}")
        problems += [f"dry run after the kill: {p}" for p in dry_run_problems(preview)]
        if second.code != 0:
            problems.append(second.describe())
        second_mutating = len(mutating_member_calls(second.calls))
        # Every unit of work of the uninterrupted run takes a call in one run or the other:
        # fewer would mean a call took effect that neither run made (or counted).
        if applied + second_mutating < total:
            problems.append(f"{applied} + {second_mutating} mutating calls, fewer than {total}")
        return Pair(k, second_mutating, problems)
    finally:
        sandbox.stop()


def crash_everywhere(ks: Sequence[int], total: int, root: Path) -> tuple[list[Pair], float]:
    """Every pair, two at a time. A passing pair's files are removed; with
    ``$RELIABILITY_PROGRESS`` set, one JSON line per pair is appended there as it ends."""
    started = time.monotonic()
    progress = os.environ.get("RELIABILITY_PROGRESS")
    lock = threading.Lock()

    def one(k: int) -> Pair:
        pair_started = time.monotonic()
        pair = crash_pair(k, total, root / f"k{k}")
        failures = pair.failures
        if not failures:
            shutil.rmtree(root / f"k{k}", ignore_errors=True)
        if progress:
            line = {
                "k": k,
                "ok": not failures,
                "failures": [f[:300] for f in failures[:3]],
                "second_mutating": pair.second_mutating,
                "seconds": round(time.monotonic() - pair_started, 1),
            }
            with lock, open(progress, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")
        return pair

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        pairs = list(pool.map(one, ks))
    return pairs, time.monotonic() - started


def check(pairs: list[Pair], reference: Reference, label: str, seconds: float) -> None:
    failed = {pair.k: pair.failures for pair in pairs if pair.failures}
    second_mutating = [p.second_mutating for p in pairs]
    report(
        "crash",
        f"{label}: {len(pairs)} values of k tried out of K={reference.total} mutating calls "
        f"(uninterrupted run {reference.seconds:.1f} s); {len(pairs) - len(failed)} converged "
        f"on the next run; second runs made {min(second_mutating)}-{max(second_mutating)} "
        f"mutating calls; {seconds:.0f} s",
        k_tried=len(pairs),
        k_total=reference.total,
        k_failed=sorted(failed),
        seconds=round(seconds, 1),
    )
    assert not failed, "\n\n".join(f"k={k}:\n" + "\n".join(v) for k, v in failed.items())


def test_the_suites_onboard_every_service_of_the_product_and_the_sandbox() -> None:
    # A service added to the registries and not to the harness's table would go untested here.
    assert set(TRAITS) == set(registry.NAMES) == set(sandbox_services.NAMES)


def test_an_uninterrupted_onboarding_converges(reference: Reference) -> None:
    # The reference run itself: converged, every account created and invited exactly once
    # (checked in the fixture), and its phases in the order the plan gives them per shard.
    first = {name: reference.operations.index(name) for name in set(reference.operations)}
    for t in TRAITS.values():
        created = max(first[f"{t.name}.{op}"] for op in t.creates)
        invited = min(first[f"{t.name}.{op}"] for op in t.invites)
        accepted = min(first[f"{t.name}.{op}"] for op in t.accepts)
        assert created <= invited < accepted, t.name


def sample(reference: Reference, size: int) -> list[int]:
    """The phase edges (1 and K among them), then evenly spread values up to ``size``."""
    ks = set(reference.edges())
    spread = size - len(ks)
    if spread > 0:
        ks.update(round(reference.total * i / (spread + 1)) for i in range(1, spread + 1))
    return sorted(ks)


@pytest.mark.timeout(900)  # ~2 min on an idle 2-core machine; room for a loaded one
def test_crash_at_sampled_k_converges_on_the_next_run(reference: Reference, tmp_path: Path) -> None:
    ks = sample(reference, CI_SAMPLE)
    assert {1, reference.total} <= set(ks)
    # Every member-side operation is a kill point of the sample.
    killed_after = {reference.operations[k - 1].split(".", 1)[1] for k in ks}
    assert set(MEMBER_SIDE_OPERATIONS) <= killed_after
    pairs, seconds = crash_everywhere(ks, reference.total, tmp_path)
    check(pairs, reference, f"sample {ks}", seconds)


@pytest.mark.heavy
@pytest.mark.timeout(0)
def test_crash_at_every_k_converges_on_the_next_run(reference: Reference, tmp_path: Path) -> None:
    ks = list(range(1, reference.total + 1))
    pairs, seconds = crash_everywhere(ks, reference.total, tmp_path)
    check(pairs, reference, "every k", seconds)
