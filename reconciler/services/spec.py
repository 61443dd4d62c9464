"""What a member service is, as data: one frozen :class:`ServiceSpec` per service (pure).

Everything that differs between the services whose membership we reconcile is declared in
that service's own module (``reconciler.services.<name>``), in the spirit of Cloud
Custodian's resource ``TypeInfo``: its client and labels, the operations it calls with their
IAM actions, how its answers are shaped (field names, page sizes, whether botocore has a
paginator), how its statuses map onto ours, its administrator-side prerequisite, its quotas,
its manifest settings, what it calls for each plan step and which of its words mean "already
done", and its member-side accept. The rest of the product reads the spec and never names a
service (``tests/architecture/test_service_names.py``).

The few behaviours that differ in more than data (the probe, the member-side accept) are plain
functions over :class:`Calls`, a tiny protocol that the AWS layer implements over a botocore
client: ``call(operation, **params)`` returns the answer's dict and raises
:mod:`reconciler.errors` types, so no service module imports boto3 or botocore.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from reconciler.model import (
    AcceptSettings,
    DesiredMember,
    InvitationSettings,
    MemberStatus,
    Mode,
    Service,
)
from reconciler.services.operations import OperationSpec


class Calls(Protocol):
    """One account's calls to one service in one region (implemented by ``reconciler.aws``)."""

    @property
    def service(self) -> str: ...

    @property
    def region(self) -> str: ...

    @property
    def account_id(self) -> str: ...

    def call(self, operation: str, /, **params: Any) -> dict[str, Any]:
        """One call; raises :class:`~reconciler.errors.AwsError` (and its kinds)."""
        ...

    def pages(self, operation: str, /, **params: Any) -> Iterable[dict[str, Any]]:
        """Every page of a list operation (botocore's paginator, or NextToken by hand)."""
        ...


@dataclass(frozen=True, slots=True)
class Prerequisite:
    """What the administrator-side probe found: why the shard is blocked (None: ready), and
    the parameters every member call of the shard then takes (a detector, a graph)."""

    blocked: str | None = None
    scope: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Paging:
    """How the service's list operations page."""

    page_size: int = 50  # MaxResults of every list call
    paginator: bool = True  # botocore has paginators; False: NextToken is followed by hand


@dataclass(frozen=True, slots=True)
class Wire:
    """How members look in the service's answers."""

    status: str  # the member's relationship status field
    unprocessed_reason: str  # the reason field of an UnprocessedAccounts entry
    members: str = "Members"  # the member list of ListMembers and GetMembers answers
    email: str = "Email"  # the member's email field
    list_filter: Mapping[str, Any] = field(default_factory=dict)  # extra ListMembers parameters


@dataclass(frozen=True, slots=True)
class StepRule:
    """The service's own rule for one plan step (by the step's name, e.g. ``"invite"``)."""

    operation: str | None  # the operation the step calls; None: the service has no such step
    already_done: tuple[str, ...] = ()  # more lower-case fragments meaning "already done"


@dataclass(frozen=True, slots=True)
class EmailRule:
    """When the service needs a member's root email."""

    required_in: frozenset[Mode]
    why: str = ""  # in the manifest's refusal: "(<why>)"
    # The service checks the email before it sends the invitation (EmailVerification* statuses):
    # the accept waits for that check to settle.
    verified: bool = False


@dataclass(frozen=True, slots=True)
class AcceptContext:
    """What a member-side accept is given besides the member account's calls."""

    administrator_account_id: str
    settings: AcceptSettings
    role: str  # the role's ARN, for the wording
    # What the pre-invitation check found in that account (None: it did not run).
    seen: Any = None


@dataclass(frozen=True, slots=True)
class MemberSide:
    """The member-side accept, run as the member account (``invitation.accept``)."""

    accept: Callable[[Calls, AcceptContext], str]  # what was done, in words
    # Before inviting: why the member could not accept (None: it can), and what was found,
    # handed to the accept as ``seen``. None: nothing to check beyond assuming the role.
    check: Callable[[Calls, AcceptContext], tuple[str | None, Any]] | None = None


def _no_params(_: InvitationSettings) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the product knows about one member service."""

    name: Service  # the boto3 client name, the IAM prefix, the manifest key
    label: str  # the service's product name, in messages
    description: str  # the manifest schema's description of ``services.<name>``
    endpoint_prefix: str  # its key in botocore's endpoint data
    iam_sid: str  # the Sid of its statement in the IAM policy
    settings: type[BaseModel]  # the pydantic model of ``services.<name>``
    operations: tuple[OperationSpec, ...]  # every operation called, by any principal
    wire: Wire
    probe: Callable[[Calls], Prerequisite]
    # CreateMembers' parameters for a batch (the invitation settings in invitation mode).
    create_params: Callable[[Sequence[DesiredMember], InvitationSettings | None], dict[str, Any]]
    quotas: Mapping[Mode, int]  # members per administrator per region, per mode
    email: EmailRule
    # The parameters the probe finds and every member call then takes (a detector's ID).
    scope_keys: tuple[str, ...] = ()
    paging: Paging = Paging()
    batch_size: int = 50  # accounts per batch call
    invite_params: Callable[[InvitationSettings], dict[str, Any]] = _no_params
    modes: frozenset[Mode] = frozenset(Mode)
    # Raw statuses beyond ours (folded: no underscores, lower case) → ours.
    statuses: Mapping[str, MemberStatus] = field(default_factory=dict)
    # The modes in which prune may DeleteMembers after disassociating.
    deletes_in: frozenset[Mode] = frozenset(Mode)
    # Step name → the service's rule; a step not named calls the step's default operation.
    steps: Mapping[str, StepRule] = field(default_factory=dict)
    # The organization's auto-enable setting (read only to prune organization members, which
    # AWS refuses to remove while it is ALL); None: the service has no such refusal.
    auto_enable: Callable[[Calls, Mapping[str, Any]], str | None] | None = None
    member_side: MemberSide | None = None
    # Manifest keys other services accept and this one does not → why, for the message.
    foreign_keys: Mapping[str, str] = field(default_factory=dict)

    def has_step(self, step: str) -> bool:
        rule = self.steps.get(step)
        return rule is None or rule.operation is not None

    def operation_for(self, step: str, default: str) -> str:
        """The operation ``step`` calls in this service (``default``: the step's own)."""
        rule = self.steps.get(step)
        if rule is None:
            return default
        if rule.operation is None:
            raise ValueError(f"{self.name} has no {step} step")
        return rule.operation

    def already_done(self, step: str) -> tuple[str, ...]:
        rule = self.steps.get(step)
        return () if rule is None else rule.already_done

    def parse_status(self, raw: str | None) -> MemberStatus:
        """The raw status as ours: the service's own words first, then the common ones."""
        if raw:
            found = self.statuses.get(raw.replace("_", "").casefold())
            if found is not None:
                return found
        return MemberStatus.parse(raw)

    def can_delete(self, mode: Mode) -> bool:
        return mode in self.deletes_in

    def needs_email(self, mode: Mode) -> bool:
        return mode in self.email.required_in
