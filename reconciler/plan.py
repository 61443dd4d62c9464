"""Turn the differences into a plan: frozen, deterministic data (pure).

Receives the desired state and every shard's observation; diffs each ready shard
(``diff.diff_shard``) and hands the applier a :class:`Plan`: the batched actions per shard in
the order they must run, the drift to report, and each shard's status. The plan is also exactly
what ``--dry-run`` prints, so what a reviewer approves is what an apply does.

Rules, per shard, in the order the steps run:

1. ``delete-for-repair`` (DeleteMembers): members stuck in EmailVerificationFailed whose
   manifest email changed, so they can be created again with the new one;
2. ``create`` (CreateMembers): missing accounts, and the ones just deleted for repair;
3. ``invite`` (InviteMembers, invitation mode): every account that will be ``Created`` (missing,
   repaired, created earlier but never invited) and, with ``reinvite: true``, resigned or
   removed members; never an Invited, Enabled or EmailVerificationInProgress member (that would
   send the email again);
4. ``start-monitoring`` (StartMonitoringMembers, where the service has it): Disabled members;
5. ``accept`` (AcceptAdministratorInvitation, in the member account, opt-in): every member that
   is, or is about to be, invited; one account per action;
6. ``disassociate`` then ``delete`` (prune, opt-in): members AWS has and the manifest does not.

What each step calls, how it reads and what it must leave behind is declared once, in
``reconciler.steps``; what differs between services (a step the service lacks, its batch size,
its quotas, whether it deletes organization members) in the service's spec. This module
decides only which accounts each step gets.

Batch steps carry at most the service's batch size (50 for every service so far). Nothing is planned
for a blocked shard. The whole plan is refused, before any mutating call, when it would push a shard
past the service's member quota or prune more accounts than ``prune.maxDeletions`` allows.

Order is deterministic (shard, then step, then sorted account IDs), so two runs over the same
inputs print byte-identical plans, as Terraform sorts its plans for stable results.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from reconciler.diff import DriftItem, ShardDiff, can_delete, diff_shard
from reconciler.errors import PlanRefused
from reconciler.model import (
    DesiredMember,
    DesiredState,
    Mode,
    ObservedMember,
    Service,
    ServiceSettings,
    ShardKey,
    ShardObservation,
)
from reconciler.services import registry
from reconciler.steps import STEPS, has_step, operation_of
from reconciler.steps import Step as Step  # re-exported: the plan's vocabulary

#: The largest batch any service takes (each shard is batched by its service's own size).
BATCH_SIZE = max(spec.batch_size for spec in registry.SPECS)
T = TypeVar("T")

# Member quotas per administrator per region (facts sheet, section 7), from the specs.
QUOTAS: Mapping[tuple[Service, Mode], int] = {
    (spec.name, mode): quota for spec in registry.SPECS for mode, quota in spec.quotas.items()
}


@dataclass(frozen=True, slots=True)
class Action:
    """One API call of the plan: a step on at most 50 accounts of one shard."""

    key: ShardKey
    step: Step
    members: tuple[DesiredMember, ...]

    @property
    def operation(self) -> str:
        return operation_of(self.step, self.key.service)

    @property
    def account_ids(self) -> tuple[str, ...]:
        return tuple(member.account_id for member in self.members)

    def sort_key(self) -> tuple[ShardKey, int, tuple[str, ...]]:
        return (self.key, self.step.order, self.account_ids)


@dataclass(frozen=True, slots=True)
class ShardStatus:
    """How a shard stands: ready or blocked (and why), with its member counts."""

    key: ShardKey
    ready: bool
    reason: str | None
    desired: int
    observed: int


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything the applier will do and the reporter will show, in a fixed order."""

    administrator_account_id: str
    shards: tuple[ShardStatus, ...]
    actions: tuple[Action, ...]
    drift: tuple[DriftItem, ...]

    @property
    def is_empty(self) -> bool:
        return not self.actions

    @property
    def blocked(self) -> tuple[ShardStatus, ...]:
        return tuple(shard for shard in self.shards if not shard.ready)

    @property
    def blocking_drift(self) -> tuple[DriftItem, ...]:
        return tuple(item for item in self.drift if item.blocking)

    def actions_for(self, key: ShardKey) -> tuple[Action, ...]:
        return tuple(action for action in self.actions if action.key == key)

    def accounts_removed(self) -> frozenset[str]:
        return frozenset(
            account
            for action in self.actions
            if action.step.removes
            for account in action.account_ids
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    """A safety rail the plan breaks: which, why, and the flag that lifts it (None: none can)."""

    rail: str  # "quota" or "max-deletions"
    reason: str
    override: str | None


class RefusedPlan(PlanRefused):
    """The plan was refused as a whole; it travels with the refusal so it can still be shown
    (a dry run's pull-request comment must list the accounts a mass prune would remove)."""

    def __init__(self, plan: Plan, refusals: Sequence[Refusal]) -> None:
        self.plan = plan
        self.refusals = tuple(refusals)
        super().__init__(refusal_message(self.refusals))


def refusal_message(refusals: Sequence[Refusal]) -> str:
    """The one-line error of a refused plan (stderr)."""
    return "plan refused, nothing applied: " + "; ".join(r.reason for r in refusals)


def build_plan(
    desired: DesiredState,
    observations: Mapping[ShardKey, ShardObservation],
    *,
    allow_mass_prune: bool = False,
) -> Plan:
    """The plan that makes AWS match ``desired``; raises RefusedPlan past a safety rail."""
    shards: list[ShardStatus] = []
    actions: list[Action] = []
    drift: list[DriftItem] = []
    refusals: list[str] = []

    for key in sorted(desired.shards):
        wanted = desired.shards[key]
        observation = observations.get(key) or ShardObservation(
            key, ready=False, reason="not observed"
        )
        shards.append(
            ShardStatus(
                key,
                observation.ready,
                observation.reason,
                desired=len(wanted),
                observed=len(observation.members),
            )
        )
        if not observation.ready:
            continue
        settings = desired.settings_for(key)
        difference = diff_shard(
            wanted,
            observation,
            settings,
            administrator_account_id=desired.administrator_account_id,
            prune=desired.prune,
            skipped=desired.skipped,
        )
        drift.extend(difference.items)
        actions.extend(_shard_actions(key, wanted, observation, difference, settings))

        quota = QUOTAS[(key.service, settings.mode)]
        creating = len(difference.missing)
        total = len(observation.members) + creating
        if creating and total > quota:
            refusals.append(
                f"{key}: {len(observation.members)} members + {creating} to create = "
                f"{total}, over the {settings.mode.value}-mode quota of {quota:,}"
            )

    plan = Plan(
        administrator_account_id=desired.administrator_account_id,
        shards=tuple(shards),
        actions=tuple(sorted(actions, key=Action.sort_key)),
        drift=tuple(sorted(drift, key=lambda item: (item.key, item.account_id, item.kind))),
    )
    # Every rail is checked on the whole plan, so a refusal names all it breaks.
    broken: list[Refusal] = []
    if refusals:
        reason = "it would exceed the service quota (" + "; ".join(refusals) + ")"
        broken.append(Refusal("quota", reason, None))
    removed = plan.accounts_removed()
    if len(removed) > desired.prune.max_deletions and not allow_mass_prune:
        reason = (
            f"prune would remove {len(removed)} accounts, more than prune.maxDeletions "
            f"({desired.prune.max_deletions}); check the manifest, or pass --allow-mass-prune "
            "if this is intended"
        )
        broken.append(Refusal("max-deletions", reason, "--allow-mass-prune"))
    if broken:
        raise RefusedPlan(plan, broken)
    return plan


def _shard_actions(
    key: ShardKey,
    wanted: Mapping[str, DesiredMember],
    observation: ShardObservation,
    difference: ShardDiff,
    settings: ServiceSettings,
) -> Iterator[Action]:
    observed = observation.members
    mode = settings.mode

    def desired_of(accounts: Iterable[str]) -> list[DesiredMember]:
        return [wanted[account] for account in accounts]

    def observed_of(accounts: Iterable[str]) -> list[DesiredMember]:
        return [_as_desired(observed[account]) for account in accounts]

    size = registry.spec_of(key.service).batch_size

    def batched_step(step: Step, members: Sequence[DesiredMember]) -> Iterator[Action]:
        if members and not has_step(step, key.service):
            raise ValueError(f"{key}: {key.service} has no {step.value} step")
        return _batched(key, step, members, size)

    yield from batched_step(Step.DELETE_FOR_REPAIR, desired_of(difference.recreate))
    yield from batched_step(Step.CREATE, desired_of([*difference.missing, *difference.recreate]))
    invitees: list[str] = []
    if mode in STEPS[Step.INVITE].modes:
        invitees = [
            *difference.missing,
            *difference.recreate,
            *difference.not_invited,
            *difference.reinvite,
        ]
        # A service whose CreateMembers also invites has no invite step: the accounts it
        # creates are invited by that call, and the others are created again.
        if has_step(Step.INVITE, key.service):
            yield from batched_step(Step.INVITE, desired_of(invitees))
    yield from batched_step(Step.START_MONITORING, desired_of(difference.stopped))
    if mode in STEPS[Step.ACCEPT].modes and settings.accept is not None:
        for account in sorted({*invitees, *difference.awaiting_acceptance}):
            yield Action(key, Step.ACCEPT, (wanted[account],))
    if has_step(Step.DISASSOCIATE, key.service):
        yield from batched_step(Step.DISASSOCIATE, observed_of(difference.prune))
    if can_delete(key.service, mode):
        to_delete = [*difference.prune, *difference.prune_delete_only]
        yield from batched_step(Step.DELETE, observed_of(to_delete))


def _as_desired(member: ObservedMember) -> DesiredMember:
    return DesiredMember(member.account_id, member.email)


def _batched(
    key: ShardKey, step: Step, members: Sequence[DesiredMember], size: int
) -> Iterator[Action]:
    ordered = sorted(members, key=lambda member: member.account_id)
    for batch in batched(ordered, size):
        yield Action(key, step, tuple(batch))


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items (the last may be shorter)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
