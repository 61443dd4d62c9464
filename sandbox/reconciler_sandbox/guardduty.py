"""GuardDuty: detectors, both sides of the administrator/member relationship, and its records.

GuardDuty models only two errors for these operations, ``BadRequestException`` (400) and
``InternalServerErrorException`` (500); the finer reason travels in the body's ``type``.
Every detector-scoped call first checks that the caller owns the detector in the path.

In the state file a region's ``guardduty`` section is ``{detector: ENABLED|DISABLED,
autoEnableOrganizationMembers: NEW|ALL|NONE, members: [...]}``; the quota is
``quotas.guarddutyMembers`` (50,000 members per administrator and region, as AWS publishes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Required, Self, get_args

from pydantic import with_config

from reconciler_sandbox import membership, statefile
from reconciler_sandbox.context import CallContext, Handler, Params, ServiceBehaviour
from reconciler_sandbox.member_handlers import MemberApi, MemberFilter
from reconciler_sandbox.membership import ASSOCIATED, ClassicStatus, Flavor
from reconciler_sandbox.plugin import ServicePlugin
from reconciler_sandbox.records import (
    Member,
    MemberTable,
    SandboxStateError,
    ServiceRegion,
    World,
    now,
)
from reconciler_sandbox.wire import ApiError, InvalidRequest

NAME = "guardduty"
QUOTA = "guarddutyMembers"
DetectorStatus = Literal["ENABLED", "DISABLED"]
AutoEnableMembers = Literal["NEW", "ALL", "NONE"]
DETECTOR_STATUSES: tuple[str, ...] = get_args(DetectorStatus)
AUTO_ENABLE_MEMBERS: tuple[str, ...] = get_args(AutoEnableMembers)

INVALID_VALUE = (
    "The request is rejected because an invalid or out-of-range value is specified as an "
    "input parameter."
)
NOT_OWNED = (
    "The request is rejected because the input detectorId is not owned by the current account."
)
DETECTOR_EXISTS = (
    "The request is rejected because a detector already exists for the current account."
)
NOT_DELEGATED = (
    "The request is rejected because the current account cannot call this API as it is not "
    "the delegated administrator for GuardDuty of its organization."
)
NOT_MANAGEMENT = (
    "The request is rejected because the current account is not the management account of "
    "an organization."
)


AUTO_ENABLE_ALL = (
    "The request is rejected because autoEnableOrganizationMembers is set to ALL for the "
    "organization: organization member accounts cannot be disassociated, deleted or stopped."
)


# --------------------------------------------------------------------------------------------
# Records: the detector of one account and region, and its state-file section
# --------------------------------------------------------------------------------------------


@with_config(statefile.ENTRY_CONFIG)
class GuardDutyMember(statefile.MemberEntry, total=False):
    """A GuardDuty member in the state file."""

    status: Required[ClassicStatus]


class GuardDutySection(statefile.Section):
    """``regions.<region>.guardduty``: the detector, its organization setting, its members."""

    detector: DetectorStatus | None = None
    autoEnableOrganizationMembers: AutoEnableMembers | None = None
    members: list[GuardDutyMember] | None = None


@dataclass(slots=True)
class GuardDutyRegion(ServiceRegion):
    """GuardDuty in one account and region."""

    detector: str | None = None  # ENABLED | DISABLED | None (no detector)
    auto_enable_organization_members: str = "NONE"
    created_at: datetime | None = None

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any] | None) -> Self:
        if not entry:
            return cls()
        return cls(
            detector=entry.get("detector"),
            auto_enable_organization_members=entry.get("autoEnableOrganizationMembers", "NONE"),
        )

    def to_entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.detector is not None:
            out["detector"] = self.detector
        if self.auto_enable_organization_members != "NONE":
            out["autoEnableOrganizationMembers"] = self.auto_enable_organization_members
        return out

    @property
    def ready(self) -> bool:
        return self.detector is not None

    def turn_on(self, at: datetime) -> None:
        self.detector = "ENABLED"
        self.created_at = at

    def loaded(self, at: datetime) -> None:
        if self.detector is not None:
            self.created_at = at

    def organization_members_locked(self) -> str | None:
        return AUTO_ENABLE_ALL if self.auto_enable_organization_members == "ALL" else None


def region_of(state: World, account: str, region: str) -> GuardDutyRegion:
    found = state.account(account).service(NAME, region)
    assert isinstance(found, GuardDutyRegion)
    return found


def detector_id(account_id: str, region: str) -> str:
    """GuardDuty's 32-hex detector id, derived so a reload gives the same id."""
    return hashlib.md5(f"{account_id}/{region}".encode(), usedforsecurity=False).hexdigest()


