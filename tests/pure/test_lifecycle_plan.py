"""The planner's life-cycle rules as truth tables.

Aspects under test:
- repairs: EmailVerificationFailed with a changed email → delete-for-repair, create, invite (in
  that order); unchanged email → blocking drift, no action; GuardDuty Disabled →
  start-monitoring; Security Hub has no such repair;
- reinvite only with ``reinvite: true``;
- accept: planned per account for invitees and pending invitations, only with accept settings,
  never in organization mode;
- prune: off → reported only; on → disassociate + delete (Security Hub organization mode:
  disassociate only; already-disassociated: delete only or nothing); protected and the
  administrator never touched; auto-enable ALL → blocking prune-blocked drift;
- maxDeletions counts distinct accounts across shards and refuses the whole plan.
"""

from __future__ import annotations

import pytest

from reconciler.errors import PlanRefused
from reconciler.model import (
    AcceptSettings,
    DesiredState,
    Mode,
    PruneSettings,
    Service,
    ServiceSettings,
    ShardKey,
)
from reconciler.plan import Plan, Step, build_plan
from tests.factories import (
    ADMIN,
    GD_EAST,
    SH_EAST,
    account,
    desired_members,
    desired_state,
    observed,
)

GD_WEST = ShardKey(Service("guardduty"), "eu-west-1")


def with_settings(
    desired: DesiredState,
    service: Service,
    *,
    mode: Mode = Mode.INVITATION,
    accept: bool = False,
    reinvite: bool = False,
) -> DesiredState:
    services = dict(desired.services)
    services[service] = ServiceSettings(
        service,
        mode,
        accept=AcceptSettings("OrganizationAccountAccessRole") if accept else None,
        reinvite=reinvite,
    )
    return DesiredState(**{**_fields(desired), "services": services})


def with_prune(desired: DesiredState, prune: PruneSettings) -> DesiredState:
    return DesiredState(**{**_fields(desired), "prune": prune})


def _fields(desired: DesiredState) -> dict[str, object]:
    return {name: getattr(desired, name) for name in DesiredState.__dataclass_fields__}


def steps(plan: Plan) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(str(a.key), a.step.value, a.account_ids) for a in plan.actions]


def test_email_verification_failed_with_a_new_email_is_recreated() -> None:
    member = account(1)
    desired = with_settings(
        desired_state({GD_EAST: desired_members([member])}), Service("guardduty")
    )
    plan = build_plan(
        desired,
        {
            GD_EAST: observed(
                GD_EAST, {member: "EmailVerificationFailed"}, emails={member: "old@example.com"}
            )
        },
    )
    assert steps(plan) == [
        ("guardduty/us-east-1", "delete-for-repair", (member,)),
        ("guardduty/us-east-1", "create", (member,)),
        ("guardduty/us-east-1", "invite", (member,)),
    ]
    assert plan.blocking_drift == ()


def test_email_verification_failed_with_the_same_email_is_blocking() -> None:
    member = account(1)
    desired = with_settings(
        desired_state({GD_EAST: desired_members([member])}), Service("guardduty")
    )
    plan = build_plan(desired, {GD_EAST: observed(GD_EAST, {member: "EmailVerificationFailed"})})
    assert plan.actions == ()
    assert [(d.kind.value, d.blocking) for d in plan.drift] == [("email-verification-failed", True)]


def test_disabled_guardduty_members_are_restarted_in_batches() -> None:
    ids = [account(i) for i in range(60)]
    desired = desired_state({GD_EAST: desired_members(ids)})
    plan = build_plan(desired, {GD_EAST: observed(GD_EAST, dict.fromkeys(ids, "Disabled"))})
    assert [(a.step, len(a.account_ids)) for a in plan.actions] == [
        (Step.START_MONITORING, 50),
        (Step.START_MONITORING, 10),
    ]


@pytest.mark.parametrize("status", ["Resigned", "Removed"])
@pytest.mark.parametrize("reinvite", [False, True])
def test_resigned_and_removed_are_reinvited_only_when_asked(status: str, reinvite: bool) -> None:
    member = account(1)
    desired = with_settings(
        desired_state({SH_EAST: desired_members([member])}),
        Service("securityhub"),
        reinvite=reinvite,
    )
    plan = build_plan(desired, {SH_EAST: observed(SH_EAST, {member: status})})
    if reinvite:
        assert steps(plan) == [("securityhub/us-east-1", "invite", (member,))]
        assert plan.blocking_drift == ()
    else:
        assert plan.actions == ()
        assert len(plan.blocking_drift) == 1


