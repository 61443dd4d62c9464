"""Security Hub handlers: the hub itself, and both sides of the administrator/member relationship.

Unlike GuardDuty, Security Hub has a rich error vocabulary (400, 401, 403, 404, 409, 429,
500, each with ``Code`` and ``Message`` in the body), answers every call with 401
``InvalidAccessException`` while the caller's hub is not enabled, and refuses a CreateMembers
over its quotas as a whole with 429 ``LimitExceededException``.
"""

from __future__ import annotations

from reconciler.sandbox import membership
from reconciler.sandbox.context import (
    CallContext,
    Handler,
    Params,
    ServiceBehaviour,
    decode_token,
    encode_token,
    paginate_keys,
)
from reconciler.sandbox.membership import Flavor
from reconciler.sandbox.state import SECURITYHUB, Member, SecurityHubRegion
from reconciler.sandbox.state import invitation_id as make_invitation_id
from reconciler.sandbox.wire import ApiError, InvalidRequest


def invalid_input(message: str, detail: str | None = None) -> ApiError:
    return ApiError("InvalidInputException", message, detail=detail)


def limit_exceeded(message: str) -> ApiError:
    return ApiError("LimitExceededException", message)


FLAVOR = Flavor(
    service=SECURITYHUB,
    label="Security Hub",
    bad_request=invalid_input,
    already_member=(
        "The request is rejected because the given account ID is already a member or "
        "associated member of the current account."
    ),
    already_invited=(
        "The request is rejected because the current account has already invited or is "
        "already the Security Hub administrator of the given member account ID."
    ),
    not_member=(
        "The request is rejected because the given account ID is not a member of the current "
        "account."
    ),
    management_first=(
        "Operation failed because your organization management account must first enable "
        "Security Hub to be added as a member"
    ),
    verify_email=False,
    member_cannot_administer=lambda message: ApiError("AccessDeniedException", message),
    limit_exceeded=limit_exceeded,
)


def invalid(error: InvalidRequest) -> ApiError:
    return invalid_input(error.smithy_message())


def throttled() -> ApiError:
    return ApiError("LimitExceededException", "Rate exceeded", status=429)


def internal() -> ApiError:
    return ApiError("InternalException", "Internal service error")


def region_disabled() -> ApiError:
    return ApiError(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        status=403,
    )


def _not_subscribed(account: str) -> ApiError:
    return ApiError(
        "InvalidAccessException", f"Account {account} is not subscribed to AWS Security Hub"
    )


def _hub(ctx: CallContext) -> SecurityHubRegion:
    sh = ctx.state.account(ctx.account).sh(ctx.region)
    if not sh.enabled:
        raise _not_subscribed(ctx.account)
    return sh


def _hub_arn(ctx: CallContext) -> str:
    return f"arn:{ctx.partition}:securityhub:{ctx.region}:{ctx.account}:hub/default"


def _token(token: str | None) -> str | None:
    try:
        return decode_token(token)
    except ValueError:
        raise invalid_input("The NextToken is not valid.") from None


def _unprocessed(entries: list[tuple[str, str]]) -> list[Params]:
    return [{"AccountId": account, "ProcessingResult": reason} for account, reason in entries]


def _member(admin: str, member: Member) -> Params:
    return {
        "AccountId": member.account_id,
        # Security Hub returns no email for organization members: the source of the
        # well-known false drift on the email of Terraform's aws_securityhub_member.
        "Email": member.email if member.type == "invitation" else None,
        "MasterId": admin,
        "AdministratorId": admin,
        "MemberStatus": member.status,
        "InvitedAt": member.invited_at,
        "UpdatedAt": member.updated_at,
    }


def _administrator(ctx: CallContext) -> Params | None:
    found = membership.administrator_of(ctx.state, FLAVOR, ctx.account, ctx.region)
    if found is None:
        return None
    admin, record = found
    out: Params = {"AccountId": admin, "MemberStatus": record.status}
    if record.invited_at is not None:
        out["InvitedAt"] = record.invited_at
        out["InvitationId"] = make_invitation_id(
            SECURITYHUB, ctx.region, admin, ctx.account, record.invited_at
        )
    return out


