"""Every plan step, declared once: what it calls, how it reads, and what counts as done (pure).

A step is one kind of action of the plan (create, invite, ...). Four parts of the pipeline need
to know things about each step: the planner (its order, which modes have it), the applier (the
port method it calls, which of AWS's refusals mean "already done", which have a known fix), the
verifier (the status an account must have once the step succeeded) and the reporter (its
symbol, its past tense, the count it adds to the summary). They all read the one
:class:`StepSpec` per step declared here, in the spirit of Cloud Custodian's ``TypeInfo``, so a
step cannot be known to one consumer and forgotten by another; ``tests/pure/test_steps.py``
holds that every step has exactly one row and that the consumers keep no per-step table.

What differs between services does not belong here: a service's spec
(``ServiceSpec.steps``) may name its own operation for a step, say it has no such step, or add
its own words for "already done"; :func:`operation_of`, :func:`has_step` and
:func:`already_done` ask it first, with this table as the default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from reconciler.diff import ACCEPTED_STATUSES
from reconciler.model import (
    DesiredMember,
    MemberStatus,
    Mode,
    Service,
    ServiceSettings,
    UnprocessedAccount,
)
from reconciler.ports import MemberPort
from reconciler.services.registry import spec_of


class Step(StrEnum):
    """One kind of action; the declaration order is the execution order within a shard."""

    DELETE_FOR_REPAIR = "delete-for-repair"
    CREATE = "create"
    INVITE = "invite"
    START_MONITORING = "start-monitoring"
    ACCEPT = "accept"
    DISASSOCIATE = "disassociate"
    DELETE = "delete"

    @property
    def spec(self) -> StepSpec:
        """The step's declaration."""
        return STEPS[self]

    @property
    def operation(self) -> str:
        """The AWS API operation the step calls (the default; see :func:`operation_of`)."""
        return STEPS[self].operation

    @property
    def order(self) -> int:
        return _ORDER[self]

    @property
    def symbol(self) -> str:
        return STEPS[self].symbol

    @property
    def member_side(self) -> bool:
        """Whether the step runs in the member account (assumed role) instead of the admin's."""
        return STEPS[self].member_side

    @property
    def removes(self) -> bool:
        return STEPS[self].removes


# How the applier calls the administrator's port for a batch step: the accounts of one action
# and the service's settings in, AWS's unprocessed entries out.
PortCall = Callable[
    [MemberPort, Sequence[DesiredMember], ServiceSettings], list[UnprocessedAccount]
]


@dataclass(frozen=True, slots=True)
class After:
    """What verification must read of an account once the step succeeded on it."""

    # The statuses that pass; None: the account must no longer be a member.
    statuses: frozenset[MemberStatus] | None
    # Whether an account that is no longer a member passes too.
    absent_ok: bool = False
    # Whether the statuses are those the shard's mode accepts of a member (diff's own rule).
    joined: bool = False

    def statuses_in(self, mode: Mode) -> frozenset[MemberStatus] | None:
        return ACCEPTED_STATUSES[mode] if self.joined else self.statuses


# Nothing succeeded on the account: it passes nowhere (it is failed before it is verified).
NOTHING_DONE = After(statuses=None, absent_ok=False)


@dataclass(frozen=True, slots=True)
class KnownRefusal:
    """A refusal of AWS's whose fix we know: any of ``fragments`` (lower case) in its text."""

    fragments: tuple[str, ...]
    fix: str

    def matches(self, reason: str) -> bool:
        text = reason.casefold()
        return any(fragment in text for fragment in self.fragments)


@dataclass(frozen=True, slots=True)
class Count:
    """The step's count in the run summary (JSON ``summary``) and the "Plan:" sentence."""

    key: str  # the summary's key, e.g. "to_create"
    words: str  # in the sentence, after the number: "to create"
    rank: int  # position among the counts: the summary's key order is part of its contract
    always: bool = False  # in the sentence even when zero


@dataclass(frozen=True, slots=True)
class StepSpec:
    """Everything the pipeline knows about one step."""

    step: Step
    operation: str  # the AWS API operation (the default for every service)
    symbol: str  # the plan's marker: + create, ~ change, - remove, ± replace
    past: str  # the step, done: "created" (an account's result; "already created")
    after: After
    modes: frozenset[Mode]  # the modes whose plans have the step
    call: PortCall | None = None  # None: a member-side step, run through the AcceptPort
    member_side: bool = False  # runs in the member account, one account per action
    removes: bool = False  # takes the account out of the administrator's membership
    # Lower-case fragments of AWS's free-text results that mean "this was already done". The
    # strings are undocumented and may change: anything we do not recognise is a failure.
    already_done: tuple[str, ...] = ()
    known_refusals: tuple[KnownRefusal, ...] = ()
    # A 409 conflict answers the whole call: GetMembers tells which accounts are already
    # members, and only the others are sent again, once.
    confirms_conflict: bool = False
    count: Count | None = None


def _ids(members: Sequence[DesiredMember]) -> list[str]:
    return [member.account_id for member in members]


def _delete(
    port: MemberPort, members: Sequence[DesiredMember], _: ServiceSettings
) -> list[UnprocessedAccount]:
    return port.delete_members(_ids(members))


def _create(
    port: MemberPort, members: Sequence[DesiredMember], _: ServiceSettings
) -> list[UnprocessedAccount]:
    return port.create_members(members)


def _invite(
    port: MemberPort, members: Sequence[DesiredMember], settings: ServiceSettings
) -> list[UnprocessedAccount]:
    return port.invite_members(_ids(members), settings.invitation)