def test_accept_is_planned_for_invitees_and_pending_invitations() -> None:
    new, created, invited, verifying, enabled = (account(i) for i in range(5))
    desired = with_settings(
        desired_state({GD_EAST: desired_members([new, created, invited, verifying, enabled])}),
        Service("guardduty"),
        accept=True,
    )
    plan = build_plan(
        desired,
        {
            GD_EAST: observed(
                GD_EAST,
                {
                    created: "Created",
                    invited: "Invited",
                    verifying: "EmailVerificationInProgress",
                    enabled: "Enabled",
                },
            )
        },
    )
    accepts = [a.account_ids for a in plan.actions if a.step is Step.ACCEPT]
    assert accepts == [(new,), (created,), (invited,), (verifying,)]
    assert [a.step for a in plan.actions][-4:] == [Step.ACCEPT] * 4


def test_no_accept_without_settings_or_in_organization_mode() -> None:
    member = account(1)
    for desired in (
        with_settings(desired_state({GD_EAST: desired_members([member])}), Service("guardduty")),
        with_settings(
            desired_state({GD_EAST: desired_members([member])}),
            Service("guardduty"),
            mode=Mode.ORGANIZATION,
            accept=True,
        ),
    ):
        plan = build_plan(desired, {GD_EAST: observed(GD_EAST)})
        assert Step.ACCEPT not in {a.step for a in plan.actions}


def test_prune_off_reports_unmanaged_members_only() -> None:
    stranger = account(9)
    plan = build_plan(
        desired_state({GD_EAST: {}}), {GD_EAST: observed(GD_EAST, {stranger: "Enabled"})}
    )
    assert plan.actions == ()
    assert [(d.kind.value, d.blocking) for d in plan.drift] == [("unmanaged", False)]


@pytest.mark.parametrize(
    ("key", "mode", "status", "expected"),
    [
        (GD_EAST, Mode.ORGANIZATION, "Enabled", ["disassociate", "delete"]),
        (GD_EAST, Mode.INVITATION, "Invited", ["disassociate", "delete"]),
        (GD_EAST, Mode.ORGANIZATION, "Removed", ["delete"]),
        (SH_EAST, Mode.INVITATION, "Enabled", ["disassociate", "delete"]),
        (SH_EAST, Mode.ORGANIZATION, "Enabled", ["disassociate"]),
        (SH_EAST, Mode.ORGANIZATION, "Removed", []),
        (SH_EAST, Mode.INVITATION, "Resigned", ["delete"]),
    ],
)
def test_prune_removes_what_each_service_allows(
    key: ShardKey, mode: Mode, status: str, expected: list[str]
) -> None:
    stranger = account(9)
    desired = with_prune(
        with_settings(desired_state({key: {}}), key.service, mode=mode),
        PruneSettings(enabled=True),
    )
    plan = build_plan(desired, {key: observed(key, {stranger: status})})
    assert [a.step.value for a in plan.actions] == expected
    assert all(a.account_ids == (stranger,) for a in plan.actions)


def test_prune_never_touches_protected_accounts_or_the_administrator() -> None:
    protected, stranger = account(8), account(9)
    desired = with_prune(
        desired_state({GD_EAST: {}}),
        PruneSettings(enabled=True, protected_accounts=frozenset({protected})),
    )
    plan = build_plan(
        desired,
        {GD_EAST: observed(GD_EAST, {protected: "Enabled", stranger: "Enabled", ADMIN: "Enabled"})},
    )
    touched = {a for action in plan.actions for a in action.account_ids}
    assert touched == {stranger}


def test_prune_under_auto_enable_all_is_blocked() -> None:
    stranger = account(9)
    desired = with_prune(desired_state({GD_EAST: {}}), PruneSettings(enabled=True))
    observation = observed(GD_EAST, {stranger: "Enabled"})
    observation = type(observation)(
        observation.key, observation.ready, observation.reason, observation.members, "ALL"
    )
    plan = build_plan(desired, {GD_EAST: observation})
    assert plan.actions == ()
    assert [(d.kind.value, d.blocking) for d in plan.drift] == [("prune-blocked", True)]


def test_max_deletions_counts_distinct_accounts_across_shards() -> None:
    strangers = {account(100 + i): "Enabled" for i in range(3)}
    base = desired_state({GD_EAST: {}, GD_WEST: {}})
    observations = {GD_EAST: observed(GD_EAST, strangers), GD_WEST: observed(GD_WEST, strangers)}
    allowed = build_plan(
        with_prune(base, PruneSettings(enabled=True, max_deletions=3)), observations
    )
    assert len(allowed.accounts_removed()) == 3
    with pytest.raises(PlanRefused, match="maxDeletions"):
        build_plan(with_prune(base, PruneSettings(enabled=True, max_deletions=2)), observations)
    forced = build_plan(
        with_prune(base, PruneSettings(enabled=True, max_deletions=2)),
        observations,
        allow_mass_prune=True,
    )
    assert forced.accounts_removed() == frozenset(strangers)
