"""The records of the sandbox's world that every service shares, and the shape of a service's own.

Members, invitations, the organization and an account's regions are the same whatever the
service; what differs (the administrator-side resource and its state-file section, the status
vocabulary, the quotas) is declared by each service's module as a :class:`ServiceRegion`
subclass and a :class:`~reconciler_sandbox.plugin.ServicePlugin`. Nothing here names a service.

:class:`World` is what handlers see of the state: the protocol
:class:`~reconciler_sandbox.state.SandboxState` implements, so that the service modules depend
on it without importing the state (which assembles them through the registry).
"""

from __future__ import annotations

import hashlib
import threading
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, Self

from reconciler_sandbox.wire import iso8601

MEMBER_TYPES = ("organization", "invitation")


class SandboxStateError(ValueError):
    """The state file (or a programmatic seed) is invalid; the message is one line.

    A ``ValueError``: the embedded entry point (:mod:`reconciler_sandbox.embedded`) promises its
    callers nothing more specific, so that they need not import this package to catch it.
    """


class FieldError(Exception):
    """One invalid field of the state file: its dotted path and why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def now() -> datetime:
    """The current time at millisecond precision, as AWS reports times."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# --------------------------------------------------------------------------------------------
# Value types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """One member record of an administrator (frozen: writes replace it, keeping counts)."""

    account_id: str
    email: str | None
    status: str
    type: str
    invited_at: datetime | None
    updated_at: datetime
    # Invitations that reached the member's root email (transitions to the service's invited
    # status): a client that invites twice shows here, even across a save and a load.
    invitations_sent: int = 0
    # In email verification after an invitation: how many more reads of the record
    # (ListMembers, GetMembers) see it in progress before it settles (0: not verifying).
    verification_reads: int = 0
    # Why an accepted member is not enabled, for the services that say so (else None).
    disabled_reason: str | None = None


def replace_member(member: Member, **changes: Any) -> Member:
    """A copy of ``member`` with ``changes`` (records are frozen so counts stay right)."""
    return replace(member, **changes)


@dataclass(frozen=True, slots=True)
class Invitation:
    """An invitation as the invited account sees it."""

    administrator: str
    invitation_id: str
    invited_at: datetime


def invitation_id(service: str, region: str, admin: str, member: str, at: datetime) -> str:
    text = f"{service}/{region}/{admin}/{member}/{iso8601(at)}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class OrgAccount:
    account_id: str
    email: str
    name: str
    status: str
    parent: str


@dataclass(frozen=True, slots=True)
class OrgUnit:
    id: str
    name: str
    parent: str


@dataclass(slots=True)
class Organization:
    id: str
    management_account: str
    root_id: str
    # Service name -> its delegated administrator.
    delegated_administrators: dict[str, str] = field(default_factory=dict)
    organizations_delegated_administrators: tuple[str, ...] = ()
    units: dict[str, OrgUnit] = field(default_factory=dict)
    accounts: dict[str, OrgAccount] = field(default_factory=dict)
    # Accounts synthesised because the file did not list them (the management account).
    implicit: frozenset[str] = frozenset()

    def parents(self) -> set[str]:
        return {self.root_id, *self.units}


class MemberTable:
    """The members of one administrator in one shard, keyed by account id.

    Keeps the per-type counts the quotas need, and a sorted id list for pagination that is
    rebuilt only after a write added or removed a key.
    """

    __slots__ = ("_counts", "_items", "_sorted")

    def __init__(self) -> None:
        self._items: dict[str, Member] = {}
        self._sorted: list[str] | None = None
        self._counts: dict[str, int] = dict.fromkeys(MEMBER_TYPES, 0)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Member]:
        for account_id in self.sorted_ids():
            yield self._items[account_id]

    def get(self, account_id: str) -> Member | None:
        return self._items.get(account_id)

    def put(self, member: Member) -> None:
        old = self._items.get(member.account_id)
        if old is None:
            self._sorted = None
        else:
            self._counts[old.type] -= 1
        self._counts[member.type] += 1
        self._items[member.account_id] = member

    def remove(self, account_id: str) -> Member | None:
        old = self._items.pop(account_id, None)
        if old is not None:
            self._counts[old.type] -= 1
            self._sorted = None
        return old

    def count(self, member_type: str) -> int:
        return self._counts[member_type]

    def sorted_ids(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self._items)
        return self._sorted

    def page(
        self, after: str | None, limit: int, keep: Callable[[Member], bool] | None = None
    ) -> tuple[list[Member], bool]:
        """Up to ``limit`` members after ``after`` that ``keep`` accepts, and whether more do."""
        ids = self.sorted_ids()
        start = bisect_right(ids, after) if after else 0
        out: list[Member] = []
        for index in range(start, len(ids)):
            member = self._items[ids[index]]
            if keep is None or keep(member):
                if len(out) == limit:
                    return out, True
                out.append(member)
        return out, False


