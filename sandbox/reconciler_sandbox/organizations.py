"""Organizations handlers: the read-only calls that list an organization's accounts and OUs.

Served from the state's ``organization``. Only the management account and the accounts
listed in ``organizationsDelegatedAdministrators`` may list; any account of the organization
may DescribeOrganization (as in AWS); accounts outside it get
``AWSOrganizationsNotInUseException``. An account's ``State`` is its ``status`` in the state
file (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED, PENDING_ACTIVATION); ``Status``, which AWS
retired on 9 September 2026, is not sent.
"""

from __future__ import annotations

from reconciler_sandbox.context import (
    CallContext,
    Handler,
    Params,
    ServiceBehaviour,
    paginate_keys,
)
from reconciler_sandbox.records import OrgAccount, Organization
from reconciler_sandbox.wire import ApiError, InvalidRequest

_REASONS = {
    "required": "INPUT_REQUIRED",
    "min_length": "MIN_LENGTH_EXCEEDED",
    "max_length": "MAX_LENGTH_EXCEEDED",
    "min_value": "MIN_VALUE_EXCEEDED",
    "max_value": "MAX_VALUE_EXCEEDED",
    "enum": "INVALID_ENUM",
    "pattern": "INVALID_PATTERN",
}
_PAGE = 20


def invalid(error: InvalidRequest) -> ApiError:
    issue = error.issues[0]
    reason = _REASONS.get(issue.kind)
    if reason is None:
        return ApiError("SerializationException", error.smithy_message())
    return ApiError("InvalidInputException", error.smithy_message(), fields={"Reason": reason})


def _member_org(ctx: CallContext) -> Organization:
    org = ctx.state.organization_of(ctx.account)
    if org is None:
        raise ApiError(
            "AWSOrganizationsNotInUseException",
            "Your account is not a member of an organization.",
        )
    return org


def _privileged_org(ctx: CallContext) -> Organization:
    org = _member_org(ctx)
    if (
        ctx.account != org.management_account
        and ctx.account not in org.organizations_delegated_administrators
    ):
        raise ApiError(
            "AccessDeniedException",
            "You don't have permissions to access this resource.",
        )
    return org


def _arn(ctx: CallContext, org: Organization, kind: str, tail: str) -> str:
    return f"arn:{ctx.partition}:organizations::{org.management_account}:{kind}/{org.id}/{tail}"


def _page(keys: list[str], params: Params) -> tuple[list[str], str | None]:
    try:
        return paginate_keys(keys, params.get("NextToken"), params.get("MaxResults", _PAGE))
    except ValueError:
        raise ApiError(
            "InvalidInputException",
            "The NextToken is not valid.",
            fields={"Reason": "INVALID_NEXT_TOKEN"},
        ) from None


def _account(ctx: CallContext, org: Organization, account: OrgAccount) -> Params:
    return {
        "Id": account.account_id,
        "Arn": _arn(ctx, org, "account", account.account_id),
        "Email": account.email,
        "Name": account.name,
        # AWS retired the account's Status on 9 September 2026: State alone says it now.
        "State": account.status,
        "JoinedMethod": "CREATED" if account.account_id == org.management_account else "INVITED",
        "JoinedTimestamp": ctx.state.loaded_at,
    }


def _check_parent(org: Organization, parent: str) -> None:
    if parent not in org.parents():
        raise ApiError(
            "ParentNotFoundException",
            "We can't find a root or OU with the ParentId that you specified.",
        )


def describe_organization(ctx: CallContext, params: Params) -> Params:
    org = _member_org(ctx)
    management = org.accounts[org.management_account]
    return {
        "Organization": {
            "Id": org.id,
            "Arn": f"arn:{ctx.partition}:organizations::{org.management_account}:"
            f"organization/{org.id}",
            "FeatureSet": "ALL",
            "MasterAccountArn": _arn(ctx, org, "account", org.management_account),
            "MasterAccountId": org.management_account,
            "MasterAccountEmail": management.email,
            "AvailablePolicyTypes": [],
        }
    }


def describe_account(ctx: CallContext, params: Params) -> Params:
    org = _privileged_org(ctx)
    account = org.accounts.get(params["AccountId"])
    if account is None:
        raise ApiError(
            "AccountNotFoundException",
            "You specified an account that doesn't exist.",
        )
    return {"Account": _account(ctx, org, account)}


def list_roots(ctx: CallContext, params: Params) -> Params:
    org = _privileged_org(ctx)
    page, token = _page([org.root_id], params)
    roots = [
        {
            "Id": root,
            "Arn": _arn(ctx, org, "root", root),
            "Name": "Root",
            "PolicyTypes": [],
        }
        for root in page
    ]
    return {"Roots": roots, "NextToken": token}


def list_accounts(ctx: CallContext, params: Params) -> Params:
    org = _privileged_org(ctx)
    page, token = _page(sorted(org.accounts), params)
    return {
        "Accounts": [_account(ctx, org, org.accounts[a]) for a in page],
        "NextToken": token,
    }


def list_accounts_for_parent(ctx: CallContext, params: Params) -> Params:
    org = _privileged_org(ctx)
    parent = params["ParentId"]
    _check_parent(org, parent)
    keys = sorted(a.account_id for a in org.accounts.values() if a.parent == parent)
    page, token = _page(keys, params)
    return {
        "Accounts": [_account(ctx, org, org.accounts[a]) for a in page],
        "NextToken": token,
    }


def list_organizational_units_for_parent(ctx: CallContext, params: Params) -> Params:
    org = _privileged_org(ctx)
    parent = params["ParentId"]
    _check_parent(org, parent)
    keys = sorted(u.id for u in org.units.values() if u.parent == parent)
    page, token = _page(keys, params)
    return {
        "OrganizationalUnits": [
            {"Id": ou, "Arn": _arn(ctx, org, "ou", ou), "Name": org.units[ou].name} for ou in page
        ],
        "NextToken": token,
    }


HANDLERS: dict[str, Handler] = {
    "DescribeOrganization": describe_organization,
    "DescribeAccount": describe_account,
    "ListRoots": list_roots,
    "ListAccounts": list_accounts,
    "ListAccountsForParent": list_accounts_for_parent,
    "ListOrganizationalUnitsForParent": list_organizational_units_for_parent,
}

# Organizations is a global service: an opt-in region the caller has not enabled does not
# matter to it.
BEHAVIOUR = ServiceBehaviour(
    name="organizations", handlers=HANDLERS, invalid=invalid, region_disabled=None
)
