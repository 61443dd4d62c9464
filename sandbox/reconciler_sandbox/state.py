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
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from reconciler_sandbox import fields, services
from reconciler_sandbox.fields import ACCOUNT_ID, join
from reconciler_sandbox.plugin import ServicePlugin
from reconciler_sandbox.records import (
    MEMBER_TYPES,
    ORG_ACCOUNT_STATUSES,
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
        if not ACCOUNT_ID.match(default_account):
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
            with self.lock:
                return _declare_account(self, fields.account_id(account_id, "accountId"), entry, "")
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
            admin = fields.account_id(account_id, "accountId")
            fields.region(region, "region")
            with self.lock:
                table = self.account(admin).service(service, region).members
                for index, raw in enumerate(members):
                    member = _member(raw, f"members[{index}]", plugin)
                    self._seed_member(plugin, region, admin, table, member, f"members[{index}]")
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
# Strict parsing of the state file
# --------------------------------------------------------------------------------------------

_MEMBER_KEYS = (
    "accountId",
    "email",
    "status",
    "type",
    "invitedAt",
    "updatedAt",
    "invitationsSent",
    "verificationReadsLeft",
    "disabledReason",
)


def _member(raw: Any, path: str, plugin: ServicePlugin) -> Member:
    entry = fields.mapping(raw, path, _MEMBER_KEYS, ("accountId", "status"))
    account_id = fields.account_id(entry["accountId"], f"{path}.accountId")
    email = (
        fields.email(entry["email"], f"{path}.email") if entry.get("email") is not None else None
    )
    status = fields.enum(entry["status"], f"{path}.status", plugin.member_statuses)
    member_type = fields.enum(entry.get("type", "invitation"), f"{path}.type", MEMBER_TYPES)
    invited_at = (
        fields.timestamp(entry["invitedAt"], f"{path}.invitedAt") if "invitedAt" in entry else None
    )
    updated_at = (
        fields.timestamp(entry["updatedAt"], f"{path}.updatedAt") if "updatedAt" in entry else None
    )
    if updated_at is None:
        updated_at = invited_at or now()
    if invited_at is None and status == plugin.invited:
        # An open invitation needs its time: the invitation id is derived from it.
        invited_at = updated_at
    sent = 0
    if "invitationsSent" in entry:
        sent = fields.non_negative_int(entry["invitationsSent"], f"{path}.invitationsSent")
    reads = 0
    if "verificationReadsLeft" in entry:
        reads = fields.non_negative_int(
            entry["verificationReadsLeft"], f"{path}.verificationReadsLeft"
        )
        if reads and status != plugin.verifying:
            raise FieldError(f"{path}.verificationReadsLeft", f"only for status {plugin.verifying}")
    reason = None
    if entry.get("disabledReason") is not None:
        if not plugin.disabled_reasons:
            raise FieldError(f"{path}.disabledReason", f"{plugin.label} members have none")
        reason = fields.enum(
            entry["disabledReason"], f"{path}.disabledReason", plugin.disabled_reasons
        )
    return Member(
        account_id, email, status, member_type, invited_at, updated_at, sent, reads, reason
    )


def _organization(raw: Any, path: str) -> Organization:
    entry = fields.mapping(
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
    org_id = fields.string(entry["id"], f"{path}.id")
    if not _ORG_ID.match(org_id):
        raise FieldError(f"{path}.id", f"{org_id!r} is not an organization id like o-abc1234567")
    root_id = fields.string(entry["rootId"], f"{path}.rootId")
    if not _ROOT_ID.match(root_id):
        raise FieldError(f"{path}.rootId", f"{root_id!r} is not a root id like r-ab12")
    org = Organization(
        id=org_id,
        management_account=fields.account_id(
            entry["managementAccount"], f"{path}.managementAccount"
        ),
        root_id=root_id,
    )
    delegated = fields.mapping(
        entry.get("delegatedAdministrators") or {},
        f"{path}.delegatedAdministrators",
        services.NAMES,
    )
    for service, account in delegated.items():
        org.delegated_administrators[service] = fields.account_id(
            account, f"{path}.delegatedAdministrators.{service}"
        )
    org_admins = fields.listing(
        entry.get("organizationsDelegatedAdministrators") or [],
        f"{path}.organizationsDelegatedAdministrators",
    )
    org.organizations_delegated_administrators = tuple(
        fields.account_id(a, f"{path}.organizationsDelegatedAdministrators[{i}]")
        for i, a in enumerate(org_admins)
    )
    units = fields.listing(entry.get("organizationalUnits") or [], f"{path}.organizationalUnits")
    for index, raw_unit in enumerate(units):
        where = f"{path}.organizationalUnits[{index}]"
        unit = fields.mapping(raw_unit, where, ("id", "name", "parent"), ("id", "name", "parent"))
        unit_id = fields.string(unit["id"], f"{where}.id")
        if not _OU_ID.match(unit_id):
            raise FieldError(f"{where}.id", f"{unit_id!r} is not an OU id like ou-ab12-11111111")
        if unit_id in org.units:
            raise FieldError(f"{where}.id", f"{unit_id} is listed twice")
        org.units[unit_id] = OrgUnit(
            unit_id,
            fields.string(unit["name"], f"{where}.name"),
            fields.string(unit["parent"], f"{where}.parent"),
        )
    for index, listed in enumerate(org.units.values()):
        if listed.parent not in org.parents() or listed.parent == listed.id:
            raise FieldError(
                f"{path}.organizationalUnits[{index}].parent",
                f"{listed.parent!r} is neither the root nor another listed OU",
            )
    _check_ou_cycles(org, path)
    accounts = fields.listing(entry.get("accounts") or [], f"{path}.accounts")
    for index, raw_account in enumerate(accounts):
        where = f"{path}.accounts[{index}]"
        acct = fields.mapping(
            raw_account,
            where,
            ("accountId", "email", "name", "status", "parent"),
            ("accountId", "email"),
        )
        account_id = fields.account_id(acct["accountId"], f"{where}.accountId")
        if account_id in org.accounts:
            raise FieldError(f"{where}.accountId", f"{account_id} is listed twice")
        parent = acct.get("parent", org.root_id)
        if parent not in org.parents():
            raise FieldError(f"{where}.parent", f"{parent!r} is neither the root nor a listed OU")
        org.accounts[account_id] = OrgAccount(
            account_id=account_id,
            email=fields.email(acct["email"], f"{where}.email"),
            name=fields.string(acct.get("name", f"account-{account_id}"), f"{where}.name"),
            status=fields.enum(
                acct.get("status", "ACTIVE"), f"{where}.status", ORG_ACCOUNT_STATUSES
            ),
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
    state: SandboxState, account_id: str, entry: Mapping[str, Any], path: str
) -> AccountState:
    account = state.account(account_id)
    account.declared = True
    if entry.get("email") is not None:
        account.email = fields.email(entry["email"], join(path, "email"))
    if entry.get("roles") is not None:
        roles = fields.listing(entry["roles"], join(path, "roles"))
        for index, role in enumerate(roles):
            if not isinstance(role, str) or not _ROLE_NAME.match(role):
                raise FieldError(f"{join(path, 'roles')}[{index}]", f"{role!r} is not a role name")
        account.roles = tuple(roles)
    disabled = fields.listing(entry.get("disabledRegions") or [], join(path, "disabledRegions"))
    account.disabled_regions = frozenset(
        fields.region(r, f"{join(path, 'disabledRegions')}[{i}]") for i, r in enumerate(disabled)
    )
    return account


def _build(data: Any) -> SandboxState:
    top = fields.mapping(
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
        raise FieldError("version", f"{top['version']!r} is not a supported version (1)")
    if "defaultAccount" not in top:
        raise FieldError("defaultAccount", "is required")
    default_account = fields.account_id(top["defaultAccount"], "defaultAccount")
    quotas: dict[str, int] = {}
    if top.get("quotas") is not None:
        raw = fields.mapping(top["quotas"], "quotas", services.QUOTAS)
        quotas = {
            key: fields.non_negative_int(value, f"quotas.{key}") for key, value in raw.items()
        }
    organization = None
    if top.get("organization") is not None:
        organization = _organization(top["organization"], "organization")
    state = SandboxState(default_account, organization=organization, quotas=quotas)
    if top.get("emailVerificationReads") is not None:
        state.email_verification_reads = fields.non_negative_int(
            top["emailVerificationReads"], "emailVerificationReads"
        )
    if organization is not None:
        _complete_organization(state, organization, top.get("accounts") or {})
    accounts = fields.mapping(
        top.get("accounts") or {}, "accounts", _string_keys(top.get("accounts"))
    )
    pending: list[tuple[str, str, ServicePlugin, list[Any], str]] = []
    for account_key, raw_account in accounts.items():
        path = f"accounts.{account_key}"
        account_id = fields.account_id(account_key, path)
        entry = fields.mapping(
            raw_account if raw_account is not None else {},
            path,
            ("email", "roles", "disabledRegions", "regions"),
        )
        account = _declare_account(state, account_id, entry, path)
        regions = fields.mapping(
            entry.get("regions") or {}, f"{path}.regions", _string_keys(entry.get("regions"))
        )
        for region_key, raw_region in regions.items():
            where = f"{path}.regions.{region_key}"
            wildcard = region_key == "*"
            if not wildcard:
                fields.region(region_key, where)
            sections = fields.mapping(
                raw_region if raw_region is not None else {}, where, services.NAMES
            )
            for plugin in services.PLUGINS:
                if plugin.name not in sections:
                    continue
                section = plugin.region.parse_entry(
                    sections[plugin.name], f"{where}.{plugin.name}", not wildcard
                )
                if wildcard:
                    account.defaults[plugin.name] = section
                else:
                    shards = account.regions.setdefault(plugin.name, {})
                    shards[region_key] = plugin.region.from_entry(section)
                    pending.append(
                        (account_id, region_key, plugin, section.get("members", []), where)
                    )
    # Members last: every account and region is declared by now, so links can be derived.
    for account_id, region, plugin, members, where in pending:
        table = state.account(account_id).service(plugin.name, region).members
        for index, raw_member in enumerate(members):
            path = f"{where}.{plugin.name}.members[{index}]"
            member = _member(raw_member, path, plugin)
            state._seed_member(plugin, region, account_id, table, member, path)
    for account in list(state._accounts.values()):
        for shards in account.regions.values():
            for shard in shards.values():
                shard.loaded(state.loaded_at)
    return state


def _string_keys(value: Any) -> list[str]:
    # Every key is allowed here; fields.mapping still rejects non-string keys (unquoted ids).
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