def _start_monitoring(
    port: MemberPort, members: Sequence[DesiredMember], _: ServiceSettings
) -> list[UnprocessedAccount]:
    return port.start_monitoring_members(_ids(members))


def _disassociate(
    port: MemberPort, members: Sequence[DesiredMember], _: ServiceSettings
) -> list[UnprocessedAccount]:
    return port.disassociate_members(_ids(members))


_ALREADY_MEMBER = ("already a member", "already an associated member", "already associated")
_NOT_A_MEMBER = ("not an associated member", "not a member", "does not exist", "not found")
_BOTH_MODES = frozenset(Mode)
_INVITATION_ONLY = frozenset({Mode.INVITATION})
_ENABLED = frozenset({MemberStatus.ENABLED})

# AWS's refusal of the organization's management account as a member while the service is
# off there ("your organization master must first enable <service>", "...management account
# must first enable <service>"): usually the management account was selected by
# ``membersFrom`` without being meant, so the fix names ``exclude`` as well.
MANAGEMENT_ACCOUNT_FIX = (
    "this is the organization's management account: enable the service in it first, or leave "
    "it out (membersFrom.organization.exclude, or remove it from members)"
)
MANAGEMENT_ACCOUNT_FIRST = KnownRefusal(
    ("organization master must first enable", "management account must first enable"),
    MANAGEMENT_ACCOUNT_FIX,
)


def _declare(*specs: StepSpec) -> Mapping[Step, StepSpec]:
    """The table, refusing (at import) a step declared twice or not at all."""
    table: dict[Step, StepSpec] = {}
    for spec in specs:
        if spec.step in table:
            raise ValueError(f"step {spec.step.value} is declared twice")
        table[spec.step] = spec
    missing = [step.value for step in Step if step not in table]
    if missing:
        raise ValueError(f"steps without a declaration: {', '.join(missing)}")
    return table


STEPS: Mapping[Step, StepSpec] = _declare(
    StepSpec(
        Step.DELETE_FOR_REPAIR,
        operation="DeleteMembers",
        symbol="±",
        past="deleted (to re-create)",
        after=After(statuses=None, absent_ok=True),
        modes=_BOTH_MODES,
        call=_delete,
        already_done=_NOT_A_MEMBER,
        count=Count("to_repair", "to re-create", rank=2),
    ),
    StepSpec(
        Step.CREATE,
        operation="CreateMembers",
        symbol="+",
        past="created",
        after=After(statuses=None, joined=True),
        modes=_BOTH_MODES,
        call=_create,
        already_done=(*_ALREADY_MEMBER, "already exists"),
        known_refusals=(MANAGEMENT_ACCOUNT_FIRST,),
        confirms_conflict=True,
        count=Count("to_create", "to create", rank=0, always=True),
    ),
    StepSpec(
        Step.INVITE,
        operation="InviteMembers",
        symbol="~",
        past="invited",
        after=After(statuses=None, joined=True),
        modes=_INVITATION_ONLY,
        call=_invite,
        already_done=(
            "already invited",
            # A service's own words are in its spec (ServiceSpec.steps).
            "already the administrator",
            *_ALREADY_MEMBER,
        ),
        count=Count("to_invite", "to invite", rank=1, always=True),
    ),
    StepSpec(
        Step.START_MONITORING,
        operation="StartMonitoringMembers",
        symbol="~",
        past="monitoring started",
        after=After(statuses=_ENABLED),
        modes=_BOTH_MODES,
        call=_start_monitoring,
        already_done=("already enabled", "already being monitored", "already monitored"),
        count=Count("to_restart", "to restart", rank=3),
    ),
    StepSpec(
        Step.ACCEPT,
        operation="AcceptAdministratorInvitation",
        symbol="~",
        past="accepted",
        after=After(statuses=_ENABLED),
        modes=_INVITATION_ONLY,
        member_side=True,
        count=Count("to_accept", "to accept", rank=4),
    ),
    StepSpec(
        Step.DISASSOCIATE,
        operation="DisassociateMembers",
        symbol="-",
        past="disassociated",
        after=After(statuses=frozenset({MemberStatus.REMOVED}), absent_ok=True),
        modes=_BOTH_MODES,
        call=_disassociate,
        removes=True,
        already_done=(*_NOT_A_MEMBER, "already disassociated", "already removed"),
        count=Count("to_remove", "to remove", rank=5),
    ),
    StepSpec(
        Step.DELETE,
        operation="DeleteMembers",
        symbol="-",
        past="deleted",
        after=After(statuses=None, absent_ok=True),
        modes=_BOTH_MODES,
        call=_delete,
        removes=True,
        already_done=_NOT_A_MEMBER,
    ),
)
_ORDER: Mapping[Step, int] = {step: index for index, step in enumerate(Step)}


def operation_of(step: Step, service: Service) -> str:
    """The AWS operation ``step`` calls in ``service``: the service's own, else the table's.

    ValueError when the service has no such step (the planner never plans one).
    """
    return spec_of(service).operation_for(step.value, STEPS[step].operation)


def has_step(step: Step, service: Service) -> bool:
    """Whether ``service`` has ``step`` at all (the planner plans no step a service lacks)."""
    return spec_of(service).has_step(step.value)


def already_done(step: Step, service: Service) -> tuple[str, ...]:
    """The lower-case fragments that mean "already done" for ``step`` in ``service``."""
    return (*STEPS[step].already_done, *spec_of(service).already_done(step.value))


def counted() -> Iterator[tuple[Count, Step]]:
    """The summary's counts in their documented order, each with the step it counts."""
    rows = [(spec.count, spec.step) for spec in STEPS.values() if spec.count is not None]
    yield from sorted(rows, key=lambda row: row[0].rank)
