"""AWS Security Hub: is the hub enabled, then its members.

DescribeHub is the probe: it answers 401 InvalidAccessException where Security Hub is not
enabled for the administrator. ``OnlyAssociated`` is a boolean here and defaults to TRUE (only
Enabled members), so we always send False to see every member. The email is optional, and
Security Hub returns none for organization members. Its CreateMembers may answer 409 for a
batch some of whose accounts already exist (checked by GetMembers, see ``reconciler.apply``).
It "can't invoke this API to delete accounts that belong to an Organizations organization",
so in organization mode prune stops at DisassociateMembers. Quotas: 1,000 invited members,
10,000 organization members per administrator per region.

Member side (``invitation.accept``): accepting enables the hub in the member when it is not
(EnableSecurityHub without the default standards, a 409 meaning it already was).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from reconciler.errors import ConflictError, PermanentAwsError
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

NAME = Service("securityhub")
LABEL = "Security Hub"

# -- the manifest's services.securityhub -----------------------------------------------------


class SecurityHubAccept(SettingsModel):
    """Accept Security Hub invitations inside each invited member account."""

    role_name: RoleName = Field(default=DEFAULT_ACCEPT_ROLE, description=ACCEPT_ROLE_DESCRIPTION)


class SecurityHubInvitation(SettingsModel):
    """Invitation-mode options for Security Hub (its InviteMembers takes no message)."""

    accept: SecurityHubAccept | None = Field(default=None, description=ACCEPT_DESCRIPTION)
    reinvite: bool = Field(
        default=False, description="Invite again members that resigned or were removed."
    )


class SecurityHubSettings(SettingsModel):
    """How members join the Security Hub administrator."""

    mode: ModeName = Field(description=MODE_DESCRIPTION)
    invitation: SecurityHubInvitation | None = Field(
        default=None, description=INVITATION_DESCRIPTION
    )


# -- the operations --------------------------------------------------------------------------

OPERATIONS = (
    *operations.declare(
        NAME,
        reads=("DescribeHub", "ListMembers", "GetMembers"),
        writes=("CreateMembers", "InviteMembers", "DeleteMembers", "DisassociateMembers"),
        needs={
            "InviteMembers": operations.INVITE,
            "DisassociateMembers": operations.DISASSOCIATE,
            "DeleteMembers": operations.DELETE,
        },
    ),
    *operations.declare(
        NAME,
        reads=("ListInvitations", "GetAdministratorAccount"),
        writes=("EnableSecurityHub", "AcceptAdministratorInvitation"),
        principal="member",
    ),
)

NOT_ENABLED_CODES = frozenset({"InvalidAccessException"})

# -- the administrator side ------------------------------------------------------------------


def probe(calls: Calls) -> Prerequisite:
    try:
        calls.call("DescribeHub")
    except PermanentAwsError as exc:
        if exc.code in NOT_ENABLED_CODES:
            return Prerequisite(f"{LABEL} is not enabled in {calls.region} for {calls.account_id}")
        raise
    return Prerequisite()


def create_params(members: Sequence[DesiredMember], _: InvitationSettings | None) -> dict[str, Any]:
    details = []
    for member in members:
        detail = {"AccountId": member.account_id}
        if member.email:
            detail["Email"] = member.email
        details.append(detail)
    return {"AccountDetails": details}


# -- the member side -------------------------------------------------------------------------


def accept(calls: Calls, context: AcceptContext) -> str:
    done = "accepted"
    try:
        # Without the default standards: enabling them is a decision for the member's
        # owners, and a frequent complaint about the peer scripts.
        calls.call("EnableSecurityHub", EnableDefaultStandards=False)
        done = "hub enabled, accepted"
    except ConflictError:
        pass  # 409: already subscribed, which is what we need
    return accepting.accept_invitation(calls, context.administrator_account_id, done=done)


SPEC = ServiceSpec(
    name=NAME,
    label=LABEL,
    description="AWS Security Hub.",
    endpoint_prefix="securityhub",
    iam_sid="SecurityHubMembership",
    settings=SecurityHubSettings,
    operations=OPERATIONS,
    wire=Wire(
        status="MemberStatus",
        unprocessed_reason="ProcessingResult",
        list_filter={"OnlyAssociated": False},
    ),
    probe=probe,
    create_params=create_params,
    quotas={Mode.ORGANIZATION: 10_000, Mode.INVITATION: 1_000},
    email=EmailRule(required_in=frozenset()),
    deletes_in=frozenset({Mode.INVITATION}),
    steps={"start-monitoring": StepRule(None)},
    member_side=MemberSide(accept=accept),
    foreign_keys={
        "message": f"{LABEL}'s InviteMembers takes neither a message nor disableEmailNotification",
        "disableEmailNotification": (
            f"{LABEL}'s InviteMembers takes neither a message nor disableEmailNotification"
        ),
        "createMemberDetector": f"{LABEL} has no detector to create",
    },
)
