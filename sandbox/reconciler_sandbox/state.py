"""The sandbox's world: accounts, the organization, detectors, hubs, members and invitations.

Kept apart from the HTTP layer so that tests and benchmarks can build a world in Python
(:meth:`SandboxState.empty` + :meth:`SandboxState.add_members`) as well as from a YAML state
file (:meth:`SandboxState.load`), inspect it after a run, and write it back
(:meth:`SandboxState.save`) in the same format.

Only the administrator side of a relationship is stored (the member records, per
administrator, service and region). The member side (who my administrator is, which
invitations I have) is derived from it at load time and kept in step by every write, so the
two views can never disagree and the state file never says the same thing twice.

The state must stay cheap at 50,000 members in one shard: members live in dicts keyed by
account id, and list pages come from a sorted key list cached until the next write.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from reconciler_sandbox.wire import iso8601, parse_time

GUARDDUTY = "guardduty"
SECURITYHUB = "securityhub"
SERVICES = (GUARDDUTY, SECURITYHUB)

DETECTOR_STATUSES = ("ENABLED", "DISABLED")
AUTO_ENABLE_MEMBERS = ("NEW", "ALL", "NONE")
MEMBER_STATUSES = (
    "Created",
    "Invited",
    "EmailVerificationInProgress",
    "EmailVerificationFailed",
    "Enabled",
    "Disabled",
    "Removed",
    "Resigned",
    "AccountSuspended",
    "RegionDisabled",
)
MEMBER_TYPES = ("organization", "invitation")
# Organizations' account State (botocore's AccountState); its older Status had no CLOSED or
# PENDING_ACTIVATION.
ORG_ACCOUNT_STATUSES = ("PENDING_ACTIVATION", "ACTIVE", "SUSPENDED", "PENDING_CLOSURE", "CLOSED")
# A member in one of these statuses is associated: the member side has an administrator.
ASSOCIATED = frozenset({"Enabled", "Disabled"})

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
_ROOT_ID = re.compile(r"^r-[0-9a-z]{4,32}$")
_OU_ID = re.compile(r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


# libyaml's safe loader and dumper when PyYAML was built with it: the same safe subset of
# YAML, several times faster on large member lists.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _parse(text: str) -> Any:
    if text.lstrip().startswith("{"):
        # JSON is YAML, and json parses it far faster than any YAML parser.
        try:
            return json.loads(text)
        except ValueError:
            pass
    # _LOADER is a safe loader (C or Python); never the full Loader.
    return yaml.load(text, Loader=_LOADER)


class SandboxStateError(ValueError):
    """The state file (or a programmatic seed) is invalid; the message is one line.

    A ``ValueError``: the embedded entry point (:mod:`reconciler_sandbox.embedded`) promises its
    callers nothing more specific, so that they need not import this package to catch it.
    """


class _FieldError(Exception):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _now() -> datetime:
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
    # Invitations that reached the member's root email (transitions to Invited): a client
    # that invites twice shows here, even across a save and a load.
    invitations_sent: int = 0
    # EmailVerificationInProgress after an InviteMembers: how many more reads of the record
    # (ListMembers, GetMembers) see it in progress before it settles (0: not verifying).
    verification_reads: int = 0


@dataclass(frozen=True, slots=True)
class Invitation:
    """An invitation as the invited account sees it."""

    administrator: str
    invitation_id: str
    invited_at: datetime


@dataclass(frozen=True, slots=True)
class Quotas:
    """Member quotas per administrator and region (AWS's published values by default)."""

    guardduty_members: int = 50_000
    securityhub_invitation_members: int = 1_000
    securityhub_organization_members: int = 10_000


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


@dataclass(slots=True)
class GuardDutyRegion:
    """GuardDuty in one account and region."""

    detector: str | None = None  # ENABLED | DISABLED | None (no detector)
    auto_enable_organization_members: str = "NONE"
    created_at: datetime | None = None
    members: MemberTable = field(default_factory=MemberTable)


@dataclass(slots=True)
class SecurityHubRegion:
    """Security Hub in one account and region."""

    enabled: bool = False
    auto_enable: bool = False
    subscribed_at: datetime | None = None
    members: MemberTable = field(default_factory=MemberTable)


ServiceRegion = GuardDutyRegion | SecurityHubRegion


@dataclass(slots=True)
class AccountState:
    """One account: identity, the ``*`` defaults, and the regions touched so far.

    Regions are materialised lazily from the ``*`` entry the first time they are used, so
    an account costs nothing in the regions nobody calls.
    """

    account_id: str
    email: str | None = None
    roles: tuple[str, ...] | None = None
    disabled_regions: frozenset[str] = frozenset()
    declared: bool = False  # listed under `accounts` (written back by save)
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    guardduty: dict[str, GuardDutyRegion] = field(default_factory=dict)
    securityhub: dict[str, SecurityHubRegion] = field(default_factory=dict)

    def gd(self, region: str) -> GuardDutyRegion:
        found = self.guardduty.get(region)
        if found is None:
            found = _gd_from_entry(self.defaults.get(GUARDDUTY))
            self.guardduty[region] = found
        return found

    def sh(self, region: str) -> SecurityHubRegion:
        found = self.securityhub.get(region)
        if found is None:
            found = _sh_from_entry(self.defaults.get(SECURITYHUB))
            self.securityhub[region] = found
        return found

    def service(self, service: str, region: str) -> ServiceRegion:
        return self.gd(region) if service == GUARDDUTY else self.sh(region)


def _gd_from_entry(entry: Mapping[str, Any] | None) -> GuardDutyRegion:
    if not entry:
        return GuardDutyRegion()
    return GuardDutyRegion(
        detector=entry.get("detector"),
        auto_enable_organization_members=entry.get("autoEnableOrganizationMembers", "NONE"),
    )


def _sh_from_entry(entry: Mapping[str, Any] | None) -> SecurityHubRegion:
    if not entry:
        return SecurityHubRegion()
    return SecurityHubRegion(
        enabled=bool(entry.get("enabled", False)), auto_enable=bool(entry.get("autoEnable", False))
    )


def detector_id(account_id: str, region: str) -> str:
    """GuardDuty's 32-hex detector id, derived so a reload gives the same id."""
    return hashlib.md5(f"{account_id}/{region}".encode(), usedforsecurity=False).hexdigest()


def invitation_id(service: str, region: str, admin: str, member: str, at: datetime) -> str:
    text = f"{service}/{region}/{admin}/{member}/{iso8601(at)}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --------------------------------------------------------------------------------------------
# The state
# --------------------------------------------------------------------------------------------


class SandboxState:
    """Everything the sandbox knows, shared by every request; guard writes with :attr:`lock`."""

    def __init__(
        self,
        default_account: str,
        *,
        organization: Organization | None = None,
        quotas: Quotas | None = None,
    ) -> None:
        if not _ACCOUNT_ID.match(default_account):
            raise SandboxStateError(f"defaultAccount: {default_account!r} is not a 12-digit id")
        self.lock = threading.RLock()
        self.default_account = default_account
        self.organization = organization
        self.quotas = quotas or Quotas()
        # GuardDuty invitations stay EmailVerificationInProgress for this many reads of the
        # member record before they settle (0: they settle at once).
        self.email_verification_reads = 0
        self.loaded_at = _now()
        self._accounts: dict[str, AccountState] = {}
        # (service, region, member) -> administrator it is associated with.
        self._links: dict[tuple[str, str, str], str] = {}
        # (service, region, member) -> {administrator: invitation}.
        self._invitations: dict[tuple[str, str, str], dict[str, Invitation]] = {}
        # Successful member writes since this state was built, by (event, service, region,
        # administrator, member); event is "create" or "invite". Runtime only, not saved.
        self.events: Counter[tuple[str, str, str, str, str]] = Counter()

    # ---- construction ---------------------------------------------------------------------

    @classmethod
    def empty(cls, default_account: str = "111111111111") -> SandboxState:
        return cls(default_account)

    @classmethod
    def load(cls, path: str | Path) -> SandboxState:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SandboxStateError(f"{source}: cannot read the state file: {exc}") from None
        try:
            data = _parse(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{source}:{mark.line + 1}" if mark is not None else source
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise SandboxStateError(f"{where}: {problem}") from None
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<state>") -> SandboxState:
        try:
            return _build(data)
        except _FieldError as exc:
            raise SandboxStateError(f"{source}: field {exc.path}: {exc.reason}") from None

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return _dump(self)

    def save(self, path: str | Path) -> None:
        """Write the state file; as JSON (which is YAML too) when ``path`` ends in ``.json``.

        JSON loads and saves some 30 times faster than YAML: worth it for 50,000 members.
        """
        data = self.to_dict()
        if str(path).endswith(".json"):
            text = json.dumps(data, indent=1) + "\n"
        else:
            text = yaml.dump(data, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)
        Path(path).write_text(text, encoding="utf-8")

    # ---- accounts -------------------------------------------------------------------------

    def account(self, account_id: str) -> AccountState:
        """The account's state, created on first use (any 12-digit id exists implicitly)."""
        found = self._accounts.get(account_id)
        if found is None:
            found = AccountState(account_id)
            self._accounts[account_id] = found
        return found

    def is_known(self, account_id: str) -> bool:
        """Declared in the state: under `accounts`, in the organization, or the default."""
        if account_id == self.default_account:
            return True
        found = self._accounts.get(account_id)
        if found is not None and found.declared:
            return True
        org = self.organization
        return org is not None and (
            account_id in org.accounts or account_id == org.management_account
        )

    def root_email(self, account_id: str) -> str | None:
        found = self._accounts.get(account_id)
        if found is not None and found.email:
            return found.email
        org = self.organization
        if org is not None and account_id in org.accounts:
            return org.accounts[account_id].email
        return None

    def organization_of(self, account_id: str) -> Organization | None:
        org = self.organization
        if org is not None and account_id in org.accounts:
            return org
        return None

    def region_enabled(self, account_id: str, region: str) -> bool:
        found = self._accounts.get(account_id)
        return found is None or region not in found.disabled_regions

    def add_account(
        self,
        account_id: str,
        *,
        email: str | None = None,
        roles: Iterable[str] | None = None,
        disabled_regions: Iterable[str] = (),
    ) -> AccountState:
        """Declare an account (programmatic counterpart of an `accounts` entry)."""
        try:
            entry: dict[str, Any] = {}
            if email is not None:
                entry["email"] = email
            if roles is not None:
                entry["roles"] = list(roles)
            entry["disabledRegions"] = list(disabled_regions)
            with self.lock:
                return _declare_account(self, _account_id(account_id, "accountId"), entry, "")
        except _FieldError as exc:
            raise SandboxStateError(f"field {exc.path}: {exc.reason}") from None

    def set_detector(
        self,
        account_id: str,
        region: str,
        status: str | None,
        *,
        auto_enable_organization_members: str | None = None,
    ) -> None:
        if status is not None and status not in DETECTOR_STATUSES:
            raise SandboxStateError(f"detector: {status!r} is not ENABLED, DISABLED or None")
        if (
            auto_enable_organization_members is not None
            and auto_enable_organization_members not in AUTO_ENABLE_MEMBERS
        ):
            raise SandboxStateError(
                f"autoEnableOrganizationMembers: {auto_enable_organization_members!r}"
                " is not NEW, ALL or NONE"
            )
        with self.lock:
            gd = self.account(account_id).gd(region)
            gd.detector = status
            if status is not None and gd.created_at is None:
                gd.created_at = _now()
            if auto_enable_organization_members is not None:
                gd.auto_enable_organization_members = auto_enable_organization_members

    def set_security_hub(
        self, account_id: str, region: str, enabled: bool, *, auto_enable: bool | None = None
    ) -> None:
        with self.lock:
            sh = self.account(account_id).sh(region)
            if enabled and not sh.enabled:
                sh.subscribed_at = _now()
            sh.enabled = enabled
            if auto_enable is not None:
                sh.auto_enable = auto_enable

    def add_members(
        self,
        account_id: str,
        region: str,
        service: str,
        members: Iterable[Mapping[str, Any]],
    ) -> None:
        """Seed members of an administrator, in the state file's shape.

        Each entry is ``{"accountId", "email"?, "status", "type"?, "invitedAt"?,
        "updatedAt"?}``; links and invitations of the member side follow from the statuses.
        """
        if service not in SERVICES:
            raise SandboxStateError(f"service: {service!r} is not guardduty or securityhub")
        try:
            admin = _account_id(account_id, "accountId")
            _region(region, "region")
            with self.lock:
                table = self.account(admin).service(service, region).members
                for index, raw in enumerate(members):
                    member = _member(raw, f"members[{index}]", service)
                    self._seed_member(service, region, admin, table, member, f"members[{index}]")
        except _FieldError as exc:
            raise SandboxStateError(f"field {exc.path}: {exc.reason}") from None

    def _seed_member(
        self,
        service: str,
        region: str,
        admin: str,
        table: MemberTable,
        member: Member,
        path: str,
    ) -> None:
        if member.account_id == admin:
            raise _FieldError(f"{path}.accountId", "an administrator cannot be its own member")
        if table.get(member.account_id) is not None:
            raise _FieldError(f"{path}.accountId", f"{member.account_id} is listed twice")
        if member.status in ASSOCIATED:
            other = self._links.get((service, region, member.account_id))
            if other is not None and other != admin:
                raise _FieldError(
                    f"{path}.status",
                    f"{member.account_id} is already associated with administrator {other}",
                )
            self.link(service, region, member.account_id, admin)
        elif member.status == "Invited":
            at = member.invited_at or member.updated_at
            self.add_invitation(
                service,
                region,
                member.account_id,
                Invitation(admin, invitation_id(service, region, admin, member.account_id, at), at),
            )
        table.put(member)

    # ---- member side (derived) ------------------------------------------------------------

    def administrator(self, service: str, region: str, member: str) -> str | None:
        return self._links.get((service, region, member))

    def link(self, service: str, region: str, member: str, admin: str) -> None:
        self._links[(service, region, member)] = admin

    def unlink(self, service: str, region: str, member: str, admin: str) -> None:
        key = (service, region, member)
        if self._links.get(key) == admin:
            del self._links[key]

    def invitations(self, service: str, region: str, member: str) -> dict[str, Invitation]:
        return self._invitations.get((service, region, member), {})

    def add_invitation(self, service: str, region: str, member: str, inv: Invitation) -> None:
        self._invitations.setdefault((service, region, member), {})[inv.administrator] = inv

    def drop_invitation(self, service: str, region: str, member: str, admin: str) -> None:
        key = (service, region, member)
        found = self._invitations.get(key)
        if found is not None:
            found.pop(admin, None)
            if not found:
                del self._invitations[key]

    # ---- queries for tests and benchmarks -------------------------------------------------

    def members(self, account_id: str, region: str, service: str) -> list[dict[str, Any]]:
        """The administrator's members in one shard, in the state file's shape."""
        with self.lock:
            table = self.account(account_id).service(service, region).members
            return [_member_dict(m) for m in table]

    def member(
        self, account_id: str, region: str, service: str, member_id: str
    ) -> dict[str, Any] | None:
        with self.lock:
            found = self.account(account_id).service(service, region).members.get(member_id)
            return None if found is None else _member_dict(found)

    def event_count(
        self, event: str, account_id: str, region: str, service: str, member_id: str
    ) -> int:
        """How many times ``event`` ("create" or "invite") succeeded for that member."""
        with self.lock:
            return self.events[(event, service, region, account_id, member_id)]

    def detector_status(self, account_id: str, region: str) -> str | None:
        with self.lock:
            return self.account(account_id).gd(region).detector

    def hub_enabled(self, account_id: str, region: str) -> bool:
        with self.lock:
            return self.account(account_id).sh(region).enabled

    def administrator_of(self, member_id: str, region: str, service: str) -> str | None:
        with self.lock:
            return self.administrator(service, region, member_id)

    def invitations_for(self, member_id: str, region: str, service: str) -> list[dict[str, Any]]:
        with self.lock:
            found = self.invitations(service, region, member_id)
            return [
                {
                    "administrator": inv.administrator,
                    "invitationId": inv.invitation_id,
                    "invitedAt": iso8601(inv.invited_at),
                }
                for inv in sorted(found.values(), key=lambda i: i.administrator)
            ]


# --------------------------------------------------------------------------------------------
# Strict parsing of the state file
# --------------------------------------------------------------------------------------------


def _mapping(
    value: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _FieldError(path or "(top level)", f"expected a mapping, got {_kind(value)}")
    allowed_set = set(allowed)
    for key in value:
        if not isinstance(key, str):
            raise _FieldError(_join(path, str(key)), "keys must be strings (quote account ids)")
        if key not in allowed_set:
            raise _FieldError(
                _join(path, key), f"unknown key (expected one of: {', '.join(sorted(allowed_set))})"
            )
    for key in required:
        if value.get(key) is None:
            raise _FieldError(_join(path, key), "is required")
    return value


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _FieldError(path, f"expected a non-empty string, got {_kind(value)} {value!r}")
    return value


def _account_id(value: Any, path: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise _FieldError(path, f"account id {value!r} must be a quoted 12-digit string")
    if not isinstance(value, str) or not _ACCOUNT_ID.match(value):
        raise _FieldError(path, f"{value!r} is not a 12-digit account id")
    return value


def _region(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _REGION.match(value):
        raise _FieldError(path, f"{value!r} is not a region name like eu-west-1")
    return value


def _email(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value) or len(value) > 64:
        raise _FieldError(path, f"{value!r} is not an email address")
    return value


def _enum(value: Any, path: str, allowed: Iterable[str]) -> str:
    options = tuple(allowed)
    if value not in options:
        raise _FieldError(path, f"{value!r} is not one of {', '.join(options)}")
    return str(value)


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _FieldError(path, f"expected true or false, got {value!r}")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _FieldError(path, f"expected a list, got {_kind(value)}")
    return value


def _time(value: Any, path: str) -> datetime:
    moment = parse_time(value) if not isinstance(value, int | float) else None
    if moment is None:
        raise _FieldError(path, f"{value!r} is not an ISO-8601 timestamp")
    return moment


def _positive_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _FieldError(path, f"expected a non-negative integer, got {value!r}")
    return value


def _member(raw: Any, path: str, service: str) -> Member:
    entry = _mapping(
        raw,
        path,
        (
            "accountId",
            "email",
            "status",
            "type",
            "invitedAt",
            "updatedAt",
            "invitationsSent",
            "verificationReadsLeft",
        ),
        ("accountId", "status"),
    )
    account_id = _account_id(entry["accountId"], f"{path}.accountId")
    email = _email(entry["email"], f"{path}.email") if entry.get("email") is not None else None
    status = _enum(entry["status"], f"{path}.status", MEMBER_STATUSES)
    if service == SECURITYHUB and status in ("Disabled", "EmailVerificationFailed"):
        raise _FieldError(f"{path}.status", f"{status} is a GuardDuty status only")
    member_type = _enum(entry.get("type", "invitation"), f"{path}.type", MEMBER_TYPES)
    invited_at = _time(entry["invitedAt"], f"{path}.invitedAt") if "invitedAt" in entry else None
    updated_at = _time(entry["updatedAt"], f"{path}.updatedAt") if "updatedAt" in entry else None
    if updated_at is None:
        updated_at = invited_at or _now()
    if invited_at is None and status == "Invited":
        # An open invitation needs its time: the invitation id is derived from it.
        invited_at = updated_at
    sent = 0
    if "invitationsSent" in entry:
        sent = _positive_int(entry["invitationsSent"], f"{path}.invitationsSent")
    reads = 0
    if "verificationReadsLeft" in entry:
        reads = _positive_int(entry["verificationReadsLeft"], f"{path}.verificationReadsLeft")
        if reads and status != "EmailVerificationInProgress":
            raise _FieldError(
                f"{path}.verificationReadsLeft", "only for status EmailVerificationInProgress"
            )
    return Member(account_id, email, status, member_type, invited_at, updated_at, sent, reads)


def _gd_entry(raw: Any, path: str, allow_members: bool) -> dict[str, Any]:
    keys = ["detector", "autoEnableOrganizationMembers"] + (["members"] if allow_members else [])
    entry = _mapping(raw if raw is not None else {}, path, keys)
    out: dict[str, Any] = {}
    if entry.get("detector") is not None:
        out["detector"] = _enum(entry["detector"], f"{path}.detector", DETECTOR_STATUSES)
    if "autoEnableOrganizationMembers" in entry:
        out["autoEnableOrganizationMembers"] = _enum(
            entry["autoEnableOrganizationMembers"],
            f"{path}.autoEnableOrganizationMembers",
            AUTO_ENABLE_MEMBERS,
        )
    if "members" in entry:
        out["members"] = _list(entry["members"], f"{path}.members")
    return out


def _sh_entry(raw: Any, path: str, allow_members: bool) -> dict[str, Any]:
    keys = ["enabled", "autoEnable"] + (["members"] if allow_members else [])
    entry = _mapping(raw if raw is not None else {}, path, keys)
    out: dict[str, Any] = {}
    if "enabled" in entry:
        out["enabled"] = _bool(entry["enabled"], f"{path}.enabled")
    if "autoEnable" in entry:
        out["autoEnable"] = _bool(entry["autoEnable"], f"{path}.autoEnable")
    if "members" in entry:
        out["members"] = _list(entry["members"], f"{path}.members")
    return out


def _organization(raw: Any, path: str) -> Organization:
    entry = _mapping(
        raw,
        path,
        (
            "id",
            "managementAccount",
            "rootId",
            "delegatedAdministrators",
            "organizationsDelegatedAdministrators",
            "organizationalUnits",
            "accounts",
        ),
        ("id", "managementAccount", "rootId"),
    )
    org_id = _string(entry["id"], f"{path}.id")
    if not _ORG_ID.match(org_id):
        raise _FieldError(f"{path}.id", f"{org_id!r} is not an organization id like o-abc1234567")
    root_id = _string(entry["rootId"], f"{path}.rootId")
    if not _ROOT_ID.match(root_id):
        raise _FieldError(f"{path}.rootId", f"{root_id!r} is not a root id like r-ab12")
    org = Organization(
        id=org_id,
        management_account=_account_id(entry["managementAccount"], f"{path}.managementAccount"),
        root_id=root_id,
    )
    delegated = _mapping(
        entry.get("delegatedAdministrators") or {}, f"{path}.delegatedAdministrators", SERVICES
    )
    for service, account in delegated.items():
        org.delegated_administrators[service] = _account_id(
            account, f"{path}.delegatedAdministrators.{service}"
        )
    org_admins = _list(
        entry.get("organizationsDelegatedAdministrators") or [],
        f"{path}.organizationsDelegatedAdministrators",
    )
    org.organizations_delegated_administrators = tuple(
        _account_id(a, f"{path}.organizationsDelegatedAdministrators[{i}]")
        for i, a in enumerate(org_admins)
    )
    units = _list(entry.get("organizationalUnits") or [], f"{path}.organizationalUnits")
    for index, raw_unit in enumerate(units):
        where = f"{path}.organizationalUnits[{index}]"
        unit = _mapping(raw_unit, where, ("id", "name", "parent"), ("id", "name", "parent"))
        unit_id = _string(unit["id"], f"{where}.id")
        if not _OU_ID.match(unit_id):
            raise _FieldError(f"{where}.id", f"{unit_id!r} is not an OU id like ou-ab12-11111111")
        if unit_id in org.units:
            raise _FieldError(f"{where}.id", f"{unit_id} is listed twice")
        org.units[unit_id] = OrgUnit(
            unit_id,
            _string(unit["name"], f"{where}.name"),
            _string(unit["parent"], f"{where}.parent"),
        )
    for index, listed in enumerate(org.units.values()):
        if listed.parent not in org.parents() or listed.parent == listed.id:
            raise _FieldError(
                f"{path}.organizationalUnits[{index}].parent",
                f"{listed.parent!r} is neither the root nor another listed OU",
            )
    _check_ou_cycles(org, path)
    accounts = _list(entry.get("accounts") or [], f"{path}.accounts")
    for index, raw_account in enumerate(accounts):
        where = f"{path}.accounts[{index}]"
        acct = _mapping(
            raw_account,
            where,
            ("accountId", "email", "name", "status", "parent"),
            ("accountId", "email"),
        )
        account_id = _account_id(acct["accountId"], f"{where}.accountId")
        if account_id in org.accounts:
            raise _FieldError(f"{where}.accountId", f"{account_id} is listed twice")
        parent = acct.get("parent", org.root_id)
        if parent not in org.parents():
            raise _FieldError(f"{where}.parent", f"{parent!r} is neither the root nor a listed OU")
        org.accounts[account_id] = OrgAccount(
            account_id=account_id,
            email=_email(acct["email"], f"{where}.email"),
            name=_string(acct.get("name", f"account-{account_id}"), f"{where}.name"),
            status=_enum(acct.get("status", "ACTIVE"), f"{where}.status", ORG_ACCOUNT_STATUSES),
            parent=parent,
        )
    return org


def _check_ou_cycles(org: Organization, path: str) -> None:
    for unit in org.units.values():
        seen = {unit.id}
        parent = unit.parent
        while parent in org.units:
            if parent in seen:
                raise _FieldError(f"{path}.organizationalUnits", f"OU {unit.id} is in a cycle")
            seen.add(parent)
            parent = org.units[parent].parent


def _declare_account(
    state: SandboxState, account_id: str, entry: Mapping[str, Any], path: str
) -> AccountState:
    account = state.account(account_id)
    account.declared = True
    if entry.get("email") is not None:
        account.email = _email(entry["email"], _join(path, "email"))
    if entry.get("roles") is not None:
        roles = _list(entry["roles"], _join(path, "roles"))
        for index, role in enumerate(roles):
            if not isinstance(role, str) or not _ROLE_NAME.match(role):
                raise _FieldError(
                    f"{_join(path, 'roles')}[{index}]", f"{role!r} is not a role name"
                )
        account.roles = tuple(roles)
    disabled = _list(entry.get("disabledRegions") or [], _join(path, "disabledRegions"))
    account.disabled_regions = frozenset(
        _region(r, f"{_join(path, 'disabledRegions')}[{i}]") for i, r in enumerate(disabled)
    )
    return account


def _build(data: Any) -> SandboxState:
    top = _mapping(
        data,
        "",
        (
            "version",
            "defaultAccount",
            "quotas",
            "emailVerificationReads",
            "organization",
            "accounts",
        ),
        ("version",),
    )
    if top["version"] != 1:
        raise _FieldError("version", f"{top['version']!r} is not a supported version (1)")
    if "defaultAccount" not in top:
        raise _FieldError("defaultAccount", "is required")
    default_account = _account_id(top["defaultAccount"], "defaultAccount")
    quotas = Quotas()
    if top.get("quotas") is not None:
        raw = _mapping(
            top["quotas"],
            "quotas",
            ("guarddutyMembers", "securityhubInvitationMembers", "securityhubOrganizationMembers"),
        )
        quotas = Quotas(
            guardduty_members=_positive_int(
                raw.get("guarddutyMembers", quotas.guardduty_members), "quotas.guarddutyMembers"
            ),
            securityhub_invitation_members=_positive_int(
                raw.get("securityhubInvitationMembers", quotas.securityhub_invitation_members),
                "quotas.securityhubInvitationMembers",
            ),
            securityhub_organization_members=_positive_int(
                raw.get("securityhubOrganizationMembers", quotas.securityhub_organization_members),
                "quotas.securityhubOrganizationMembers",
            ),
        )
    organization = None
    if top.get("organization") is not None:
        organization = _organization(top["organization"], "organization")
    state = SandboxState(default_account, organization=organization, quotas=quotas)
    if top.get("emailVerificationReads") is not None:
        state.email_verification_reads = _positive_int(
            top["emailVerificationReads"], "emailVerificationReads"
        )
    if organization is not None:
        _complete_organization(state, organization, top.get("accounts") or {})
    accounts = _mapping(top.get("accounts") or {}, "accounts", _string_keys(top.get("accounts")))
    pending: list[tuple[str, str, str, list[Any], str]] = []
    for account_key, raw_account in accounts.items():
        path = f"accounts.{account_key}"
        account_id = _account_id(account_key, path)
        entry = _mapping(
            raw_account if raw_account is not None else {},
            path,
            ("email", "roles", "disabledRegions", "regions"),
        )
        account = _declare_account(state, account_id, entry, path)
        regions = _mapping(
            entry.get("regions") or {}, f"{path}.regions", _string_keys(entry.get("regions"))
        )
        for region_key, raw_region in regions.items():
            where = f"{path}.regions.{region_key}"
            wildcard = region_key == "*"
            if not wildcard:
                _region(region_key, where)
            services = _mapping(raw_region if raw_region is not None else {}, where, SERVICES)
            if GUARDDUTY in services:
                gd = _gd_entry(services[GUARDDUTY], f"{where}.guardduty", not wildcard)
                if wildcard:
                    account.defaults[GUARDDUTY] = gd
                else:
                    account.guardduty[region_key] = _gd_from_entry(gd)
                    pending.append(
                        (account_id, region_key, GUARDDUTY, gd.get("members", []), where)
                    )
            if SECURITYHUB in services:
                sh = _sh_entry(services[SECURITYHUB], f"{where}.securityhub", not wildcard)
                if wildcard:
                    account.defaults[SECURITYHUB] = sh
                else:
                    account.securityhub[region_key] = _sh_from_entry(sh)
                    pending.append(
                        (account_id, region_key, SECURITYHUB, sh.get("members", []), where)
                    )
    # Members last: every account and region is declared by now, so links can be derived.
    for account_id, region, service, members, where in pending:
        table = state.account(account_id).service(service, region).members
        for index, raw_member in enumerate(members):
            path = f"{where}.{service}.members[{index}]"
            member = _member(raw_member, path, service)
            state._seed_member(service, region, account_id, table, member, path)
    for account in list(state._accounts.values()):
        for gd_region in account.guardduty.values():
            if gd_region.detector is not None:
                gd_region.created_at = state.loaded_at
        for sh_region in account.securityhub.values():
            if sh_region.enabled:
                sh_region.subscribed_at = state.loaded_at
    return state


def _string_keys(value: Any) -> list[str]:
    # Every key is allowed here; _mapping still rejects non-string keys (unquoted ids).
    return [k for k in value if isinstance(k, str)] if isinstance(value, dict) else []


def _complete_organization(
    state: SandboxState, org: Organization, accounts: Mapping[str, Any]
) -> None:
    # AWS lists the management account among the organization's accounts; add it when the
    # file does not, with the email from `accounts` when there is one.
    if org.management_account not in org.accounts:
        entry = accounts.get(org.management_account) if isinstance(accounts, dict) else None
        email = entry.get("email") if isinstance(entry, dict) else None
        org.accounts[org.management_account] = OrgAccount(
            account_id=org.management_account,
            email=email if isinstance(email, str) else f"{org.management_account}@example.invalid",
            name="management",
            status="ACTIVE",
            parent=org.root_id,
        )
        org.implicit = frozenset({org.management_account})


# --------------------------------------------------------------------------------------------
# Writing the state back
# --------------------------------------------------------------------------------------------


def _member_dict(member: Member) -> dict[str, Any]:
    out: dict[str, Any] = {"accountId": member.account_id}
    if member.email is not None:
        out["email"] = member.email
    out["status"] = member.status
    out["type"] = member.type
    if member.invited_at is not None:
        out["invitedAt"] = iso8601(member.invited_at)
    out["updatedAt"] = iso8601(member.updated_at)
    if member.invitations_sent:
        out["invitationsSent"] = member.invitations_sent
    if member.verification_reads:
        out["verificationReadsLeft"] = member.verification_reads
    return out


def _gd_dict(region: GuardDutyRegion) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if region.detector is not None:
        out["detector"] = region.detector
    if region.auto_enable_organization_members != "NONE":
        out["autoEnableOrganizationMembers"] = region.auto_enable_organization_members
    if len(region.members):
        out["members"] = [_member_dict(m) for m in region.members]
    return out


def _sh_dict(region: SecurityHubRegion) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if region.enabled:
        out["enabled"] = True
    if region.auto_enable:
        out["autoEnable"] = True
    if len(region.members):
        out["members"] = [_member_dict(m) for m in region.members]
    return out


def _dump(state: SandboxState) -> dict[str, Any]:
    out: dict[str, Any] = {"version": 1, "defaultAccount": state.default_account}
    if state.quotas != Quotas():
        out["quotas"] = {
            "guarddutyMembers": state.quotas.guardduty_members,
            "securityhubInvitationMembers": state.quotas.securityhub_invitation_members,
            "securityhubOrganizationMembers": state.quotas.securityhub_organization_members,
        }
    if state.email_verification_reads:
        out["emailVerificationReads"] = state.email_verification_reads
    org = state.organization
    if org is not None:
        org_out: dict[str, Any] = {
            "id": org.id,
            "managementAccount": org.management_account,
            "rootId": org.root_id,
        }
        if org.delegated_administrators:
            org_out["delegatedAdministrators"] = dict(org.delegated_administrators)
        if org.organizations_delegated_administrators:
            org_out["organizationsDelegatedAdministrators"] = list(
                org.organizations_delegated_administrators
            )
        if org.units:
            org_out["organizationalUnits"] = [
                {"id": u.id, "name": u.name, "parent": u.parent} for u in org.units.values()
            ]
        org_out["accounts"] = [
            {
                "accountId": a.account_id,
                "email": a.email,
                "name": a.name,
                "status": a.status,
                "parent": a.parent,
            }
            for a in org.accounts.values()
            if a.account_id not in org.implicit
        ]
        out["organization"] = org_out
    accounts: dict[str, Any] = {}
    for account_id in sorted(state._accounts):
        account = state._accounts[account_id]
        entry = _account_dict(account)
        if entry is not None:
            accounts[account_id] = entry
    if accounts:
        out["accounts"] = accounts
    return out


def _account_dict(account: AccountState) -> dict[str, Any] | None:
    regions: dict[str, Any] = {}
    if account.defaults:
        regions["*"] = {
            service: {k: v for k, v in entry.items() if k != "members"}
            for service, entry in account.defaults.items()
        }
    gd_default = _gd_dict(_gd_from_entry(account.defaults.get(GUARDDUTY)))
    sh_default = _sh_dict(_sh_from_entry(account.defaults.get(SECURITYHUB)))
    for region in sorted(set(account.guardduty) | set(account.securityhub)):
        services: dict[str, Any] = {}
        if region in account.guardduty:
            gd = _gd_dict(account.guardduty[region])
            if gd != gd_default:
                services[GUARDDUTY] = gd
        if region in account.securityhub:
            sh = _sh_dict(account.securityhub[region])
            if sh != sh_default:
                services[SECURITYHUB] = sh
        if services:
            regions[region] = services
    if not account.declared and not regions:
        return None
    out: dict[str, Any] = {}
    if account.email is not None:
        out["email"] = account.email
    if account.roles is not None:
        out["roles"] = list(account.roles)
    if account.disabled_regions:
        out["disabledRegions"] = sorted(account.disabled_regions)
    if regions:
        out["regions"] = regions
    return out


def replace_member(member: Member, **changes: Any) -> Member:
    """A copy of ``member`` with ``changes`` (records are frozen so counts stay right)."""
    return replace(member, **changes)
