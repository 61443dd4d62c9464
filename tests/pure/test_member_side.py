"""A member whose side cannot accept is not invited (issue 13, point 12): the pure half.

The observation carries, per account about to be invited, why its member side could not accept
(read in the member account before inviting); the differ turns each into one blocking drift
item with the fix, and the planner creates, invites and accepts none of them, while every other
account of the shard goes ahead.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.diff import DriftKind, diff_shard
from reconciler.model import (
    AcceptSettings,
    DesiredState,
    Mode,
    Service,
    ServiceSettings,
    ShardObservation,
)
from reconciler.plan import Step, build_plan
from tests.factories import ADMIN, GD_EAST, account, desired_members, desired_state, observed

READY, NEW, CREATED, RESIGNED, FAILED = (account(n) for n in range(5))
WHY = "200000000001 has no GuardDuty detector in us-east-1; enable GuardDuty there"


def accepting(desired: DesiredState) -> DesiredState:
    settings = ServiceSettings(
        Service("guardduty"), Mode.INVITATION, accept=AcceptSettings("Role"), reinvite=True
    )
    return replace(desired, services={Service("guardduty"): settings})


def world(cannot_accept: dict[str, str]) -> tuple[DesiredState, ShardObservation]:
    desired = accepting(
        desired_state({GD_EAST: desired_members([READY, NEW, CREATED, RESIGNED, FAILED])})
    )
    observation = observed(
        GD_EAST,
        {CREATED: "Created", RESIGNED: "Resigned", FAILED: "EmailVerificationFailed"},
        emails={FAILED: "old@example.com"},
    )
    return desired, replace(observation, cannot_accept=cannot_accept)


def accounts_of(desired: DesiredState, observation: ShardObservation) -> dict[Step, set[str]]:
    plan = build_plan(desired, {GD_EAST: observation})
    steps: dict[Step, set[str]] = {}
    for action in plan.actions:
        steps.setdefault(action.step, set()).update(action.account_ids)
    return steps


def test_without_member_side_findings_every_invitee_is_invited_and_accepted() -> None:
    desired, observation = world({})
    steps = accounts_of(desired, observation)
    assert steps[Step.INVITE] == {READY, NEW, CREATED, RESIGNED, FAILED}
    assert steps[Step.ACCEPT] == {READY, NEW, CREATED, RESIGNED, FAILED}


def test_an_account_that_cannot_accept_is_neither_created_nor_invited_nor_accepted() -> None:
    held = {NEW: WHY, CREATED: WHY, RESIGNED: WHY, FAILED: WHY}
    desired, observation = world(held)
    steps = accounts_of(desired, observation)
    # Only READY goes ahead: created, invited and accepted.
    assert steps == {Step.CREATE: {READY}, Step.INVITE: {READY}, Step.ACCEPT: {READY}}


def test_each_held_account_is_one_blocking_item_with_the_reason_and_when_it_is_invited() -> None:
    desired, observation = world({NEW: WHY, RESIGNED: WHY})
    difference = diff_shard(
        desired.shards[GD_EAST],
        observation,
        desired.services[Service("guardduty")],
        administrator_account_id=ADMIN,
    )
    held = [item for item in difference.items if item.account_id in (NEW, RESIGNED)]
    assert [(i.account_id, i.kind, i.blocking) for i in held] == [
        (NEW, DriftKind.MEMBER_CANNOT_ACCEPT, True),
        (RESIGNED, DriftKind.MEMBER_CANNOT_ACCEPT, True),
    ]
    assert all(i.key == GD_EAST for i in held)
    assert all(i.detail.startswith(f"not invited: {WHY}") for i in held)
    assert all("the first run after the fix" in i.detail for i in held)
    assert NEW not in difference.missing
    assert RESIGNED not in difference.reinvite
    assert difference.invitees == (READY, CREATED, FAILED)


def test_a_held_account_keeps_its_other_findings() -> None:
    # An account whose email differs from AWS's stays reported as such.
    desired, observation = world({})
    observation = replace(
        observation,
        members={
            **observation.members,
            CREATED: replace(observation.members[CREATED], email="other@example.com"),
        },
        cannot_accept={CREATED: WHY},
    )
    difference = diff_shard(
        desired.shards[GD_EAST],
        observation,
        desired.services[Service("guardduty")],
        administrator_account_id=ADMIN,
    )
    kinds = sorted(i.kind for i in difference.items if i.account_id == CREATED)
    assert kinds == [DriftKind.EMAIL_MISMATCH, DriftKind.MEMBER_CANNOT_ACCEPT]
    assert CREATED not in difference.not_invited
