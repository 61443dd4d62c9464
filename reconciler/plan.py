"""Turn the differences into a plan: frozen, deterministic data (pure).

Receives the desired state and every shard's observation; diffs each ready shard
(``diff.diff_shard``) and hands the applier a :class:`Plan`: the batched actions per shard in the
order they must run, the drift to report, and each shard's status. The plan is also exactly
what ``--dry-run`` prints, so what a reviewer approves is what an apply does.

Rules:
- CreateMembers for missing accounts, in batches of at most 50 (both services' limit);
- in invitation mode, InviteMembers for every account that will be in ``Created`` (the missing
  ones and those created earlier but never invited), in batches of at most 50; never for
  Invited, Enabled or EmailVerificationInProgress members (that would re-send the email);
- nothing at all for a blocked shard;
- a plan that would push a shard past the service's member quota is refused as a whole,
  before any mutating call.

Order is deterministic (shard, then operation, then sorted account IDs), so two runs over the
same inputs print byte-identical plans, as Terraform sorts its plans for stable results.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from reconciler.diff import DriftItem, diff_shard
from reconciler.errors import PlanRefused
from reconciler.model import DesiredMember, DesiredState, Mode, Service, ShardKey, ShardObservation

BATCH_SIZE = 50
T = TypeVar("T")

# Member quotas per administrator per region (facts sheet, section 7).
QUOTAS: Mapping[tuple[Service, Mode], int] = {
    (Service.SECURITYHUB, Mode.INVITATION): 1_000,
    (Service.SECURITYHUB, Mode.ORGANIZATION): 10_000,
    (Service.GUARDDUTY, Mode.INVITATION): 50_000,
    (Service.GUARDDUTY, Mode.ORGANIZATION): 50_000,
}


class Operation(StrEnum):
    """The AWS operation an action performs; the value is the API name."""

    CREATE_MEMBERS = "CreateMembers"
    INVITE_MEMBERS = "InviteMembers"

    @property
    def order(self) -> int:
        return _OPERATION_ORDER[self]

    @property
    def symbol(self) -> str:
        return _OPERATION_SYMBOL[self]

    @property
    def verb(self) -> str:
        return _OPERATION_VERB[self]


_OPERATION_ORDER = {Operation.CREATE_MEMBERS: 0, Operation.INVITE_MEMBERS: 1}
_OPERATION_SYMBOL = {Operation.CREATE_MEMBERS: "+", Operation.INVITE_MEMBERS: "~"}
_OPERATION_VERB = {Operation.CREATE_MEMBERS: "create", Operation.INVITE_MEMBERS: "invite"}


@dataclass(frozen=True, slots=True)
class Action:
    """One API call of the plan: an operation on at most 50 accounts of one shard."""

    key: ShardKey
    operation: Operation
    members: tuple[DesiredMember, ...]

    @property
    def account_ids(self) -> tuple[str, ...]:
        return tuple(member.account_id for member in self.members)

    def sort_key(self) -> tuple[ShardKey, int, tuple[str, ...]]:
        return (self.key, self.operation.order, self.account_ids)


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


def build_plan(desired: DesiredState, observations: Mapping[ShardKey, ShardObservation]) -> Plan:
    """The plan that makes AWS match ``desired``; raises PlanRefused past a quota."""
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
        )
        drift.extend(difference.items)

        to_create = [wanted[account] for account in difference.missing]
        actions.extend(_batched_actions(key, Operation.CREATE_MEMBERS, to_create))
        if settings.mode is Mode.INVITATION:
            to_invite = sorted(
                [*difference.missing, *difference.not_invited],
            )
            actions.extend(
                _batched_actions(
                    key, Operation.INVITE_MEMBERS, [wanted[account] for account in to_invite]
                )
            )

        quota = QUOTAS[(key.service, settings.mode)]
        total = len(observation.members) + len(to_create)
        if total > quota:
            refusals.append(
                f"{key}: {len(observation.members)} members + {len(to_create)} to create = "
                f"{total}, over the {settings.mode.value}-mode quota of {quota:,}"
            )

    if refusals:
        raise PlanRefused(
            "plan refused, nothing applied: it would exceed the service quota ("
            + "; ".join(refusals)
            + ")"
        )

    actions.sort(key=Action.sort_key)
    return Plan(
        administrator_account_id=desired.administrator_account_id,
        shards=tuple(shards),
        actions=tuple(actions),
        drift=tuple(sorted(drift, key=lambda item: (item.key, item.account_id, item.kind.value))),
    )


def _batched_actions(
    key: ShardKey, operation: Operation, members: Sequence[DesiredMember]
) -> Iterator[Action]:
    ordered = sorted(members, key=lambda member: member.account_id)
    for batch in batched(ordered, BATCH_SIZE):
        yield Action(key, operation, tuple(batch))


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items (the last may be shorter)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
