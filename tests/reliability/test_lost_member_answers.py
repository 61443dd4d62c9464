"""Every member-side write whose answer is lost converges in the same run (issue 13, point 11).

A member account with nothing enabled, invited by GuardDuty, Security Hub and Detective with
``accept`` configured (``createMemberDetector: true``): accepting makes five writes as the
member, CreateDetector and AcceptAdministratorInvitation (GuardDuty), EnableSecurityHub and
AcceptAdministratorInvitation (Security Hub), AcceptInvitation (Detective). For each of them, the sandbox applies it and then
loses its answer (:meth:`~reconciler_sandbox.Sandbox.hold_after` on that call, then
``clear_hold``: the response is dropped, the connection cut), which is what a read timeout or a
cut connection does in AWS. botocore retries; the retry finds the work done ("a detector already
exists", 409 "already subscribed", "invitationId is not valid"; Detective's ConflictException, the
member ENABLED already). The run must still exit 0 with
the member onboarded, and nothing created or invited twice.

A real ``reconcile`` process against the sandbox over HTTP, one service at a time, so the k-th
mutating call of that service is always the same operation.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from reconciler_sandbox import Sandbox, SandboxOptions, SandboxState
from tests.cli.conftest import ADMIN, world
from tests.reliability.harness import (
    TRAITS,
    duplicate_writes,
    external_account,
    mutating_member_calls,
    onboarding_manifest,
    run,
    write_yaml,
)

REGION = "us-east-1"
MEMBER = external_account(1)
ARGS = ("--output", "json", "--no-progress")
MEMBER_SIDE = {name: traits.member_side for name, traits in TRAITS.items()}


def bare_member_world() -> dict[str, Any]:
    """The administrator ready in REGION; MEMBER outside the organization, nothing enabled."""
    state = world(org_accounts=0, regions=(REGION,), external=(MEMBER,))
    state["accounts"][MEMBER]["regions"] = {}
    return state


def accepting_manifest(directory: Path) -> Path:
    data = onboarding_manifest([MEMBER])
    data["regions"] = [REGION]
    return write_yaml(directory / "manifest.yaml", data)


def operations(calls: list[dict[str, Any]], service: str) -> list[str]:
    return [c["operation"] for c in mutating_member_calls(calls) if c["service"] == service]


def start() -> Sandbox:
    return Sandbox(
        SandboxState.from_dict(bare_member_world()), SandboxOptions(rate=0), port=0
    ).start()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Per service, the mutating calls of an undisturbed run, in the order they took effect."""
    directory = tmp_path_factory.mktemp("reference")
    path = accepting_manifest(directory)
    found: dict[str, list[str]] = {}
    for service in MEMBER_SIDE:
        with start() as sandbox:
            result = run(
                sandbox, directory / service, "--manifest", path, "--service", service, *ARGS
            )
            assert result.code == 0, result.describe()
            found[service] = operations(result.calls, service)
            found[f"{service} GetMembers"] = [
                c["operation"] for c in result.calls if c["operation"] == "GetMembers"
            ]
            found[f"{service} member reads"] = [
                c["operation"] for c in result.calls if c["account"] == MEMBER and not c["mutating"]
            ]
    return found


def test_the_undisturbed_run_makes_every_member_side_write(
    reference: dict[str, list[str]],
) -> None:
    for service, traits in TRAITS.items():
        assert reference[service] == [*traits.administrator_writes, *traits.member_side]
        # GuardDuty's check before inviting lists the member's detectors once; the accept
        # reuses it.
        assert reference[f"{service} member reads"] == list(traits.member_reads)
        # A service that verifies emails reads its invitees once before accepting; every
        # service once to verify.
        assert len(reference[f"{service} GetMembers"]) == 1 + traits.verifies_email


@pytest.mark.parametrize(
    ("service", "operation"),
    [(service, operation) for service, ops in MEMBER_SIDE.items() for operation in ops],
)
def test_a_member_side_write_whose_answer_is_lost_converges_in_the_same_run(
    service: str, operation: str, reference: dict[str, list[str]], tmp_path: Path
) -> None:
    k = reference[service].index(operation) + 1
    path = accepting_manifest(tmp_path)
    with start() as sandbox:
        hold = sandbox.hold_after(k, services=(service,))

        def lose_the_answer() -> None:
            # The k-th call took effect and its answer is held: drop it, serve the rest.
            if hold.tripped.wait(120):
                sandbox.clear_hold()

        watcher = threading.Thread(target=lose_the_answer, daemon=True)
        watcher.start()
        result = run(sandbox, tmp_path / "run", "--manifest", path, "--service", service, *ARGS)
        watcher.join(5)
        assert hold.tripped.is_set()
        assert hold.dropped >= 1
        assert result.code == 0, result.describe()
        # The lost call was retried (the retry found it done), and nothing was done twice.
        assert operations(result.calls, service).count(operation) == 2
        (outcome,) = result.json()["results"]
        assert outcome["outcome"] == "converged"
        assert outcome["status"] == TRAITS[service].enabled  # AWS's word, as reported
        state = sandbox.state
        assert state.administrator_of(MEMBER, REGION, service) == ADMIN
        assert duplicate_writes(sandbox, service, REGION, MEMBER, exact=True) == []
        gap = TRAITS[service].gap
        assert gap is None or gap.filled(state, MEMBER, REGION)
