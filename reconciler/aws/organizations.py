"""Members from AWS Organizations: the ACTIVE accounts of the organization or of some OUs.

``membersFrom.organization`` lets a manifest say "every account of the organization" (or of these
OUs, recursively) instead of listing them. The accounts are read with ListAccounts (the whole
organization) or ListAccountsForParent and ListOrganizationalUnitsForParent (OUs), every page,
optionally as another role (``roleArn``: the management account, or a delegated administrator of
Organizations, is who may list them). Their emails come from Organizations, which some services'
CreateMembers needs; explicit ``members`` entries still win (see ``manifest.expand``).

Only ACTIVE accounts are enrolled. The others (suspended, closing, closed, not yet activated)
are returned as *skipped* with their state, for the run to report: AWS refuses to enroll them,
and a service may still list a suspended member as Enabled, so they must not look like
members to add, nor like unmanaged members to prune. The state is read from ``State``;
``Status``, its predecessor (retired by AWS on 9 September 2026, and without CLOSED), only when
``State`` is absent.

Organizations is a global service whose endpoint lives in one region per partition.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.aws.session import ClientFactory, assume_role, paginate
from reconciler.model import DesiredMember, DesiredState
from reconciler.services import operations

OPERATIONS = operations.declare(
    "organizations",
    reads=("ListAccounts", "ListAccountsForParent", "ListOrganizationalUnitsForParent"),
    principal="organization-reader",
)

ORGANIZATIONS_REGION = {
    "aws": "us-east-1",
    "aws-us-gov": "us-gov-west-1",
    "aws-cn": "cn-northwest-1",
}


@dataclass(frozen=True, slots=True)
class OrganizationListing:
    """The accounts selected: the ACTIVE ones, and the others by account ID with their state."""

    members: list[DesiredMember]
    skipped: dict[str, str] = field(default_factory=dict)


def organization_accounts(
    factory: ClientFactory,
    *,
    partition: str,
    ous: tuple[str, ...] | None,
    recursive: bool,
    role_arn: str | None,
    sts_region: str,
) -> OrganizationListing:
    """The accounts selected, sorted by account ID, each once: ACTIVE ones and the skipped."""
    if role_arn:
        factory = assume_role(factory, role_arn, region=sts_region, session_name="reconciler-org")
    region = ORGANIZATIONS_REGION.get(partition, "us-east-1")
    client = factory.client("organizations", region)
    where = {"service": "organizations", "region": region}
    if ous is None:
        accounts = _accounts(paginate(client, "ListAccounts", **where))
    else:
        accounts = []
        for ou in ous:
            for parent in _parents(client, where, ou, recursive=recursive):
                pages = paginate(client, "ListAccountsForParent", **where, ParentId=parent)
                accounts.extend(_accounts(pages))
    unique = {account.account_id: (account, state) for account, state in accounts}
    members = [unique[a][0] for a in sorted(unique) if unique[a][1] == "ACTIVE"]
    skipped = {a: unique[a][1] for a in sorted(unique) if unique[a][1] != "ACTIVE"}
    return OrganizationListing(members, skipped)


def _parents(client: Any, where: dict[str, str], ou: str, *, recursive: bool) -> Iterator[str]:
    yield ou
    if not recursive:
        return
    pages = paginate(client, "ListOrganizationalUnitsForParent", **where, ParentId=ou)
    for page in pages:
        for child in page.get("OrganizationalUnits", ()):
            yield from _parents(client, where, str(child["Id"]), recursive=True)


def _accounts(pages: list[dict[str, Any]]) -> list[tuple[DesiredMember, str]]:
    return [
        (
            DesiredMember(str(account["Id"]), str(account.get("Email") or "") or None),
            _state(account),
        )
        for page in pages
        for account in page.get("Accounts", ())
    ]


def _state(account: dict[str, Any]) -> str:
    return str(account.get("State") or account.get("Status") or "ACTIVE").upper()


def with_skipped(
    desired: DesiredState, skipped: Mapping[str, str], *, exclude: Collection[str]
) -> DesiredState:
    """``desired`` with the skipped accounts it does not list itself, nor excludes."""
    listed = {account for members in desired.shards.values() for account in members}
    left_out = {*exclude, desired.administrator_account_id}
    kept = {
        account: state
        for account, state in skipped.items()
        if account not in listed and account not in left_out
    }
    return replace(desired, skipped=kept) if kept else desired