# --------------------------------------------------------------------------------------------
# The hub
# --------------------------------------------------------------------------------------------


def enable_security_hub(ctx: CallContext, params: Params) -> Params:
    sh = ctx.state.account(ctx.account).sh(ctx.region)
    if sh.enabled:
        raise ApiError("ResourceConflictException", "Account is already subscribed to Security Hub")
    sh.enabled = True
    sh.subscribed_at = ctx.now
    return {}


def describe_hub(ctx: CallContext, params: Params) -> Params:
    sh = _hub(ctx)
    arn = _hub_arn(ctx)
    asked = params.get("HubArn")
    if asked is not None and asked != arn:
        raise ApiError("ResourceNotFoundException", f"Hub {asked} not found")
    return {
        "HubArn": arn,
        "SubscribedAt": sh.subscribed_at or ctx.state.loaded_at,
        "AutoEnableControls": True,
        "ControlFindingGenerator": "SECURITY_CONTROL",
    }


# --------------------------------------------------------------------------------------------
# Administrator side
# --------------------------------------------------------------------------------------------


def create_members(ctx: CallContext, params: Params) -> Params:
    _hub(ctx)
    details = [(d["AccountId"], d.get("Email")) for d in params["AccountDetails"]]
    unprocessed = membership.create_members(
        ctx.state, FLAVOR, ctx.account, ctx.region, details, ctx.now
    )
    return {"UnprocessedAccounts": _unprocessed(unprocessed)}


def invite_members(ctx: CallContext, params: Params) -> Params:
    _hub(ctx)
    unprocessed = membership.invite_members(
        ctx.state, FLAVOR, ctx.account, ctx.region, params["AccountIds"], ctx.now
    )
    return {"UnprocessedAccounts": _unprocessed(unprocessed)}


def list_members(ctx: CallContext, params: Params) -> Params:
    sh = _hub(ctx)
    after = _token(params.get("NextToken"))
    only = params.get("OnlyAssociated", True)
    keep = (lambda m: m.status == "Enabled") if only else None
    page, more = sh.members.page(after, params.get("MaxResults", 50), keep)
    return {
        "Members": [_member(ctx.account, m) for m in page],
        "NextToken": encode_token(page[-1].account_id) if more else None,
    }


def get_members(ctx: CallContext, params: Params) -> Params:
    _hub(ctx)
    found, unprocessed = membership.get_members(
        ctx.state, FLAVOR, ctx.account, ctx.region, params["AccountIds"]
    )
    return {
        "Members": [_member(ctx.account, m) for m in found],
        "UnprocessedAccounts": _unprocessed(unprocessed),
    }


def disassociate_members(ctx: CallContext, params: Params) -> Params:
    _hub(ctx)
    # Security Hub's response has no UnprocessedAccounts: non-members are silently ignored.
    membership.disassociate_members(
        ctx.state, FLAVOR, ctx.account, ctx.region, params["AccountIds"], ctx.now
    )
    return {}


def delete_members(ctx: CallContext, params: Params) -> Params:
    _hub(ctx)
    unprocessed = membership.delete_members(
        ctx.state, FLAVOR, ctx.account, ctx.region, params["AccountIds"]
    )
    return {"UnprocessedAccounts": _unprocessed(unprocessed)}


def describe_organization_configuration(ctx: CallContext, params: Params) -> Params:
    sh = _hub(ctx)
    org = ctx.state.organization
    if org is None or org.delegated_administrators.get(SECURITYHUB) != ctx.account:
        raise ApiError(
            "InvalidAccessException",
            f"Account {ctx.account} is not an administrator for this organization",
        )
    return {
        "AutoEnable": sh.auto_enable,
        "MemberAccountLimitReached": membership.limit_reached(
            ctx.state, FLAVOR, ctx.account, ctx.region
        ),
        "AutoEnableStandards": "DEFAULT",
        "OrganizationConfiguration": {"ConfigurationType": "LOCAL", "Status": "ENABLED"},
    }


