"""Security Hub: the hub, both sides of the administrator/member relationship, and its records.

Security Hub has a rich error vocabulary (400, 401, 403, 404, 409, 429, 500, each with
``Code`` and ``Message`` in the body), answers every call with 401 ``InvalidAccessException``
while the caller's hub is not enabled, and refuses a CreateMembers over its quotas as a whole
with 429 ``LimitExceededException``; it verifies no email, and organization members cannot be
deleted (only disassociated).

In the state file a region's ``securityhub`` section is ``{enabled: bool, autoEnable: bool,
members: [...]}``; the quotas are ``quotas.securityhubInvitationMembers`` (1,000) and
``quotas.securityhubOrganizationMembers`` (10,000) per administrator and region.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Required, Self

from pydantic import with_config

from reconciler_sandbox import membership, statefile
from reconciler_sandbox.context import CallContext, Handler, Params, ServiceBehaviour
from reconciler_sandbox.member_handlers import MemberApi, MemberFilter
from reconciler_sandbox.membership import ASSOCIATED, Flavor, Unprocessed
from reconciler_sandbox.plugin import ServicePlugin
from reconciler_sandbox.records import Member, MemberTable, ServiceRegion, World, now
from reconciler_sandbox.wire import ApiError, InvalidRequest

NAME = "securityhub"
INVITATION_QUOTA = "securityhubInvitationMembers"
ORGANIZATION_QUOTA = "securityhubOrganizationMembers"


# --------------------------------------------------------------------------------------------
# Records: the hub of one account and region, and its state-file section
# --------------------------------------------------------------------------------------------

# The classic statuses but Disabled and EmailVerificationFailed, which Security Hub has not.
Status = Literal[
    "Created",
    "Invited",
    "EmailVerificationInProgress",
    "Enabled",
    "Removed",
    "Resigned",
    "AccountSuspended",
    "RegionDisabled",
]


@with_config(statefile.ENTRY_CONFIG)
class SecurityHubMember(statefile.MemberEntry, total=False):
    """A Security Hub member in the state file."""

    status: Required[Status]


class SecurityHubSection(statefile.Section):
    """``regions.<region>.securityhub``: whether the hub is enabled, AutoEnable, members."""

    enabled: statefile.StrictBool | None = None
    autoEnable: statefile.StrictBool | None = None
    members: list[SecurityHubMember] | None = None


@dataclass(slots=True)
class SecurityHubRegion(ServiceRegion):
    """Security Hub in one account and region."""

    enabled: bool = False
    auto_enable: bool = False
    subscribed_at: datetime | None = None

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any] | None) -> Self:
        if not entry:
            return cls()
        return cls(
            enabled=bool(entry.get("enabled", False)),
            auto_enable=bool(entry.get("autoEnable", False)),
        )

    def to_entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.enabled:
            out["enabled"] = True
        if self.auto_enable:
            out["autoEnable"] = True
        return out

    @property
    def ready(self) -> bool:
        return self.enabled

    def turn_on(self, at: datetime) -> None:
        self.enabled = True
        self.subscribed_at = at

    def loaded(self, at: datetime) -> None:
        if self.enabled:
            self.subscribed_at = at


def region_of(state: World, account: str, region: str) -> SecurityHubRegion:
    found = state.account(account).service(NAME, region)
    assert isinstance(found, SecurityHubRegion)
    return found


def _refuse_over_quotas(
    state: World,
    flavor: Flavor,
    table: MemberTable,
    planned: list[Member],
    unprocessed: Unprocessed,
) -> list[Member]:
    # Security Hub refuses a call over its quotas as a whole.
    quotas = state.quotas
    new = [m for m in planned if table.get(m.account_id) is None]
    invitations = table.count("invitation") + sum(1 for m in new if m.type == "invitation")
    organization = table.count("organization") + sum(1 for m in new if m.type == "organization")
    if invitations > quotas[INVITATION_QUOTA]:
        raise limit_exceeded(
            "The request would exceed the quota of "
            f"{quotas[INVITATION_QUOTA]} invitation member accounts per "
            "administrator account in this Region."
        )
    if organization > quotas[ORGANIZATION_QUOTA]:
        raise limit_exceeded(
            "The request would exceed the quota of "
            f"{quotas[ORGANIZATION_QUOTA]} organization member accounts per "
            "administrator account in this Region."
        )
    return planned


def _limit_reached(state: World, table: MemberTable) -> bool:
    return table.count("organization") >= state.quotas[ORGANIZATION_QUOTA]


def invalid_input(message: str, detail: str | None = None) -> ApiError:
    return ApiError("InvalidInputException", message, detail=detail)


def limit_exceeded(message: str) -> ApiError:
    return ApiError("LimitExceededException", message)


FLAVOR = Flavor(
    service=NAME,
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
    apply_quotas=_refuse_over_quotas,
    limit_reached=_limit_reached,
    organization_member_not_deletable=(
        "The request is rejected because organization member accounts cannot be deleted; "
        "disassociate them instead."
    ),
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
    sh = region_of(ctx.state, ctx.account, ctx.region)
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
    sh = region_of(ctx.state, ctx.account, ctx.region)
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
    if org is None or org.delegated_administrators.get(NAME) != ctx.account:
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
    admin = org.delegated_administrators.get(NAME)
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
    name=NAME,
    handlers=HANDLERS,
    invalid=invalid,
    region_disabled=region_disabled,
    throttled=throttled,
    internal=internal,
)


# --------------------------------------------------------------------------------------------
# Programmatic helpers (``state.set_security_hub(...)``, ``state.hub_enabled(...)``)
# --------------------------------------------------------------------------------------------


def set_security_hub(
    state: World, account_id: str, region: str, enabled: bool, *, auto_enable: bool | None = None
) -> None:
    with state.lock:
        sh = region_of(state, account_id, region)
        if enabled and not sh.enabled:
            sh.subscribed_at = now()
        sh.enabled = enabled
        if auto_enable is not None:
            sh.auto_enable = auto_enable


def hub_enabled(state: World, account_id: str, region: str) -> bool:
    with state.lock:
        return region_of(state, account_id, region).enabled


PLUGIN = ServicePlugin(
    name=NAME,
    label="Security Hub",
    region=SecurityHubRegion,
    section=SecurityHubSection,
    member=SecurityHubMember,
    associated=ASSOCIATED,
    invited="Invited",
    verifying="EmailVerificationInProgress",
    quotas={INVITATION_QUOTA: 1_000, ORGANIZATION_QUOTA: 10_000},
    behaviour=BEHAVIOUR,
    verifies_email=FLAVOR.verify_email,
    names=("securityhub", "Security Hub", "SecurityHub", "DescribeHub", "HubArn"),
    state_api={"set_security_hub": set_security_hub, "hub_enabled": hub_enabled},
)