def _over_quota(limit: int) -> str:
    return (
        "The request is rejected because the current account has reached the maximum number "
        f"of member accounts ({limit})."
    )


def _limit_reached(state: World, table: MemberTable) -> bool:
    return len(table) >= state.quotas[QUOTA]


def bad_request(message: str, detail: str | None = None) -> ApiError:
    return ApiError(
        "BadRequestException", message, fields={"Type": "InvalidInputException"}, detail=detail
    )


FLAVOR = Flavor(
    service=NAME,
    label="GuardDuty",
    bad_request=bad_request,
    already_member=(
        "The request is rejected because the given account ID is already a member or "
        "associated member of the current account."
    ),
    already_invited=(
        "The request is rejected because the current account has already invited or is "
        "already the GuardDuty master of the given member account ID."
    ),
    not_member=(
        "The request is rejected because the given account ID is not an associated member of "
        "account the current account."
    ),
    management_first=(
        "Operation failed because your organization master must first enable GuardDuty to be "
        "added as a member"
    ),
    verify_email=True,
    member_cannot_administer=bad_request,
    apply_quotas=membership.leave_unprocessed_over(QUOTA, _over_quota),
    limit_reached=_limit_reached,
)


def invalid(error: InvalidRequest) -> ApiError:
    issue = error.issues[0]
    if issue.kind == "max_length" and isinstance(issue.value, list):
        message = (
            f"The request failed because the length provided for the {issue.field} array was "
            f"{len(issue.value)}. Max allowed length is {issue.limit}."
        )
        return bad_request(message, detail=error.smithy_message())
    return bad_request(INVALID_VALUE, detail=error.smithy_message())


def throttled() -> ApiError:
    return ApiError("TooManyRequestsException", "Rate exceeded", status=429)


def internal() -> ApiError:
    return ApiError(
        "InternalServerErrorException",
        "The request failed due to an internal server error.",
        fields={"Type": "InternalException"},
    )


def region_disabled() -> ApiError:
    return ApiError(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        status=403,
    )


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _region(ctx: CallContext) -> GuardDutyRegion:
    return region_of(ctx.state, ctx.account, ctx.region)


def _owned(ctx: CallContext, params: Params) -> GuardDutyRegion:
    gd = _region(ctx)
    if gd.detector is None or params["DetectorId"] != detector_id(ctx.account, ctx.region):
        raise bad_request(NOT_OWNED)
    return gd


def _member(ctx: CallContext, member: Member) -> Params:
    out: Params = {
        "AccountId": member.account_id,
        "MasterId": ctx.account,
        "AdministratorId": ctx.account,
        "Email": member.email or ctx.state.root_email(member.account_id),
        "RelationshipStatus": member.status,
        "InvitedAt": member.invited_at,
        "UpdatedAt": member.updated_at,
    }
    if member.status in ASSOCIATED and region_of(ctx.state, member.account_id, ctx.region).ready:
        out["DetectorId"] = detector_id(member.account_id, ctx.region)
    return out


def _only_associated(params: Params) -> MemberFilter | None:
    # GuardDuty models OnlyAssociated as a string, and counts Disabled members as associated.
    only = str(params.get("OnlyAssociated", "true")).lower()
    if only not in ("true", "false"):
        raise bad_request(INVALID_VALUE, detail="onlyAssociated must be 'true' or 'false'")
    return (lambda m: m.status in ASSOCIATED) if only == "true" else None


API = MemberApi(
    flavor=FLAVOR,
    check=_owned,
    check_list_invitations=False,
    status_field="RelationshipStatus",
    result_field="Result",
    bad_token=lambda: bad_request(INVALID_VALUE, detail="nextToken is not a token of this API"),
    render_member=_member,
    only_associated=_only_associated,
    invitation_fields=("AccountId", "InvitationId", "RelationshipStatus", "InvitedAt"),
)


# --------------------------------------------------------------------------------------------
# Detectors
# --------------------------------------------------------------------------------------------


def list_detectors(ctx: CallContext, params: Params) -> Params:
    API.token(params.get("NextToken"))
    gd = _region(ctx)
    return {"DetectorIds": [detector_id(ctx.account, ctx.region)] if gd.detector else []}


