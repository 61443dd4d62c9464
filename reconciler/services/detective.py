"""Amazon Detective: the administrator's behavior graph, then its members.

The prerequisite is the administrator's behavior graph in the region (ListGraphs: at most one per
account and region); without one the shard is blocked, as any service's missing prerequisite blocks
its shard. Every member call takes the graph's ARN (``GraphArn``). botocore has no paginator for
Detective at all, so ListGraphs, ListMembers (200 a page) and ListInvitations are followed by
``NextToken`` by hand.

CreateMembers both creates and invites (``Accounts[{AccountId, EmailAddress}]``, ``Message``,
``DisableEmailNotification``): in invitation mode the plan's create step *is* the invitation,
and there is no separate invite step (the plan shows the CreateMembers it calls). In
organization mode the same call enables organization accounts, which receive no invitation.
botocore's model requires ``EmailAddress`` for every account in either mode, so the manifest
needs an email for every Detective member (``membersFrom.organization`` supplies the
organization's). Detective verifies the email before it invites (VERIFICATION_IN_PROGRESS,
then INVITED or VERIFICATION_FAILED), so the accept waits for that check, as it does for the
services that verify emails.

Statuses, mapped onto ours: INVITED → Invited; VERIFICATION_IN_PROGRESS →
EmailVerificationInProgress; VERIFICATION_FAILED → EmailVerificationFailed (with a changed
email, the member is deleted and created again); ENABLED → Enabled; ACCEPTED_BUT_DISABLED →
Disabled: the member accepted but the graph ingests none of its data (``DisabledReason``
VOLUME_TOO_HIGH or VOLUME_UNKNOWN). No plan step can fix that (it is a data-volume decision for
a person: StartMonitoringMember succeeds only once the volume allows), so it is reported as a
status the mode does not accept, blocking.

Prune: the administrator has no DisassociateMembers; DeleteMembers removes a member in both
modes (an invited account is deleted from the graph's list, an organization account is no
longer listed until it is enabled again). A member that leaves is removed from the list too, so
it looks missing and CreateMembers invites it again: ``reinvite`` cannot hold one back.

Quota: 1,200 member accounts per behavior graph (AWS documentation), refused at plan time.

Member side (``invitation.accept``): ListInvitations lists the member's open *and* accepted
invitations, each with its graph and administrator; the one from our administrator is accepted
with AcceptInvitation(GraphArn), or found already accepted (ENABLED, ACCEPTED_BUT_DISABLED).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from reconciler.errors import AcceptError, AwsError
from reconciler.model import DesiredMember, InvitationSettings, MemberStatus, Mode, Service
from reconciler.services import operations
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
    Paging,
    Prerequisite,
    ServiceSpec,
    StepRule,
    Wire,
)

NAME = Service("detective")
LABEL = "Detective"

# -- the manifest's services.detective -------------------------------------------------------


class DetectiveAccept(SettingsModel):
    """Accept Detective invitations inside each invited member account."""

    role_name: RoleName = Field(default=DEFAULT_ACCEPT_ROLE, description=ACCEPT_ROLE_DESCRIPTION)


class DetectiveInvitation(SettingsModel):
    """Invitation-mode options for Detective (its CreateMembers sends the invitation)."""

    message: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Text added to the invitation email (1-1,000 characters).",
    )
    disable_email_notification: bool = Field(
        default=False, description="Invite without sending the member's root user an email."
    )
    accept: DetectiveAccept | None = Field(default=None, description=ACCEPT_DESCRIPTION)
    reinvite: bool = Field(
        default=False,
        description=(
            "Invite again members that resigned or were removed. Detective drops a member that "
            "leaves from the graph's list, so such a member is invited again as a missing one "
            "whatever this says."
        ),
    )


class DetectiveSettings(SettingsModel):
    """How members join the Detective administrator's behavior graph."""

    mode: ModeName = Field(description=MODE_DESCRIPTION)
    invitation: DetectiveInvitation | None = Field(default=None, description=INVITATION_DESCRIPTION)


# -- the operations --------------------------------------------------------------------------

OPERATIONS = (
    *operations.declare(
        NAME,
        reads=("ListGraphs", "ListMembers", "GetMembers"),
        writes=("CreateMembers", "DeleteMembers"),
        needs={"DeleteMembers": operations.DELETE},
    ),
    *operations.declare(
        NAME,
        reads=("ListInvitations",),
        writes=("AcceptInvitation",),
        principal="member",
    ),
)

