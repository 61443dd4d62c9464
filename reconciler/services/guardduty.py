"""Amazon GuardDuty: the administrator's detector, then its members.

Every GuardDuty member call is scoped to the administrator's detector in the region, so the
probe finds it first (ListDetectors: at most one per account and region) and checks that it is
enabled (GetDetector). ``OnlyAssociated`` is a *string* on this service; without ``"false"``,
Created, Invited and Removed members would be hidden from us. CreateMembers needs each
member's root email, which GuardDuty verifies before it sends the invitation.

Organization mode: AWS refuses to disassociate organization members while the organization's
``autoEnableOrganizationMembers`` is ALL, so prune reads it (only then) and plans the refusal.
A Disabled member (monitoring stopped) is restarted with StartMonitoringMembers.

Member side (``invitation.accept``): a detector must exist in the member (created only if
``createMemberDetector`` says so); the pre-invitation check lists the member's detectors and
the accept reuses what it found. A CreateDetector retried into "a detector already exists" is
confirmed by ListDetectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from reconciler.errors import AcceptError, AwsError, PermanentAwsError
from reconciler.model import DesiredMember, InvitationSettings, Mode, Service
from reconciler.services import accepting, operations
from reconciler.services.settings import (
    ACCEPT_DESCRIPTION,
    ACCEPT_ROLE_DESCRIPTION,
    DEFAULT_ACCEPT_ROLE,
    INVITATION_DESCRIPTION,
    MODE_DESCRIPTION,
    ModeName,
    RoleName,
    SettingsModel,
)
from reconciler.services.spec import (
    AcceptContext,
    Calls,
    EmailRule,
    MemberSide,
    Prerequisite,
    ServiceSpec,
    StepRule,
    Wire,
)

NAME = Service("guardduty")
LABEL = "GuardDuty"

# -- the manifest's services.guardduty -------------------------------------------------------


class GuardDutyAccept(SettingsModel):
    """Accept GuardDuty invitations inside each invited member account."""

    role_name: RoleName = Field(default=DEFAULT_ACCEPT_ROLE, description=ACCEPT_ROLE_DESCRIPTION)
    create_member_detector: bool = Field(
        default=False,
        description=(
            "Create (and enable) a detector in a member account that has none, instead of "
            "reporting that member as blocked."
        ),
    )


class GuardDutyInvitation(SettingsModel):
    """Invitation-mode options for GuardDuty."""

    message: str | None = Field(default=None, description="Text added to the invitation email.")
    disable_email_notification: bool = Field(
        default=False, description="Invite without sending the member's root user an email."
    )
    accept: GuardDutyAccept | None = Field(default=None, description=ACCEPT_DESCRIPTION)
    reinvite: bool = Field(
        default=False,
        description=(
            "Invite again members that resigned or were removed. Off by default: an hourly "
            "run would otherwise email them every hour."
        ),
    )


class GuardDutySettings(SettingsModel):
    """How members join the GuardDuty administrator."""

    mode: ModeName = Field(description=MODE_DESCRIPTION)
    invitation: GuardDutyInvitation | None = Field(default=None, description=INVITATION_DESCRIPTION)


# -- the operations --------------------------------------------------------------------------

OPERATIONS = (
    *operations.declare(
        NAME,
        reads=(
            "ListDetectors",
            "GetDetector",
            "ListMembers",
            "GetMembers",
            "DescribeOrganizationConfiguration",
        ),
        writes=(
            "CreateMembers",
            "InviteMembers",
            "DeleteMembers",
            "DisassociateMembers",
            "StartMonitoringMembers",
        ),
        needs={
            "InviteMembers": operations.INVITE,
            "DisassociateMembers": operations.DISASSOCIATE,
            "DeleteMembers": operations.DELETE,
            "DescribeOrganizationConfiguration": operations.PRUNE_ORGANIZATION,
        },
    ),
    *operations.declare(
        NAME,
        reads=("ListDetectors", "ListInvitations", "GetAdministratorAccount"),
        writes=("CreateDetector", "AcceptAdministratorInvitation"),
        principal="member",
        needs={"CreateDetector": operations.CREATE_MEMBER_DETECTOR},
    ),
)

# -- the administrator side ------------------------------------------------------------------


def probe(calls: Calls) -> Prerequisite:
    detector_ids = [
        detector_id
        for page in calls.pages("ListDetectors")
        for detector_id in page.get("DetectorIds", ())
    ]
    where = f"in {calls.region} for {calls.account_id}"
    if not detector_ids:
        return Prerequisite(f"{LABEL} is not enabled {where} (no detector)")
    detector_id = str(detector_ids[0])
    detector = calls.call("GetDetector", DetectorId=detector_id)
    if str(detector.get("Status", "")).upper() != "ENABLED":
        return Prerequisite(f"{LABEL} is not enabled {where} (detector {detector_id} is DISABLED)")
    return Prerequisite(scope={"DetectorId": detector_id})


def create_params(members: Sequence[DesiredMember], _: InvitationSettings | None) -> dict[str, Any]:
    # The manifest guarantees an email for every GuardDuty member (the model requires it).
    return {
        "AccountDetails": [
            {"AccountId": member.account_id, "Email": member.email or ""} for member in members
        ]
    }


def invite_params(settings: InvitationSettings) -> dict[str, Any]:
    params: dict[str, Any] = {"DisableEmailNotification": settings.disable_email_notification}
    if settings.message:
        params["Message"] = settings.message
    return params


def auto_enable(calls: Calls, scope: Any) -> str | None:
    # Read only when prune may disassociate organization members: AWS refuses to while
    # autoEnableOrganizationMembers is ALL, and we would rather plan that than fail on it.
    try:
        reply = calls.call("DescribeOrganizationConfiguration", **scope)
    except PermanentAwsError as exc:
        if exc.status == 400:
            return None  # not the organization's delegated administrator: no such setting
        raise
    setting = reply.get("AutoEnableOrganizationMembers")
    if setting is None and reply.get("AutoEnable"):
        return "NEW"  # the older boolean form: new accounts only
    return None if setting is None else str(setting)


# -- the member side -------------------------------------------------------------------------

DETECTOR_ANSWER_LOST = "detector created (the answer was lost; confirmed by ListDetectors)"


def _no_detector(account_id: str, region: str) -> str:
    return (
        f"{account_id} has no {LABEL} detector in {region}; enable {LABEL} there, or "
        "set invitation.accept.createMemberDetector: true"
    )


def _detectors(calls: Calls) -> list[str]:
    return [
        str(detector)
        for page in calls.pages("ListDetectors")
        for detector in page.get("DetectorIds", ())
    ]


def check_member(calls: Calls, context: AcceptContext) -> tuple[str | None, Any]:
    """The member's detectors must exist, or ``createMemberDetector`` allow one."""
    try:
        detectors = _detectors(calls)
    except AwsError as exc:
        return f"its {LABEL} detectors could not be read as {context.role} ({exc})", None
    if detectors or context.settings.create_member_detector:
        return None, detectors
    return _no_detector(calls.account_id, calls.region), detectors


