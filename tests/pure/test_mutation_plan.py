"""The planner: what mutation testing showed the other plan tests left unstated.

Aspects under test:
- a shard missing from the observations is blocked ("not observed"), never planned as ready
  (which would create every member), and does not stop the shards after it;
- each shard's status carries its key and its desired and observed counts;
- a quota refusal names every shard over quota, in one message; the maxDeletions refusal says
  how many, the limit and the override;
- the plan names its administrator; actions_for selects one shard's actions;
- every action carries its shard's key; prune actions carry the email AWS has.
"""

from __future__ import annotations

import pytest

from reconciler.errors import PlanRefused
from reconciler.model import (
    DesiredMember,
    DesiredState,
    Mode,
    PruneSettings,
    Service,
    ShardKey,
)
from reconciler.plan import Plan, ShardStatus, Step, build_plan
from tests.factories import (
    ADMIN,
    GD_EAST,
    SH_EAST,
    account,
    desired_members,
    desired_state,
    email,
    observed,
)

GD_WEST = ShardKey(Service("guardduty"), "eu-west-1")


def _with_prune(desired: DesiredState, prune: PruneSettings) -> DesiredState:
    fields = {name: getattr(desired, name) for name in DesiredState.__dataclass_fields__}
    return DesiredState(**{**fields, "prune": prune})


def test_a_shard_missing_from_the_observations_is_blocked_not_planned() -> None:
    ids = [account(i) for i in range(3)]
    desired = desired_state({GD_WEST: desired_members(ids), GD_EAST: desired_members(ids)})
    # eu-west-1 (sorted first) was never observed; us-east-1 was, and is empty.
    plan = build_plan(desired, {GD_EAST: observed(GD_EAST)})
    assert plan.shards == (
        ShardStatus(GD_WEST, False, "not observed", desired=3, observed=0),
        ShardStatus(GD_EAST, True, None, desired=3, observed=0),
    )
    assert plan.shards[0].ready is False
    assert plan.blocked == (plan.shards[0],)
    assert {action.key for action in plan.actions} == {GD_EAST}
    assert plan.actions_for(GD_WEST) == ()


def test_a_blocked_shard_does_not_stop_the_shards_after_it() -> None:
    ids = [account(i) for i in range(2)]
    desired = desired_state({GD_WEST: desired_members(ids), GD_EAST: desired_members(ids)})
    plan = build_plan(
        desired,
        {GD_WEST: observed(GD_WEST, ready=False, reason="no detector"), GD_EAST: observed(GD_EAST)},
    )
    assert [(a.key, a.step, a.account_ids) for a in plan.actions] == [
        (GD_EAST, Step.CREATE, tuple(ids))
    ]
    assert [(s.key, s.ready, s.reason) for s in plan.shards] == [
        (GD_WEST, False, "no detector"),
        (GD_EAST, True, None),
    ]


def test_each_shard_status_counts_its_desired_and_observed_members() -> None:
    desired = desired_state(
        {GD_EAST: desired_members([account(1), account(2)]), SH_EAST: desired_members([])}
    )
    plan = build_plan(
        desired,
        {
            GD_EAST: observed(GD_EAST, {account(1): "Enabled"}),
            SH_EAST: observed(SH_EAST, {account(3): "ENABLED", account(4): "ENABLED"}),
        },
    )
    assert [(s.key, s.desired, s.observed) for s in plan.shards] == [
        (GD_EAST, 2, 1),
        (SH_EAST, 0, 2),
    ]
    assert plan.administrator_account_id == ADMIN


def test_actions_for_selects_the_actions_of_one_shard() -> None:
    ids = [account(i) for i in range(2)]
    desired = desired_state({GD_EAST: desired_members(ids), SH_EAST: desired_members(ids)})
    plan = build_plan(desired, {GD_EAST: observed(GD_EAST), SH_EAST: observed(SH_EAST)})
    assert [a.key for a in plan.actions_for(SH_EAST)] == [SH_EAST]
    assert [a.key for a in plan.actions_for(GD_EAST)] == [GD_EAST]
    assert plan.actions_for(GD_WEST) == ()