def list_organization_admin_accounts(ctx: CallContext, params: Params) -> Params:
    org = ctx.state.organization
    if org is None or org.management_account != ctx.account:
        raise ApiError(
            "InvalidAccessException",
            f"Account {ctx.account} is not the management account of an organization",
        )
    admin = org.delegated_administrators.get(SECURITYHUB)
    return {"AdminAccounts": [{"AccountId": admin, "Status": "ENABLED"}] if admin else []}


# --------------------------------------------------------------------------------------------
# Member side
# --------------------------------------------------------------------------------------------


def list_invitations(ctx: CallContext, params: Params) -> Params:
    _hub(ctx)
    invitations = {
        inv.administrator: inv
        for inv in membership.list_invitations(ctx.state, FLAVOR, ctx.account, ctx.region)
    }
    try:
        page, token = paginate_keys(
            sorted(invitations), params.get("NextToken"), params.get("MaxResults", 50)
        )
    except ValueError:
        raise invalid_input("The NextToken is not valid.") from None
    return {
        "Invitations": [
            {
                "AccountId": admin,
                "InvitationId": invitations[admin].invitation_id,
                "InvitedAt": invitations[admin].invited_at,
                "MemberStatus": "Invited",
            }
            for admin in page
        ],
        "NextToken": token,
    }


def accept_administrator_invitation(ctx: CallContext, params: Params) -> Params:
    _hub(ctx)
    membership.accept_invitation(
        ctx.state,
        FLAVOR,
        ctx.account,
        ctx.region,
        params["AdministratorId"],
        params["InvitationId"],
        ctx.now,
    )
    return {}


def accept_invitation(ctx: CallContext, params: Params) -> Params:
    _hub(ctx)
    membership.accept_invitation(
        ctx.state,
        FLAVOR,
        ctx.account,
        ctx.region,
        params["MasterId"],
        params["InvitationId"],
        ctx.now,
    )
    return {}


def get_administrator_account(ctx: CallContext, params: Params) -> Params:
    _hub(ctx)
    return {"Administrator": _administrator(ctx)}


def get_master_account(ctx: CallContext, params: Params) -> Params:
    _hub(ctx)
    return {"Master": _administrator(ctx)}


def disassociate_from_administrator_account(ctx: CallContext, params: Params) -> Params:
    _hub(ctx)
    membership.disassociate_from_administrator(ctx.state, FLAVOR, ctx.account, ctx.region, ctx.now)
    return {}


HANDLERS: dict[str, Handler] = {
    "EnableSecurityHub": enable_security_hub,
    "DescribeHub": describe_hub,
    "CreateMembers": create_members,
    "InviteMembers": invite_members,
    "ListMembers": list_members,
    "GetMembers": get_members,
    "DisassociateMembers": disassociate_members,
    "DeleteMembers": delete_members,
    "DescribeOrganizationConfiguration": describe_organization_configuration,
    "ListOrganizationAdminAccounts": list_organization_admin_accounts,
    "ListInvitations": list_invitations,
    "AcceptAdministratorInvitation": accept_administrator_invitation,
    "AcceptInvitation": accept_invitation,
    "GetAdministratorAccount": get_administrator_account,
    "GetMasterAccount": get_master_account,
    "DisassociateFromAdministratorAccount": disassociate_from_administrator_account,
    "DisassociateFromMasterAccount": disassociate_from_administrator_account,
}

BEHAVIOUR = ServiceBehaviour(
    name=SECURITYHUB,
    handlers=HANDLERS,
    invalid=invalid,
    region_disabled=region_disabled,
    throttled=throttled,
    internal=internal,
)
