"""Expand a Manifest into the members each shard (service × region) must have.

This is where ``--service`` and ``--region`` narrow the run, and where the accounts listed from
AWS Organizations (``membersFrom``) join the explicit members. The result, a
:class:`~reconciler.model.DesiredState`, is what the differ compares with what AWS reports.
It runs on every invocation over up to tens of thousands of members, so it does nothing per
member but dictionary inserts: one shared :class:`~reconciler.model.DesiredMember` per account.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from reconciler.errors import UsageError
from reconciler.manifest.values import Manifest
from reconciler.model import DesiredMember, DesiredState, Service, ShardKey
from reconciler.services import registry


def expand(
    manifest: Manifest,
    services: Collection[Service] | None = None,
    regions: Collection[str] | None = None,
    organization_accounts: Sequence[DesiredMember] = (),
) -> DesiredState:
    """The desired members of every shard in scope, including shards that should have none.

    ``services`` and ``regions`` (None or empty: everything in the manifest) must be a subset
    of the manifest's, else :class:`~reconciler.errors.UsageError`. ``organization_accounts``
    are the accounts that ``membersFrom`` selected; each becomes a member in every shard in
    scope, except the administrator, ``exclude``'s accounts, and accounts listed explicitly in
    ``members`` (the explicit entry wins whole: its email, services and regions).
    """
    scoped_services = _scope_services(manifest, services)
    scoped_regions = _scope_regions(manifest, regions)
    keys = sorted(ShardKey(s, r) for s in scoped_services for r in scoped_regions)
    shards: dict[ShardKey, dict[str, DesiredMember]] = {key: {} for key in keys}
    by_shard = {(key.service, key.region): shards[key] for key in keys}
    region_set = frozenset(scoped_regions)
    every_region = len(region_set) == len(manifest.regions)
    for member in manifest.members:
        desired = DesiredMember(member.account_id, member.email)
        regions_in_scope = member.regions if every_region else member.regions & region_set
        for service in member.services:
            if service in scoped_services:
                for region in regions_in_scope:
                    by_shard[service, region][member.account_id] = desired
    if organization_accounts:
        explicit = {member.account_id for member in manifest.members}
        skip = {manifest.administrator_account_id}
        if manifest.members_from is not None:
            skip |= manifest.members_from.exclude
        for account in organization_accounts:
            if account.account_id in explicit or account.account_id in skip:
                continue
            for members in shards.values():
                members[account.account_id] = account
    return DesiredState(
        source=manifest.source,
        administrator_account_id=manifest.administrator_account_id,
        administrator_role_arn=manifest.administrator_role_arn,
        partition=manifest.partition,
        regions=scoped_regions,
        services={s: manifest.services[s] for s in scoped_services},
        shards=shards,
        prune=manifest.prune,
    )


def _scope_services(manifest: Manifest, wanted: Collection[Service] | None) -> tuple[Service, ...]:
    configured = tuple(s for s in registry.NAMES if s in manifest.services)
    if not wanted:
        return configured
    chosen: set[Service] = set()
    for name in wanted:
        service = Service(name)
        if service not in manifest.services:
            listed = ", ".join(configured)
            raise UsageError(f"--service {name} is not one of the manifest's services ({listed})")
        chosen.add(service)
    return tuple(s for s in configured if s in chosen)


def _scope_regions(manifest: Manifest, wanted: Collection[str] | None) -> tuple[str, ...]:
    if not wanted:
        return manifest.regions
    unknown = [r for r in wanted if r not in manifest.regions]
    if unknown:
        raise UsageError(
            f"--region {unknown[0]} is not one of the manifest's regions "
            f"({', '.join(manifest.regions)})"
        )
    return tuple(r for r in manifest.regions if r in set(wanted))
