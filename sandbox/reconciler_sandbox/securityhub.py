"""Security Hub handlers: the hub itself, and both sides of the administrator/member relationship.

Unlike GuardDuty, Security Hub has a rich error vocabulary (400, 401, 403, 404, 409, 429,
500, each with ``Code`` and ``Message`` in the body), answers every call with 401
``InvalidAccessException`` while the caller's hub is not enabled, and refuses a CreateMembers
over its quotas as a whole with 429 ``LimitExceededException``.
"""

from __future__ import annotations

from reconciler_sandbox import membership
from reconciler_sandbox.context import CallContext, Handler, Params, ServiceBehaviour
from reconciler_sandbox.member_handlers import MemberApi, MemberFilter
from reconciler_sandbox.membership import Flavor
from reconciler_sandbox.state import SECURITYHUB, Member, SecurityHubRegion
from reconciler_sandbox.wire import ApiError, InvalidRequest


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


def _member(ctx: CallContext, member: Member) -> Params:
    return {
        "AccountId": member.account_id,
        # Security Hub returns no email for organization members: the source of the
        # well-known false drift on the email of Terraform's aws_securityhub_member.
        "Email": member.email if member.type == "invitation" else None,
        "MasterId": ctx.account,
        "AdministratorId": ctx.account,
        "MemberStatus": member.status,
        "InvitedAt": member.invited_at,
        "UpdatedAt": member.updated_at,
    }


def _only_associated(params: Params) -> MemberFilter | None:
    # Security Hub models OnlyAssociated as a boolean, and counts only Enabled members.
    return (lambda m: m.status == "Enabled") if params.get("OnlyAssociated", True) else None


API = MemberApi(
    flavor=FLAVOR,
    check=lambda ctx, _params: _hub(ctx),
    check_list_invitations=True,
    status_field="MemberStatus",
    result_field="ProcessingResult",
    bad_token=lambda: invalid_input("The NextToken is not valid."),
    render_member=_member,
    only_associated=_only_associated,
    invitation_fields=("AccountId", "InvitationId", "InvitedAt", "MemberStatus"),
)


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
# Administrator side (the member operations themselves are API's)
# --------------------------------------------------------------------------------------------


def disassociate_members(ctx: CallContext, params: Params) -> Params:
    # Security Hub's response has no UnprocessedAccounts: non-members are silently ignored.
    API.disassociate_members(ctx, params)
    return {}


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


HANDLERS: dict[str, Handler] = {
    "EnableSecurityHub": enable_security_hub,
    "DescribeHub": describe_hub,
    **API.handlers(),
    "DisassociateMembers": disassociate_members,  # replaces the shared one: see there
    "DescribeOrganizationConfiguration": describe_organization_configuration,
    "ListOrganizationAdminAccounts": list_organization_admin_accounts,
}

BEHAVIOUR = ServiceBehaviour(
    name=SECURITYHUB,
    handlers=HANDLERS,
    invalid=invalid,
    region_disabled=region_disabled,
    throttled=throttled,
    internal=internal,
)
