"""Members from AWS Organizations: the ACTIVE accounts of the organization or of some OUs.

``membersFrom.organization`` lets a manifest say "every account of the organization" (or of
these OUs, recursively) instead of listing them. The accounts are read with ListAccounts (the
whole organization) or ListAccountsForParent and ListOrganizationalUnitsForParent (OUs), every
page, optionally as another role (``roleArn``: the management account, or a delegated
administrator of Organizations, is who may list them). Their emails come from Organizations,
which GuardDuty needs; explicit ``members`` entries still win (see ``manifest.expand``).

Organizations is a global service whose endpoint lives in one region per partition.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reconciler.aws import operations
from reconciler.aws.session import ClientFactory, assume_role, paginate
from reconciler.model import DesiredMember

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


def organization_members(
    factory: ClientFactory,
    *,
    partition: str,
    ous: tuple[str, ...] | None,
    recursive: bool,
    role_arn: str | None,
    sts_region: str,
) -> list[DesiredMember]:
    """The ACTIVE accounts selected, sorted by account ID, each once."""
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
    unique = {account.account_id: account for account in accounts}
    return [unique[account_id] for account_id in sorted(unique)]


def _parents(client: Any, where: dict[str, str], ou: str, *, recursive: bool) -> Iterator[str]:
    yield ou
    if not recursive:
        return
    pages = paginate(client, "ListOrganizationalUnitsForParent", **where, ParentId=ou)
    for page in pages:
        for child in page.get("OrganizationalUnits", ()):
            yield from _parents(client, where, str(child["Id"]), recursive=True)


def _accounts(pages: list[dict[str, Any]]) -> list[DesiredMember]:
    return [
        DesiredMember(str(account["Id"]), str(account.get("Email") or "") or None)
        for page in pages
        for account in page.get("Accounts", ())
        if str(account.get("Status", "ACTIVE")).upper() == "ACTIVE"
    ]
