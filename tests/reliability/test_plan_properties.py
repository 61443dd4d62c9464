"""Properties of the pure planner (issue 7, item 3): for any desired state and any observed state.

``build_plan`` is fed :class:`DesiredState` and :class:`ShardObservation` values built directly
(services in either mode, accept and reinvite on or off, prune with protected accounts and any
``maxDeletions``, shards blocked or ready, up to 130 accounts a shard so batches split, every
member status AWS has, emails equal, different or absent, GuardDuty auto-enable). Then:

- every action carries 1 to 50 accounts (accepts exactly one), no account twice in an action,
  no account twice in a step of a shard, nothing for a blocked shard, never an invitation to an
  account that is already invited or associated (that would send the email again);
- applying the plan to a small pure model of AWS (below) and planning again gives a plan with
  no action: what the first plan leaves undone is drift it reports and cannot fix (blocking, or
  reported only), and that drift is the same before and after;
- a plan refused as a whole (prune past ``maxDeletions``) is refused only for that reason;
- an account whose member side cannot accept (``ShardObservation.cannot_accept``) is never
  deleted for repair, created, invited or accepted, and an organization account that is not
  ACTIVE (``DesiredState.skipped``) is never removed (issue 13, points 12 and 15).

The model of AWS, per shard: CreateMembers makes a missing account ``Enabled`` in organization
mode and ``Created`` (with the manifest's email) in invitation mode (``Invited`` for Detective,
whose CreateMembers invites; its statuses are its own raw words, parsed by its spec as the
adapter parses them, and its members always have an email, as its model requires), and leaves an existing
member alone; InviteMembers makes ``Created``/``Removed``/``Resigned``/
``EmailVerificationFailed`` members ``Invited`` (the email is right: AWS's verification is the
one thing the planner cannot know); StartMonitoringMembers makes ``Disabled`` ``Enabled``;
accepting makes ``Invited``/``EmailVerificationInProgress`` ``Enabled``; DisassociateMembers
makes a member ``Removed``; DeleteMembers removes it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.diff import PENDING_ACCEPTANCE, DriftItem
from reconciler.errors import PlanRefused
from reconciler.model import (
    AcceptSettings,
    DesiredMember,
    DesiredState,
    MemberStatus,
    Mode,
    ObservedMember,
    PruneSettings,
    Service,
    ServiceSettings,
    ShardKey,
    ShardObservation,
)
from reconciler.plan import BATCH_SIZE, Plan, Step, build_plan
from reconciler.services import registry
from tests.factories import ADMIN, account, email
from tests.reliability.conftest import report

EXAMPLES = 300
HEAVY_EXAMPLES = 5000
_EXAMPLES = [0]
_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
REGIONS = ("us-east-1", "eu-west-1")
POOL = [account(i) for i in range(130)]
STATUSES = [
    *(s.value for s in MemberStatus if s is not MemberStatus.UNKNOWN),
    "Associated",
    "Weird",
]
# Each simulated service's member life cycle, as data: the raw statuses it reports (parsed by
# its own spec, as the adapter does), what CreateMembers makes of a missing account in
# invitation mode (GuardDuty and Security Hub create, then InviteMembers invites; Detective's
# CreateMembers invites), and whether every member needs an email.
SIMULATION = {
    Service("guardduty"): (STATUSES, MemberStatus.CREATED, False),
    Service("securityhub"): (STATUSES, MemberStatus.CREATED, False),
    Service("detective"): (
        [
            "INVITED",
            "VERIFICATION_IN_PROGRESS",
            "VERIFICATION_FAILED",
            "ENABLED",
            "ACCEPTED_BUT_DISABLED",
            "Weird",
        ],
        MemberStatus.INVITED,
        True,
    ),
}
SIMULATED = list(SIMULATION)
# Restarting monitoring and accepting make a member Enabled, from these statuses.
ENABLED_BY = {
    Step.START_MONITORING: {MemberStatus.DISABLED},
    Step.ACCEPT: {MemberStatus.INVITED, MemberStatus.EMAIL_VERIFICATION_IN_PROGRESS},
}
# The steps that lead to an invitation (or act on one).
INVITING = {Step.DELETE_FOR_REPAIR, Step.CREATE, Step.INVITE, Step.ACCEPT}
INVITED_OR_MEMBER = {
    MemberStatus.INVITED,
    MemberStatus.EMAIL_VERIFICATION_IN_PROGRESS,
    MemberStatus.ENABLED,
    MemberStatus.DISABLED,
}


@st.composite
def worlds(draw: st.DrawFn) -> tuple[DesiredState, dict[ShardKey, ShardObservation]]:
    services = draw(st.lists(st.sampled_from(SIMULATED), min_size=1, max_size=3, unique=True))
    regions = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=2, unique=True))
    settings_by_service: dict[Service, ServiceSettings] = {}
    for service in services:
        mode = draw(st.sampled_from(list(Mode)))
        invitation = mode is Mode.INVITATION
        accept = invitation and draw(st.booleans())
        settings_by_service[service] = ServiceSettings(
            service,
            mode,
            accept=AcceptSettings("OrganizationAccountAccessRole") if accept else None,
            reinvite=invitation and draw(st.booleans()),
        )
    # Accounts in play: big enough for batches to split, small enough to stay quick.
    size = draw(st.sampled_from([3, 8, 60, 130]))
    pool = POOL[:size]
    protected = frozenset(draw(st.lists(st.sampled_from(pool), max_size=3)))
    prune = PruneSettings(
        enabled=draw(st.booleans()),
        max_deletions=draw(st.integers(0, 150)),
        protected_accounts=protected,
    )
    shards: dict[ShardKey, dict[str, DesiredMember]] = {}
    observations: dict[ShardKey, ShardObservation] = {}

    def desired_accept(service: Service) -> bool:
        return settings_by_service[service].accept is not None

    # Sizes are drawn, the accounts themselves picked by a seeded random: hypothesis alone
    # rarely builds sets big enough to split into batches.
    rng = draw(st.randoms(use_true_random=False))
    for service in services:
        for region in regions:
            key = ShardKey(service, region)
            statuses, _, needs_email = SIMULATION[service]
            spec = registry.spec_of(service)
            wanted = rng.sample(pool, draw(st.integers(0, size)))
            shards[key] = {
                a: DesiredMember(a, email(a) if needs_email else rng.choice([email(a), None]))
                for a in wanted
            }
            present = rng.sample([*pool, ADMIN], draw(st.integers(0, size)))
            members = {}
            for a in present:
                raw = (
                    draw(st.sampled_from(statuses)) if rng.random() < 0.3 else rng.choice(statuses)
                )
                shown = rng.choice([email(a), f"other+{a}@example.com", None])
                members[a] = ObservedMember(a, shown, spec.parse_status(raw), raw)
            ready = draw(st.booleans()) or size > 3
            held = rng.sample(pool, rng.choice([0, 0, 1, 3])) if desired_accept(service) else []
            observations[key] = ShardObservation(
                key,
                ready=ready,
                reason=None if ready else "blocked",
                members=members if ready else {},
                auto_enable=draw(st.sampled_from([None, "ALL", "NEW", "NONE"])),
                cannot_accept={a: "cannot accept" for a in held} if ready else {},
            )
    listed = {a for members in shards.values() for a in members}
    unlisted = [a for a in pool if a not in listed]
    skipped = {a: "SUSPENDED" for a in rng.sample(unlisted, min(len(unlisted), rng.choice([0, 2])))}
    desired = DesiredState(
        source="property.yaml",
        administrator_account_id=ADMIN,
        administrator_role_arn=None,
        partition="aws",
        regions=tuple(regions),
        services=settings_by_service,
        shards=shards,
        prune=prune,
        skipped=skipped,
    )
    return desired, observations


def apply(
    plan: Plan,
    desired: DesiredState,
    observations: Mapping[ShardKey, ShardObservation],
) -> dict[ShardKey, ShardObservation]:
    """The model of AWS: each action of the plan, in order, on a copy of the observations."""
    after = {key: dict(observation.members) for key, observation in observations.items()}

    def put(key: ShardKey, account_id: str, status: MemberStatus, mail: str | None) -> None:
        after[key][account_id] = ObservedMember(account_id, mail, status, status.value)

    for action in plan.actions:
        members = after[action.key]
        mode = desired.settings_for(action.key).mode
        for member in action.members:
            found = members.get(member.account_id)
            status = found.status if found else None
            step = action.step
            if step in (Step.DELETE_FOR_REPAIR, Step.DELETE):
                members.pop(member.account_id, None)
            elif step is Step.CREATE and found is None:
                if mode is Mode.ORGANIZATION:
                    put(action.key, member.account_id, MemberStatus.ENABLED, member.email)
                else:
                    created = SIMULATION[action.key.service][1]
                    put(action.key, member.account_id, created, member.email)
            elif (
                step is Step.INVITE
                and found is not None
                and status
                in (
                    MemberStatus.CREATED,
                    MemberStatus.REMOVED,
                    MemberStatus.RESIGNED,
                    MemberStatus.EMAIL_VERIFICATION_FAILED,
                )
            ):
                put(action.key, member.account_id, MemberStatus.INVITED, found.email)
            elif found is not None and status in ENABLED_BY.get(step, ()):
                put(action.key, member.account_id, MemberStatus.ENABLED, found.email)
            elif step is Step.DISASSOCIATE and found is not None:
                put(action.key, member.account_id, MemberStatus.REMOVED, found.email)
    return {
        key: replace(observation, members=after[key]) for key, observation in observations.items()
    }


def shape_problems(plan: Plan, observations: Mapping[ShardKey, ShardObservation]) -> list[str]:
    problems = []
    per_step: Counter[tuple[ShardKey, Step, str]] = Counter()
    for action in plan.actions:
        ids = action.account_ids
        limit = 1 if action.step is Step.ACCEPT else BATCH_SIZE
        if not 1 <= len(ids) <= limit:
            problems.append(f"{action.key} {action.step}: {len(ids)} accounts")
        if len(set(ids)) != len(ids):
            problems.append(f"{action.key} {action.step}: an account twice in one action")
        per_step.update((action.key, action.step, a) for a in ids)
        if not observations[action.key].ready:
            problems.append(f"{action.key} is blocked but has {action.step}")
        if action.step is Step.INVITE:
            seen = observations[action.key].members
            again = [a for a in ids if a in seen and seen[a].status in INVITED_OR_MEMBER]
            if again:
                problems.append(f"{action.key}: invites {again}, already invited or members")
    problems += [f"{k} {s}: {a} in two actions" for (k, s, a), n in per_step.items() if n > 1]
    for action in plan.actions:
        observation = observations[action.key]
        held = [a for a in action.account_ids if a in observation.cannot_accept]
        if action.step is Step.ACCEPT:
            # Already invited (by an earlier run, or by hand): accepting it is no new email.
            held = [
                a
                for a in held
                if a not in observation.members
                or observation.members[a].status not in PENDING_ACCEPTANCE
            ]
        if action.step in INVITING and held:
            problems.append(f"{action.key} {action.step}: {held} cannot accept")
    return problems


def unfixed(drift: tuple[DriftItem, ...]) -> set[tuple[ShardKey, str, str, bool]]:
    return {(item.key, item.account_id, item.kind.value, item.blocking) for item in drift}


def check_plan(
    world: tuple[DesiredState, dict[ShardKey, ShardObservation]], allow_mass_prune: bool
) -> None:
    desired, observations = world
    _EXAMPLES[0] += 1
    refused: str | None = None
    try:
        plan = build_plan(desired, observations, allow_mass_prune=allow_mass_prune)
    except PlanRefused as exc:
        refused = str(exc)
    if refused is not None:
        # Only the prune rail can refuse here (130 accounts never reach a quota).
        assert not allow_mass_prune
        assert "prune.maxDeletions" in refused
        plan = build_plan(desired, observations, allow_mass_prune=True)
        assert len(plan.accounts_removed()) > desired.prune.max_deletions
    assert shape_problems(plan, observations) == []
    removed = plan.accounts_removed()
    assert not removed & desired.skipped.keys(), "a skipped organization account was removed"

    after = apply(plan, desired, observations)
    again = build_plan(desired, after, allow_mass_prune=True)
    assert again.actions == (), [(a.key, a.step, a.account_ids) for a in again.actions]
    # What is left is what the first plan reported and could not fix, unchanged.
    fixable_kinds = {"missing", "created-not-invited", "awaiting-acceptance", "disabled"}
    before = {
        item
        for item in unfixed(plan.drift)
        if item[2] not in fixable_kinds and not _fixed_by(plan, item)
    }
    assert {item for item in unfixed(again.drift) if not item[3]} <= unfixed(plan.drift)
    assert {item for item in unfixed(again.drift) if item[3]} == {i for i in before if i[3]}


def _fixed_by(plan: Plan, item: tuple[ShardKey, str, str, bool]) -> bool:
    key, account_id, _, _ = item
    return any(action.key == key and account_id in action.account_ids for action in plan.actions)


@pytest.fixture(scope="module", autouse=True)
def _report_examples() -> Iterator[None]:
    yield
    report(
        "plan", f"{_EXAMPLES[0]} generated (desired, observed) pairs planned, applied, re-planned"
    )


@settings(max_examples=EXAMPLES, **_SETTINGS)  # type: ignore[arg-type]
@given(worlds(), st.booleans())
def test_any_plan_is_well_formed_and_applying_it_converges(
    world: tuple[DesiredState, dict[ShardKey, ShardObservation]], allow_mass_prune: bool
) -> None:
    check_plan(world, allow_mass_prune)


@pytest.mark.heavy
@pytest.mark.timeout(0)
@settings(max_examples=HEAVY_EXAMPLES, **_SETTINGS)  # type: ignore[arg-type]
@given(worlds(), st.booleans())
def test_any_plan_is_well_formed_and_applying_it_converges_heavy(
    world: tuple[DesiredState, dict[ShardKey, ShardObservation]], allow_mass_prune: bool
) -> None:
    check_plan(world, allow_mass_prune)
