"""The planner as a truth table.

Aspects under test:
- CreateMembers batches of at most 50, for 0, 1, 50, 51, 120 and 1000 missing accounts;
- invitation mode adds InviteMembers for missing and created-not-invited accounts only;
- organization mode never invites; blocked shards get no action;
- the order is deterministic whatever order the inputs come in;
- quotas refuse the whole plan before anything is applied.
"""

from __future__ import annotations

import math
import random

import pytest

from reconciler.errors import PlanRefused
from reconciler.model import Mode, Service, ShardKey
from reconciler.plan import BATCH_SIZE, Step, build_plan
from tests.factories import GD_EAST, SH_EAST, account, desired_members, desired_state, observed


@pytest.mark.parametrize("count", [0, 1, 50, 51, 120, 1000])
def test_plan_should_create_missing_members_in_batches_of_50(count: int) -> None:
    ids = [account(i) for i in range(count)]
    desired = desired_state({GD_EAST: desired_members(ids)})
    plan = build_plan(desired, {GD_EAST: observed(GD_EAST)})
    creates = [a for a in plan.actions if a.step is Step.CREATE]
    assert len(creates) == math.ceil(count / BATCH_SIZE)
    assert all(1 <= len(a.account_ids) <= BATCH_SIZE for a in creates)
    assert [i for a in creates for i in a.account_ids] == sorted(ids)
    assert not [a for a in plan.actions if a.step is Step.INVITE]
    assert plan.is_empty is (count == 0)


@pytest.mark.parametrize("count", [0, 1, 50, 51, 120])
def test_plan_should_invite_created_and_missing_members_in_invitation_mode(count: int) -> None:
    ids = [account(i) for i in range(count)]
    created = [account(5000 + i) for i in range(3)]
    invited = account(6000)
    desired = desired_state(
        {SH_EAST: desired_members([*ids, *created, invited])},
        modes={Service("securityhub"): Mode.INVITATION},
    )
    plan = build_plan(
        desired,
        {SH_EAST: observed(SH_EAST, {**dict.fromkeys(created, "Created"), invited: "Invited"})},
    )
    creates = [a for a in plan.actions if a.step is Step.CREATE]
    invites = [a for a in plan.actions if a.step is Step.INVITE]
    assert [i for a in creates for i in a.account_ids] == sorted(ids)
    invited_ids = [i for a in invites for i in a.account_ids]
    assert invited_ids == sorted([*ids, *created])
    assert invited not in invited_ids
    assert len(invites) == math.ceil((count + 3) / BATCH_SIZE)
    # Every create comes before every invite of the shard.
    order = [a.step for a in plan.actions]
    assert order == sorted(order, key=lambda step: step.order)


def test_plan_should_do_nothing_for_a_blocked_shard_and_report_it() -> None:
    desired = desired_state({GD_EAST: desired_members([account(1)])})
    plan = build_plan(desired, {GD_EAST: observed(GD_EAST, ready=False, reason="no detector")})
    assert plan.actions == ()
    assert [(s.key, s.ready, s.reason) for s in plan.blocked] == [(GD_EAST, False, "no detector")]


def test_plan_should_be_deterministic_whatever_the_input_order() -> None:
    west = ShardKey(Service("guardduty"), "eu-west-1")
    ids = [account(i) for i in range(130)]
    shuffled = ids[:]
    random.Random(7).shuffle(shuffled)
    first = build_plan(
        desired_state({GD_EAST: desired_members(ids), west: desired_members(ids)}),
        {GD_EAST: observed(GD_EAST), west: observed(west)},
    )
    second = build_plan(
        desired_state({west: desired_members(shuffled), GD_EAST: desired_members(shuffled)}),
        {west: observed(west), GD_EAST: observed(GD_EAST)},
    )
    assert first == second
    assert [a.key.region for a in first.actions] == ["eu-west-1"] * 3 + ["us-east-1"] * 3


@pytest.mark.parametrize(
    ("service", "mode", "existing", "adding", "refused"),
    [
        (Service("securityhub"), Mode.INVITATION, 990, 10, False),
        (Service("securityhub"), Mode.INVITATION, 990, 11, True),
        (Service("securityhub"), Mode.ORGANIZATION, 9_999, 1, False),
        (Service("securityhub"), Mode.ORGANIZATION, 9_999, 2, True),
        (Service("guardduty"), Mode.ORGANIZATION, 49_990, 11, True),
    ],
)
def test_plan_should_refuse_a_plan_over_the_quota(
    service: Service, mode: Mode, existing: int, adding: int, refused: bool
) -> None:
    key = ShardKey(service, "us-east-1")
    present = {account(i): "Enabled" for i in range(existing)}
    wanted = desired_members([*present, *(account(100_000 + i) for i in range(adding))])
    desired = desired_state({key: wanted}, modes={service: mode})
    observation = {key: observed(key, present)}
    if refused:
        with pytest.raises(PlanRefused, match="quota"):
            build_plan(desired, observation)
    else:
        assert len(build_plan(desired, observation).actions) >= 1


def test_plan_should_report_drift_sorted_and_flag_blocking_items() -> None:
    gone, stranger = account(1), account(2)
    desired = desired_state({GD_EAST: desired_members([gone])})
    plan = build_plan(
        desired, {GD_EAST: observed(GD_EAST, {gone: "Resigned", stranger: "Enabled"})}
    )
    assert [(d.account_id, d.kind.value, d.blocking) for d in plan.drift] == [
        (gone, "resigned", True),
        (stranger, "unmanaged", False),
    ]
    assert plan.actions == ()
