"""The sandbox's world: accounts, the organization, each service's resources, members, invitations.

Kept apart from the HTTP layer so that tests and benchmarks can build a world in Python
(:meth:`SandboxState.empty` + :meth:`SandboxState.add_members`) as well as from a YAML state
file (:meth:`SandboxState.load`), inspect it after a run, and write it back
(:meth:`SandboxState.save`) in the same format.

Only the administrator side of a relationship is stored (the member records, per
administrator, service and region). The member side (who my administrator is, which
invitations I have) is derived from it at load time and kept in step by every write, so the
two views can never disagree and the state file never says the same thing twice.

What differs between services (the region record and its section of the state file, the
member statuses, the quotas, the programmatic helpers) is declared by each service's plug-in
and read here from the registry (:mod:`reconciler_sandbox.services`); nothing here names one.

The state must stay cheap at 50,000 members in one shard: members live in dicts keyed by
account id, and list pages come from a sorted key list cached until the next write.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import TypeAdapter, ValidationError

from reconciler_sandbox import services, statefile
from reconciler_sandbox.plugin import ServicePlugin
from reconciler_sandbox.records import (
    AccountState,
    FieldError,
    Invitation,
    Member,
    MemberTable,
    OrgAccount,
    Organization,
    OrgUnit,
    SandboxStateError,
    ServiceRegion,
    invitation_id,
    now,
)
from reconciler_sandbox.wire import iso8601

__all__ = ["AccountState", "Member", "MemberTable", "SandboxState", "SandboxStateError"]

_T = TypeVar("_T")
_DEFAULT_ACCOUNT = re.compile(statefile.ACCOUNT_ID)


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


def _make_region(service: str, entry: Mapping[str, Any] | None) -> ServiceRegion:
    return services.BY_NAME[service].region.from_entry(entry)


def _plugin(service: str) -> ServicePlugin:
    found = services.BY_NAME.get(service)
    if found is None:
        raise SandboxStateError(f"service: {service!r} is not one of {', '.join(services.NAMES)}")
    return found


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
        quotas: Mapping[str, int] | None = None,
    ) -> None:
        if not _DEFAULT_ACCOUNT.match(default_account):
            raise SandboxStateError(f"defaultAccount: {default_account!r} is not a 12-digit id")
        self.lock = threading.RLock()
        self.default_account = default_account
        self.organization = organization
        # Member quotas by the state file's `quotas` key (each service declares its own).
        self.quotas: dict[str, int] = {**services.QUOTAS, **(quotas or {})}
        # Invitations of the services that verify the invitee's email stay in verification
        # for this many reads of the member record before they settle (0: at once).
        self.email_verification_reads = 0
        self.loaded_at = now()
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
        except FieldError as exc:
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
            found = AccountState(account_id, _make_region)
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
            admin = _ACCOUNT_ID(account_id, "accountId")
            validated = _ACCOUNT_ENTRY(entry, "")
            with self.lock:
                return _declare_account(self, admin, validated)
        except FieldError as exc:
            raise SandboxStateError(f"field {exc.path}: {exc.reason}") from None

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
        plugin = _plugin(service)
        try:
            admin = _ACCOUNT_ID(account_id, "accountId")
            _REGION(region, "region")
            entries = _member_list(plugin.name)(list(members), "members")
            with self.lock:
                table = self.account(admin).service(service, region).members
                for index, entry in enumerate(entries):
                    path = f"members[{index}]"
                    self._seed_member(
                        plugin, region, admin, table, _member(entry, path, plugin), path
                    )
        except FieldError as exc:
            raise SandboxStateError(f"field {exc.path}: {exc.reason}") from None

    def _seed_member(
        self,
        plugin: ServicePlugin,
        region: str,
        admin: str,
        table: MemberTable,
        member: Member,
        path: str,
    ) -> None:
        service = plugin.name
        if member.account_id == admin:
            raise FieldError(f"{path}.accountId", "an administrator cannot be its own member")
        if table.get(member.account_id) is not None:
            raise FieldError(f"{path}.accountId", f"{member.account_id} is listed twice")
        if member.status in plugin.associated:
            other = self._links.get((service, region, member.account_id))
            if other is not None and other != admin:
                raise FieldError(
                    f"{path}.status",
                    f"{member.account_id} is already associated with administrator {other}",
                )
            self.link(service, region, member.account_id, admin)
        elif member.status == plugin.invited:
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

    # ---- the services' own helpers --------------------------------------------------------

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """A helper a service's plug-in declares (``state_api``), bound to this state."""
        if not name.startswith("_"):
            for plugin in services.PLUGINS:
                helper = plugin.state_api.get(name)
                if helper is not None:
                    return functools.partial(helper, self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


# --------------------------------------------------------------------------------------------
# Building the state from the validated file (statefile's models)
# --------------------------------------------------------------------------------------------


class _Checker(Generic[_T]):
    """Validates one value against a type of the state file's models, errors as FieldError."""

    def __init__(self, kind: Any) -> None:
        self.kind = kind
        self.adapter: TypeAdapter[_T] = TypeAdapter(kind)

    def __call__(self, value: Any, path: str) -> _T:
        try:
            return self.adapter.validate_python(value)
        except ValidationError as exc:
            raise statefile.field_error(exc, self.kind, path) from None


_ACCOUNT_ID: _Checker[str] = _Checker(statefile.AccountId)
_REGION: _Checker[str] = _Checker(statefile.Region)
_ACCOUNT_ENTRY: _Checker[statefile.Account] = _Checker(statefile.Account)


@functools.cache
def _member_list(service: str) -> _Checker[list[Mapping[str, Any]]]:
    member: Any = services.BY_NAME[service].member
    return _Checker(list[member])


def _utc(moment: datetime | None) -> datetime | None:
    # A timestamp without a zone is UTC, as AWS's are.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _member(entry: Mapping[str, Any], path: str, plugin: ServicePlugin) -> Member:
    status: str = entry["status"]
    invited_at = _utc(entry.get("invitedAt"))
    updated_at = _utc(entry.get("updatedAt")) or invited_at or now()
    if invited_at is None and status == plugin.invited:
        # An open invitation needs its time: the invitation id is derived from it.
        invited_at = updated_at
    reads: int = entry.get("verificationReadsLeft", 0)
    if reads and status != plugin.verifying:
        raise FieldError(f"{path}.verificationReadsLeft", f"only for status {plugin.verifying}")
    return Member(
        entry["accountId"],
        entry.get("email"),
        status,
        entry.get("type", "invitation"),
        invited_at,
        updated_at,
        entry.get("invitationsSent", 0),
        reads,
        entry.get("disabledReason"),
    )


def _organization(entry: statefile.Organization, path: str) -> Organization:
    """The organization, with what its model cannot check: listed once, parents exist."""
    org = Organization(
        id=entry.id, management_account=entry.managementAccount, root_id=entry.rootId
    )
    delegated = entry.delegatedAdministrators
    if delegated is not None:
        org.delegated_administrators.update(delegated.model_dump(exclude_none=True))
    org.organizations_delegated_administrators = tuple(
        entry.organizationsDelegatedAdministrators or ()
    )
    for index, unit in enumerate(entry.organizationalUnits or ()):
        if unit.id in org.units:
            raise FieldError(
                f"{path}.organizationalUnits[{index}].id", f"{unit.id} is listed twice"
            )
        org.units[unit.id] = OrgUnit(unit.id, unit.name, unit.parent)
    for index, listed in enumerate(org.units.values()):
        if listed.parent not in org.parents() or listed.parent == listed.id:
            raise FieldError(
                f"{path}.organizationalUnits[{index}].parent",
                f"{listed.parent!r} is neither the root nor another listed OU",
            )
    _check_ou_cycles(org, path)
    for index, account in enumerate(entry.accounts or ()):
        where = f"{path}.accounts[{index}]"
        if account.accountId in org.accounts:
            raise FieldError(f"{where}.accountId", f"{account.accountId} is listed twice")
        parent = account.parent or org.root_id
        if parent not in org.parents():
            raise FieldError(f"{where}.parent", f"{parent!r} is neither the root nor a listed OU")
        org.accounts[account.accountId] = OrgAccount(
            account_id=account.accountId,
            email=account.email,
            name=account.name or f"account-{account.accountId}",
            status=account.status,
            parent=parent,
        )
    return org


def _check_ou_cycles(org: Organization, path: str) -> None:
    for unit in org.units.values():
        seen = {unit.id}
        parent = unit.parent
        while parent in org.units:
            if parent in seen:
                raise FieldError(f"{path}.organizationalUnits", f"OU {unit.id} is in a cycle")
            seen.add(parent)
            parent = org.units[parent].parent


def _declare_account(
    state: SandboxState, account_id: str, entry: statefile.Account
) -> AccountState:
    account = state.account(account_id)
    account.declared = True
    if entry.email is not None:
        account.email = entry.email
    if entry.roles is not None:
        account.roles = tuple(entry.roles)
    account.disabled_regions = frozenset(entry.disabledRegions or ())
    return account


def _build(data: Any) -> SandboxState:
    try:
        doc = services.DOCUMENT.model_validate(data)
    except ValidationError as exc:
        raise statefile.field_error(exc, services.DOCUMENT) from None
    organization = None
    if doc.organization is not None:
        organization = _organization(doc.organization, "organization")
    state = SandboxState(
        doc.defaultAccount, organization=organization, quotas=doc.quota_overrides()
    )
    if doc.emailVerificationReads is not None:
        state.email_verification_reads = doc.emailVerificationReads
    accounts = doc.accounts or {}
    if organization is not None:
        _complete_organization(state, organization, accounts)
    pending: list[tuple[str, str, ServicePlugin, Sequence[Mapping[str, Any]], str]] = []
    for account_id, raw_entry in accounts.items():
        entry = raw_entry if raw_entry is not None else statefile.Account()
        account = _declare_account(state, account_id, entry)
        for region_key, region in (entry.regions or {}).items():
            where = f"accounts.{account_id}.regions.{region_key}"
            for name, section in statefile.sections_of(region).items():
                plugin = services.BY_NAME[name]
                if region_key == "*":
                    if "members" in section.model_fields_set:
                        raise FieldError(f"{where}.{name}.members", 'not allowed under "*"')
                    account.defaults[name] = section.settings()
                else:
                    shards = account.regions.setdefault(name, {})
                    shards[region_key] = plugin.region.from_entry(section.settings())
                    pending.append((account_id, region_key, plugin, section.entries(), where))
    # Members last: every account and region is declared by now, so links can be derived.
    for account_id, region_name, plugin, members, where in pending:
        table = state.account(account_id).service(plugin.name, region_name).members
        for index, member_entry in enumerate(members):
            path = f"{where}.{plugin.name}.members[{index}]"
            member = _member(member_entry, path, plugin)
            state._seed_member(plugin, region_name, account_id, table, member, path)
    for account in list(state._accounts.values()):
        for shards in account.regions.values():
            for shard in shards.values():
                shard.loaded(state.loaded_at)
    return state


def _complete_organization(
    state: SandboxState, org: Organization, accounts: Mapping[str, statefile.Account | None]
) -> None:
    # AWS lists the management account among the organization's accounts; add it when the
    # file does not, with the email from `accounts` when there is one.
    if org.management_account not in org.accounts:
        entry = accounts.get(org.management_account)
        email = entry.email if entry is not None else None
        org.accounts[org.management_account] = OrgAccount(
            account_id=org.management_account,
            email=email if email is not None else f"{org.management_account}@example.invalid",
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
    if member.disabled_reason is not None:
        out["disabledReason"] = member.disabled_reason
    return out


def _section(shard: ServiceRegion) -> dict[str, Any]:
    out = shard.to_entry()
    if len(shard.members):
        out["members"] = [_member_dict(m) for m in shard.members]
    return out


def _dump(state: SandboxState) -> dict[str, Any]:
    out: dict[str, Any] = {"version": 1, "defaultAccount": state.default_account}
    if state.quotas != services.QUOTAS:
        out["quotas"] = dict(state.quotas)
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
    touched = {region for shards in account.regions.values() for region in shards}
    defaults = {
        plugin.name: _section(plugin.region.from_entry(account.defaults.get(plugin.name)))
        for plugin in services.PLUGINS
    }
    for region in sorted(touched):
        sections: dict[str, Any] = {}
        for plugin in services.PLUGINS:
            shard = account.regions.get(plugin.name, {}).get(region)
            if shard is None:
                continue
            section = _section(shard)
            if section != defaults[plugin.name]:
                sections[plugin.name] = section
        if sections:
            regions[region] = sections
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