# --------------------------------------------------------------------------------------------
# A service's own region record
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ServiceRegion:
    """One service in one account and region: its administrator-side resource, its members.

    Each service subclasses it with the fields of its resource (a status, an auto-enable
    setting, when it was created) and the state file's section of one region (its pydantic
    model is the plug-in's ``section``): ``from_entry`` builds the record from a validated
    section's settings (``None``: the section is absent), ``to_entry`` writes the settings
    back, equal to ``from_entry(None).to_entry()`` when there is nothing to say.
    """

    members: MemberTable = field(default_factory=MemberTable)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any] | None) -> Self:
        raise NotImplementedError

    def to_entry(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def ready(self) -> bool:
        """Whether the administrator-side resource exists (members can be managed)."""
        raise NotImplementedError

    def turn_on(self, at: datetime) -> None:
        """Create the resource, as AWS does when an organization account is added."""
        raise NotImplementedError

    def loaded(self, at: datetime) -> None:
        """The state was loaded at ``at``: an existing resource was created then."""

    def organization_members_locked(self) -> str | None:
        """Why organization members may not be removed, deleted or stopped now (None: they may)."""
        return None


@dataclass(slots=True)
class AccountState:
    """One account: identity, the ``*`` defaults, and the regions touched so far.

    Regions are materialised lazily from the ``*`` entry the first time they are used, so
    an account costs nothing in the regions nobody calls; ``make`` builds a service's record
    from that entry (the state supplies it from the registry).
    """

    account_id: str
    make: Callable[[str, Mapping[str, Any] | None], ServiceRegion]
    email: str | None = None
    roles: tuple[str, ...] | None = None
    disabled_regions: frozenset[str] = frozenset()
    declared: bool = False  # listed under `accounts` (written back by save)
    # Service name -> its validated `*` section.
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Service name -> region -> record.
    regions: dict[str, dict[str, ServiceRegion]] = field(default_factory=dict)

    def service(self, service: str, region: str) -> ServiceRegion:
        shards = self.regions.get(service)
        if shards is None:
            shards = self.regions[service] = {}
        found = shards.get(region)
        if found is None:
            found = shards[region] = self.make(service, self.defaults.get(service))
        return found


# --------------------------------------------------------------------------------------------
# What handlers see of the state
# --------------------------------------------------------------------------------------------


class World(Protocol):
    """The state as the handlers and the member life cycle use it (callers hold ``lock``)."""

    lock: threading.RLock
    default_account: str
    organization: Organization | None
    quotas: dict[str, int]
    email_verification_reads: int
    loaded_at: datetime
    events: Counter[tuple[str, str, str, str, str]]

    def account(self, account_id: str) -> AccountState: ...

    def is_known(self, account_id: str) -> bool: ...

    def root_email(self, account_id: str) -> str | None: ...

    def organization_of(self, account_id: str) -> Organization | None: ...

    def region_enabled(self, account_id: str, region: str) -> bool: ...

    def administrator(self, service: str, region: str, member: str) -> str | None: ...

    def link(self, service: str, region: str, member: str, admin: str) -> None: ...

    def unlink(self, service: str, region: str, member: str, admin: str) -> None: ...

    def invitations(self, service: str, region: str, member: str) -> dict[str, Invitation]: ...

    def add_invitation(self, service: str, region: str, member: str, inv: Invitation) -> None: ...

    def drop_invitation(self, service: str, region: str, member: str, admin: str) -> None: ...