def test_a_quota_refusal_names_every_shard_over_the_quota() -> None:
    west = ShardKey(Service("securityhub"), "eu-west-1")
    present = {account(i): "Enabled" for i in range(999)}
    wanted = desired_members([*present, account(5000), account(5001)])
    desired = desired_state(
        {SH_EAST: wanted, west: wanted}, modes={Service("securityhub"): Mode.INVITATION}
    )
    with pytest.raises(PlanRefused) as refused:
        build_plan(desired, {SH_EAST: observed(SH_EAST, present), west: observed(west, present)})
    assert str(refused.value) == (
        "plan refused, nothing applied: it would exceed the service quota ("
        "securityhub/eu-west-1: 999 members + 2 to create = 1001, over the invitation-mode "
        "quota of 1,000; "
        "securityhub/us-east-1: 999 members + 2 to create = 1001, over the invitation-mode "
        "quota of 1,000)"
    )


def test_a_shard_at_its_quota_with_nothing_to_create_is_not_refused() -> None:
    present = {account(i): "Enabled" for i in range(1001)}
    desired = desired_state(
        {SH_EAST: desired_members(present)}, modes={Service("securityhub"): Mode.INVITATION}
    )
    plan = build_plan(desired, {SH_EAST: observed(SH_EAST, present)})
    assert plan.actions == ()


def test_the_max_deletions_refusal_says_how_many_the_limit_and_the_override() -> None:
    strangers = {account(100 + i): "Enabled" for i in range(3)}
    desired = _with_prune(
        desired_state({GD_EAST: {}}), PruneSettings(enabled=True, max_deletions=2)
    )
    with pytest.raises(PlanRefused) as refused:
        build_plan(desired, {GD_EAST: observed(GD_EAST, strangers)})
    assert str(refused.value) == (
        "plan refused, nothing applied: prune would remove 3 accounts, more than "
        "prune.maxDeletions (2); check the manifest, or pass --allow-mass-prune if this is "
        "intended"
    )


def _keys_and_members(plan: Plan) -> list[tuple[ShardKey, Step, tuple[DesiredMember, ...]]]:
    return [(a.key, a.step, a.members) for a in plan.actions]


def test_every_action_carries_its_shard_and_prune_actions_the_email_aws_has() -> None:
    stopped, stranger = account(1), account(2)
    desired = _with_prune(
        desired_state({GD_EAST: desired_members([stopped])}), PruneSettings(enabled=True)
    )
    plan = build_plan(
        desired,
        {
            GD_EAST: observed(
                GD_EAST,
                {stopped: "Disabled", stranger: "Enabled"},
                emails={stranger: "seen@example.com"},
            )
        },
    )
    assert _keys_and_members(plan) == [
        (GD_EAST, Step.START_MONITORING, (DesiredMember(stopped, email(stopped)),)),
        (GD_EAST, Step.DISASSOCIATE, (DesiredMember(stranger, "seen@example.com"),)),
        (GD_EAST, Step.DELETE, (DesiredMember(stranger, "seen@example.com"),)),
    ]


def test_a_step_the_service_does_not_have_is_a_loud_error_naming_it() -> None:
    # The differ never asks Detective to restart monitoring (it has no such step); should it
    # ever, the planner refuses to plan a call that does not exist rather than plan it.
    from reconciler import plan as planner
    from reconciler.diff import ShardDiff
    from reconciler.model import ServiceSettings, ShardKey, ShardObservation

    key = ShardKey(Service("detective"), "us-east-1")
    wanted = desired_members(["222222222222"])
    with pytest.raises(
        ValueError, match=r"^detective/us-east-1: detective has no start-monitoring step$"
    ):
        list(
            planner._shard_actions(
                key,
                wanted,
                ShardObservation(key, ready=True),
                ShardDiff(key, stopped=("222222222222",)),
                ServiceSettings(Service("detective"), Mode.ORGANIZATION),
            )
        )