def _create_detector(calls: Calls) -> tuple[str, str]:
    """CreateDetector in the member; the detector's ID and what was done, in words.

    A CreateDetector whose answer was lost (a read timeout, a cut connection) is retried by
    botocore, and the retry is refused: "a detector already exists for the current
    account", made by the first attempt. The member's own list of detectors decides, as
    GetAdministratorAccount does for a lost accept.
    """
    try:
        reply = calls.call("CreateDetector", Enable=True)
        return str(reply["DetectorId"]), "detector created"
    except AwsError as exc:
        try:
            found = _detectors(calls)
        except AwsError:
            raise exc from None
        if not found:
            raise
        return found[0], DETECTOR_ANSWER_LOST


def accept(calls: Calls, context: AcceptContext) -> str:
    done: list[str] = []
    detector_ids = context.seen if context.seen is not None else _detectors(calls)
    if detector_ids:
        detector_id = detector_ids[0]
    elif context.settings.create_member_detector:
        detector_id, created = _create_detector(calls)
        done.append(created)
    else:
        raise AcceptError(_no_detector(calls.account_id, calls.region))
    result = accepting.accept_invitation(
        calls, context.administrator_account_id, done="accepted", DetectorId=detector_id
    )
    return ", ".join([*done, result])


SPEC = ServiceSpec(
    name=NAME,
    label=LABEL,
    description="Amazon GuardDuty.",
    endpoint_prefix="guardduty",
    iam_sid="GuardDutyMembership",
    settings=GuardDutySettings,
    operations=OPERATIONS,
    wire=Wire(
        status="RelationshipStatus",
        unprocessed_reason="Result",
        list_filter={"OnlyAssociated": "false"},
    ),
    probe=probe,
    scope_keys=("DetectorId",),
    create_params=create_params,
    invite_params=invite_params,
    # Facts file, section 7: the invitation quota (5,000) is unverified, so only the
    # documented total is enforced.
    quotas={Mode.ORGANIZATION: 50_000, Mode.INVITATION: 50_000},
    email=EmailRule(
        required_in=frozenset(Mode),
        why=f"{LABEL}'s CreateMembers needs the account's root email",
        verified=True,
    ),
    steps={
        "invite": StepRule(
            "InviteMembers",
            already_done=("already the guardduty master", "already the guardduty administrator"),
        ),
    },
    auto_enable=auto_enable,
    member_side=MemberSide(accept=accept, check=check_member),
)