def get_detector(ctx: CallContext, params: Params) -> Params:
    gd = _owned(ctx, params)
    created = gd.created_at or ctx.state.loaded_at
    role = "aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty"
    return {
        "CreatedAt": created,
        "FindingPublishingFrequency": "SIX_HOURS",
        "ServiceRole": f"arn:{ctx.partition}:iam::{ctx.account}:role/{role}",
        "Status": gd.detector,
        "UpdatedAt": created,
    }


def create_detector(ctx: CallContext, params: Params) -> Params:
    gd = _region(ctx)
    if gd.detector is not None:
        raise bad_request(DETECTOR_EXISTS)
    gd.detector = "ENABLED" if params["Enable"] else "DISABLED"
    gd.created_at = ctx.now
    return {"DetectorId": detector_id(ctx.account, ctx.region)}


# --------------------------------------------------------------------------------------------
# Administrator side (the member operations themselves are API's)
# --------------------------------------------------------------------------------------------


def start_monitoring_members(ctx: CallContext, params: Params) -> Params:
    return API.set_monitoring(ctx, params, enabled=True)


def stop_monitoring_members(ctx: CallContext, params: Params) -> Params:
    return API.set_monitoring(ctx, params, enabled=False)


def describe_organization_configuration(ctx: CallContext, params: Params) -> Params:
    gd = _owned(ctx, params)
    org = ctx.state.organization
    if org is None or org.delegated_administrators.get(NAME) != ctx.account:
        raise bad_request(NOT_DELEGATED)
    auto = gd.auto_enable_organization_members
    return {
        "AutoEnable": auto != "NONE",
        "AutoEnableOrganizationMembers": auto,
        "MemberAccountLimitReached": membership.limit_reached(
            ctx.state, FLAVOR, ctx.account, ctx.region
        ),
    }


def list_organization_admin_accounts(ctx: CallContext, params: Params) -> Params:
    org = ctx.state.organization
    if org is None or org.management_account != ctx.account:
        raise bad_request(NOT_MANAGEMENT)
    admin = org.delegated_administrators.get(NAME)
    admins = [{"AdminAccountId": admin, "AdminStatus": "ENABLED"}] if admin else []
    return {"AdminAccounts": admins}


HANDLERS: dict[str, Handler] = {
    "ListDetectors": list_detectors,
    "GetDetector": get_detector,
    "CreateDetector": create_detector,
    **API.handlers(),
    "StartMonitoringMembers": start_monitoring_members,
    "StopMonitoringMembers": stop_monitoring_members,
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
# Programmatic helpers (``state.set_detector(...)``, ``state.detector_status(...)``)
# --------------------------------------------------------------------------------------------


def set_detector(
    state: World,
    account_id: str,
    region: str,
    status: str | None,
    *,
    auto_enable_organization_members: str | None = None,
) -> None:
    if status is not None and status not in DETECTOR_STATUSES:
        raise SandboxStateError(f"detector: {status!r} is not ENABLED, DISABLED or None")
    if (
        auto_enable_organization_members is not None
        and auto_enable_organization_members not in AUTO_ENABLE_MEMBERS
    ):
        raise SandboxStateError(
            f"autoEnableOrganizationMembers: {auto_enable_organization_members!r}"
            " is not NEW, ALL or NONE"
        )
    with state.lock:
        gd = region_of(state, account_id, region)
        gd.detector = status
        if status is not None and gd.created_at is None:
            gd.created_at = now()
        if auto_enable_organization_members is not None:
            gd.auto_enable_organization_members = auto_enable_organization_members


def detector_status(state: World, account_id: str, region: str) -> str | None:
    with state.lock:
        return region_of(state, account_id, region).detector


PLUGIN = ServicePlugin(
    name=NAME,
    label="GuardDuty",
    region=GuardDutyRegion,
    section=GuardDutySection,
    member=GuardDutyMember,
    associated=ASSOCIATED,
    invited="Invited",
    verifying="EmailVerificationInProgress",
    quotas={QUOTA: 50_000},
    behaviour=BEHAVIOUR,
    verifies_email=FLAVOR.verify_email,
    names=("guardduty", "GuardDuty", "DetectorId", "detector", "Detector"),
    state_api={"set_detector": set_detector, "detector_status": detector_status},
)
