"""The rules that need more than one value, or the region catalog, and the build of a Manifest.

pydantic has checked each value on its own (:mod:`reconciler.manifest.models`); here we check how
they fit together: regions against botocore's catalog and against one another, members against the
top-level services and regions, duplicates, the administrator, emails where a service needs them,
service quotas (each service's spec), and role ARNs against the partition. The same single pass over
the members builds the :class:`~reconciler.manifest.values.Manifest`, so a 50,000-member manifest is
walked once.

Problems are raised as :class:`Problem`, which carries a path into the merged document rather
than a file and line: :mod:`reconciler.manifest.loading` knows which file (and which YAML or
CSV line) each path came from.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.manifest.models import (
    ROLE_ARN_RE,
    ManifestDocument,
    Member,
    ServiceName,
)
from reconciler.manifest.values import Manifest, ManifestMember, OrganizationSource
from reconciler.manifest.yamlio import Loc, format_loc
from reconciler.model import (
    AcceptSettings,
    InvitationSettings,
    Mode,
    PruneSettings,
    RegionCatalog,
    Service,
    ServiceSettings,
)
from reconciler.services import registry

#: Members one administrator may have per region, from each service's spec (facts file,
#: section 7).
QUOTAS: Mapping[tuple[Service, Mode], int] = {
    (spec.name, mode): quota for spec in registry.SPECS for mode, quota in spec.quotas.items()
}


class Problem(Exception):
    """A rule broken at ``loc`` in the merged document.

    ``reason`` may contain ``{related}``, replaced by where ``related`` is written (for
    "listed twice: first on line 7").
    """

    def __init__(
        self,
        reason: str,
        loc: Loc,
        *,
        value: object = None,
        has_value: bool = False,
        related: Loc | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.loc = loc
        self.value = value
        self.has_value = has_value
        self.related = related


def check_and_build(
    doc: ManifestDocument,
    catalog: RegionCatalog,
    *,
    source: str,
    files: tuple[str, ...],
    digest: str,
) -> Manifest:
    """Apply the cross-field rules to a validated document and build the Manifest."""
    partition = _check_regions(doc.regions, catalog)
    admin = doc.administrator
    if admin.role_arn is not None:
        _check_role_arn(admin.role_arn, ("administrator", "roleArn"), partition, admin.account_id)
    services = _check_services(doc, catalog)
    members = _check_members(doc, services, admin.account_id)
    _check_unique_ids(doc.prune.protected_accounts, ("prune", "protectedAccounts"))
    members_from = None
    if doc.members_from is not None:
        org = doc.members_from.organization
        loc: Loc = ("membersFrom", "organization")
        if org.ous is not None:
            _check_unique(org.ous, (*loc, "ous"), "organizational unit")
        _check_unique_ids(org.exclude, (*loc, "exclude"))
        if org.role_arn is not None:
            _check_role_arn(org.role_arn, (*loc, "roleArn"), partition, None)
        members_from = OrganizationSource(
            ous=None if org.ous is None else tuple(org.ous),
            recursive=org.recursive,
            exclude=frozenset(org.exclude),
            role_arn=org.role_arn,
        )
    return Manifest(
        source=source,
        files=files,
        digest=digest,
        administrator_account_id=admin.account_id,
        administrator_role_arn=admin.role_arn,
        partition=partition,
        regions=tuple(doc.regions),
        services=services,
        members=members,
        prune=PruneSettings(
            enabled=doc.prune.enabled,
            max_deletions=doc.prune.max_deletions,
            protected_accounts=frozenset(doc.prune.protected_accounts),
        ),
        members_from=members_from,
    )


def _check_regions(regions: Sequence[str], catalog: RegionCatalog) -> str:
    every = sorted({r for names in catalog.regions_by_partition.values() for r in names})
    first_seen: dict[str, int] = {}
    partition: str | None = None
    first_region = ""
    for index, region in enumerate(regions):
        loc = ("regions", index)
        if region in first_seen:
            raise Problem(
                f"region {region} is listed twice (first at {{related}})",
                loc,
                value=region,
                has_value=True,
                related=("regions", first_seen[region]),
            )
        first_seen[region] = index
        found = catalog.partition_of(region)
        if found is None:
            close = [region.lower()] if region.lower() in every else []
            close = close or difflib.get_close_matches(region, every, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise Problem(
                f"unknown region {region!r} (not in botocore's endpoint data){hint}",
                loc,
                value=region,
                has_value=True,
            )
        if partition is None:
            partition, first_region = found, region
        elif found != partition:
            raise Problem(
                f"{region} is in partition {found} but {first_region} is in {partition}: "
                "one manifest manages one partition (use one manifest per partition)",
                loc,
                value=region,
                has_value=True,
            )
    assert partition is not None  # pydantic refused an empty list
    return partition


def _check_role_arn(arn: str, loc: Loc, partition: str, account_id: str | None) -> None:
    match = ROLE_ARN_RE.fullmatch(arn)
    assert match is not None  # the model checked the syntax
    if match["partition"] != partition:
        raise Problem(
            f"the role is in partition {match['partition']} but the regions are in {partition}",
            loc,
            value=arn,
            has_value=True,
        )
    if account_id is not None and match["account"] != account_id:
        raise Problem(
            f"the role belongs to account {match['account']}, not to the administrator "
            f"account {account_id}",
            loc,
            value=arn,
            has_value=True,
        )


def _check_services(
    doc: ManifestDocument, catalog: RegionCatalog
) -> dict[Service, ServiceSettings]:
    configured: list[tuple[Service, Any]] = [
        (service_spec.name, getattr(doc.services, service_spec.name))
        for service_spec in registry.SPECS
        if getattr(doc.services, service_spec.name) is not None
    ]
    if not configured:
        raise Problem(
            f"at least one service is required ({', '.join(registry.NAMES)})", ("services",)
        )
    settings: dict[Service, ServiceSettings] = {}
    for service, spec in configured:
        label = registry.spec_of(service).label
        for index, region in enumerate(doc.regions):
            if not catalog.offers(service, region):
                raise Problem(
                    f"{label} is not available in {region} (botocore's endpoint data)",
                    ("regions", index),
                    value=region,
                    has_value=True,
                )
        mode = Mode(spec.mode)
        if mode not in registry.spec_of(service).modes:
            raise Problem(
                f"{label} has no {mode.value} mode",
                ("services", service, "mode"),
                value=mode.value,
                has_value=True,
            )
        if spec.invitation is not None and mode is not Mode.INVITATION:
            raise Problem(
                f"invitation settings apply only in invitation mode, and services."
                f"{service}.mode is {mode.value}",
                ("services", service, "invitation"),
            )
        settings[service] = _service_settings(service, mode, spec)
    return settings


def _service_settings(service: Service, mode: Mode, spec: Any) -> ServiceSettings:
    invitation = spec.invitation
    if invitation is None:
        return ServiceSettings(service=service, mode=mode)
    accept = None
    if invitation.accept is not None:
        accept = AcceptSettings(
            role_name=invitation.accept.role_name,
            create_member_detector=getattr(invitation.accept, "create_member_detector", False),
        )
    return ServiceSettings(
        service=service,
        mode=mode,
        invitation=InvitationSettings(
            message=getattr(invitation, "message", None),
            disable_email_notification=getattr(invitation, "disable_email_notification", False),
        ),
        accept=accept,
        reinvite=invitation.reinvite,
    )


def _check_members(
    doc: ManifestDocument, services: Mapping[Service, ServiceSettings], admin_id: str
) -> tuple[ManifestMember, ...]:
    members = doc.members
    assert isinstance(members, list)  # the loader turned {csv: path} into entries
    all_services = frozenset(services)
    all_regions = frozenset(doc.regions)
    # Most members take the defaults; the rest share a few combinations, so the frozensets
    # are built once per combination, not once per member.
    service_sets: dict[tuple[ServiceName, ...], frozenset[Service]] = {}
    region_sets: dict[tuple[str, ...], frozenset[str]] = {}
    first_seen: dict[str, int] = {}
    # Lowercased email → the first member with it: AWS compares root emails ignoring case.
    email_owner: dict[str, int] = {}
    combos: Counter[tuple[frozenset[Service], frozenset[str]]] = Counter()
    built: list[ManifestMember] = []
    for index, member in enumerate(members):
        account_id = member.account_id
        if account_id == admin_id:
            raise Problem(
                "this is the administrator account (administrator.accountId); an "
                "administrator cannot be its own member",
                ("members", index, "accountId"),
                value=account_id,
                has_value=True,
            )
        if account_id in first_seen:
            raise Problem(
                f"account {account_id} is listed twice (first at {{related}}); list each "
                "member once",
                ("members", index, "accountId"),
                value=account_id,
                has_value=True,
                related=("members", first_seen[account_id], "accountId"),
            )
        first_seen[account_id] = index
        if member.email is not None:
            _check_unique_email(member.email, index, email_owner, members)
        if member.services is None:
            member_services = all_services
        else:
            key = tuple(member.services)
            member_services = service_sets.get(key) or _member_services(member, index, all_services)
            service_sets[key] = member_services
        if member.regions is None:
            member_regions = all_regions
        else:
            region_key = tuple(member.regions)
            member_regions = region_sets.get(region_key) or _member_regions(
                member, index, all_regions
            )
            region_sets[region_key] = member_regions
        if member.email is None:
            _check_email_needed(index, member_services, services)
        combos[member_services, member_regions] += 1
        built.append(ManifestMember(account_id, member.email, member_services, member_regions))
    _check_quotas(combos, built, services, doc.regions)
    return tuple(built)


def _check_unique_email(
    email: str, index: int, owner: dict[str, int], members: Sequence[Member]
) -> None:
    """Refuse a root email already given to another account (one dict lookup per member)."""
    key = email.lower()
    first = owner.setdefault(key, index)
    if first == index:
        return
    other = members[first]
    written = "" if other.email == email else f", written {other.email} there"
    raise Problem(
        f"account {members[index].account_id} has the same root email as account "
        f"{other.account_id} (at {{related}}{written}; AWS compares emails ignoring case): "
        "every AWS account has its own root email, so one of them is a copy error "
        f"({_VERIFIERS} would end it in EmailVerificationFailed)",
        ("members", index, "email"),
        value=email,
        has_value=True,
        related=("members", first, "email"),
    )


# The services that verify an invitee's email (and fail the invitation of a wrong one).
_VERIFIERS = registry.listed([spec.label for spec in registry.SPECS if spec.email.verified], "or")


def _check_email_needed(
    index: int, member_services: frozenset[Service], services: Mapping[Service, ServiceSettings]
) -> None:
    """Refuse a member without an email in the scope of a service that needs one."""
    for spec in registry.SPECS:
        if spec.name in member_services and spec.needs_email(services[spec.name].mode):
            # Only services of the manifest: a member's services must be among them.
            others = [
                other.name
                for other in registry.SPECS
                if other.name in services and not other.needs_email(services[other.name].mode)
            ]
            instead = f", or set services: [{', '.join(others)}]" if others else ""
            raise Problem(
                f"an email is required for a {spec.label} member ({spec.email.why}); add "
                f"email:{instead}",
                ("members", index),
            )


def _member_services(member: Member, index: int, allowed: frozenset[Service]) -> frozenset[Service]:
    assert member.services is not None
    seen: set[str] = set()
    for position, name in enumerate(member.services):
        loc = ("members", index, "services", position)
        if name in seen:
            raise Problem(f"service {name} is listed twice", loc, value=name, has_value=True)
        seen.add(name)
        if Service(name) not in allowed:
            listed = ", ".join(sorted(allowed))
            raise Problem(
                f"{name} is not under the top-level services ({listed}); add it there first",
                loc,
                value=name,
                has_value=True,
            )
    return frozenset(Service(name) for name in seen)


def _member_regions(member: Member, index: int, allowed: frozenset[str]) -> frozenset[str]:
    assert member.regions is not None
    seen: set[str] = set()
    for position, region in enumerate(member.regions):
        loc = ("members", index, "regions", position)
        if region in seen:
            raise Problem(f"region {region} is listed twice", loc, value=region, has_value=True)
        seen.add(region)
        if region not in allowed:
            raise Problem(
                f"{region} is not one of the top-level regions; add it there first",
                loc,
                value=region,
                has_value=True,
            )
    return frozenset(seen)


def _check_quotas(
    combos: Counter[tuple[frozenset[Service], frozenset[str]]],
    members: Sequence[ManifestMember],
    services: Mapping[Service, ServiceSettings],
    regions: Sequence[str],
) -> None:
    for service, settings in services.items():
        quota = QUOTAS[service, settings.mode]
        for region in regions:
            total = sum(n for (s, r), n in combos.items() if service in s and region in r)
            if total <= quota:
                continue
            # Point at the member that crosses the line: the list is too long from there on.
            count = 0
            for index, member in enumerate(members):
                if service in member.services and region in member.regions:
                    count += 1
                    if count > quota:
                        raise Problem(
                            f"{total:,} {registry.spec_of(service).label} members in {region} "
                            "exceed "
                            f"its quota of {quota:,} {settings.mode.value} members per "
                            "administrator per region; this is the first one over it",
                            ("members", index, "accountId"),
                            value=member.account_id,
                            has_value=True,
                        )


def _check_unique_ids(ids: Sequence[str], loc: Loc) -> None:
    _check_unique(ids, loc, "account")


def _check_unique(values: Sequence[str], loc: Loc, what: str) -> None:
    first_seen: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in first_seen:
            raise Problem(
                f"{what} {value} is listed twice in {format_loc(loc)} (first at {{related}})",
                (*loc, index),
                value=value,
                has_value=True,
                related=(*loc, first_seen[value]),
            )
        first_seen[value] = index