# -- the administrator side ------------------------------------------------------------------


def probe(calls: Calls) -> Prerequisite:
    graphs = [
        str(graph["Arn"])
        for page in calls.pages("ListGraphs")
        for graph in page.get("GraphList", ())
        if graph.get("Arn")
    ]
    if not graphs:
        return Prerequisite(
            f"{LABEL} is not enabled in {calls.region} for {calls.account_id} (no behavior graph)"
        )
    return Prerequisite(scope={"GraphArn": graphs[0]})


def create_params(
    members: Sequence[DesiredMember], invitation: InvitationSettings | None
) -> dict[str, Any]:
    # The manifest guarantees an email for every Detective member (botocore requires one).
    params: dict[str, Any] = {
        "Accounts": [
            {"AccountId": member.account_id, "EmailAddress": member.email or ""}
            for member in members
        ]
    }
    if invitation is not None:
        params["DisableEmailNotification"] = invitation.disable_email_notification
        if invitation.message:
            params["Message"] = invitation.message
    return params


# -- the member side -------------------------------------------------------------------------

ACCEPTED = frozenset({"ENABLED", "ACCEPTED_BUT_DISABLED"})
ANSWER_LOST = "accepted (the answer was lost; confirmed by ListInvitations)"


def _invitation_from(calls: Calls, administrator_account_id: str) -> tuple[str, str] | None:
    """(graph ARN, status) of our administrator's invitation (every page), or None."""
    for page in calls.pages("ListInvitations"):
        for invitation in page.get("Invitations", ()):
            administrator = invitation.get("AdministratorId") or invitation.get("MasterId")
            if str(administrator) == administrator_account_id and invitation.get("GraphArn"):
                return str(invitation["GraphArn"]), str(invitation.get("Status") or "")
    return None


def accept(calls: Calls, context: AcceptContext) -> str:
    administrator = context.administrator_account_id
    found = _invitation_from(calls, administrator)
    if found is None:
        raise AcceptError(
            f"{calls.account_id} has no pending {NAME} invitation from {administrator} in "
            f"{calls.region}"
        )
    graph_arn, status = found
    if status in ACCEPTED:
        return "already accepted"
    try:
        calls.call("AcceptInvitation", GraphArn=graph_arn)
    except AwsError as exc:
        # A lost answer, retried by botocore into a refusal: the member's own list decides.
        try:
            again = _invitation_from(calls, administrator)
        except AwsError:
            raise exc from None
        if again is None or again[1] not in ACCEPTED:
            raise
        return ANSWER_LOST
    return "accepted"


SPEC = ServiceSpec(
    name=NAME,
    label=LABEL,
    description="Amazon Detective.",
    endpoint_prefix="api.detective",
    iam_sid="DetectiveMembership",
    settings=DetectiveSettings,
    operations=OPERATIONS,
    wire=Wire(
        status="Status",
        unprocessed_reason="Reason",
        members="MemberDetails",
        email="EmailAddress",
    ),
    probe=probe,
    scope_keys=("GraphArn",),
    paging=Paging(page_size=200, paginator=False),
    batch_size=50,
    create_params=create_params,
    quotas={Mode.ORGANIZATION: 1_200, Mode.INVITATION: 1_200},
    email=EmailRule(
        required_in=frozenset(Mode),
        why=f"{LABEL}'s CreateMembers needs the account's root email",
        verified=True,
    ),
    statuses={
        "verificationinprogress": MemberStatus.EMAIL_VERIFICATION_IN_PROGRESS,
        "verificationfailed": MemberStatus.EMAIL_VERIFICATION_FAILED,
        "acceptedbutdisabled": MemberStatus.DISABLED,
    },
    steps={
        # CreateMembers sends the invitation: no separate invite step.
        "create": StepRule("CreateMembers", already_done=("already invited",)),
        "invite": StepRule(None),
        "start-monitoring": StepRule(None),
        "accept": StepRule("AcceptInvitation"),
        # No DisassociateMembers for the administrator: prune is DeleteMembers, in both modes.
        "disassociate": StepRule(None),
    },
    member_side=MemberSide(accept=accept),
    foreign_keys={"createMemberDetector": f"{LABEL} has no detector to create"},
)
