"""Member-side steps the services share: find our invitation, confirm whom the member answers to.

Used by the services whose member side reads ``ListInvitations`` (``AccountId`` and
``InvitationId``) and ``GetAdministratorAccount``; a service whose member API differs keeps its
own. Pure: everything goes through :class:`~reconciler.services.spec.Calls`.
"""

from __future__ import annotations

from typing import Any

from reconciler.errors import AcceptError, AwsError
from reconciler.services.spec import Calls

ANSWER_LOST = "accepted (the answer was lost; confirmed by GetAdministratorAccount)"


def invitation_from(calls: Calls, administrator_account_id: str) -> str | None:
    """The pending invitation from our administrator (every page), or None.

    Never "the last one", which is how the peer scripts accept a stranger's.
    """
    for page in calls.pages("ListInvitations"):
        for invitation in page.get("Invitations", ()):
            if str(invitation.get("AccountId")) == administrator_account_id:
                return str(invitation["InvitationId"])
    return None


def accept_invitation(
    calls: Calls, administrator_account_id: str, *, done: str, **scope: Any
) -> str:
    """AcceptAdministratorInvitation of our pending invitation; what was done, in words.

    No invitation pending is fine when the member already answers to us (an earlier run
    accepted and was stopped before verifying, or an organization account was associated
    directly). ``done`` is the words of a successful accept.
    """
    account_id = calls.account_id
    invitation_id = invitation_from(calls, administrator_account_id)
    if invitation_id is None:
        require_administrator(calls, administrator_account_id, account_id, **scope)
        return "already accepted"
    try:
        calls.call(
            "AcceptAdministratorInvitation",
            **scope,
            AdministratorId=administrator_account_id,
            InvitationId=invitation_id,
        )
    except AwsError as exc:
        accepted_anyway(calls, administrator_account_id, account_id, exc, **scope)
        return ANSWER_LOST
    return done


def accepted_anyway(
    calls: Calls,
    administrator_account_id: str,
    account_id: str,
    error: AwsError,
    **scope: Any,
) -> None:
    """After a failed accept: fine if the member answers to us now, else ``error``.

    An accept whose answer was lost (a read timeout, a cut connection) is retried by
    botocore, and the retry finds the invitation already used: "invitationId is not
    valid", although the first attempt made the member ours. The member's own view
    (GetAdministratorAccount) decides, as it does when no invitation is pending.
    """
    try:
        require_administrator(calls, administrator_account_id, account_id, **scope)
    except (AcceptError, AwsError):
        raise error from None


def require_administrator(
    calls: Calls, administrator_account_id: str, account_id: str, **scope: Any
) -> None:
    """No invitation is pending: fine if the member already answers to us, else fail."""
    reply = calls.call("GetAdministratorAccount", **scope)
    administrator = reply.get("Administrator") or {}
    status = str(administrator.get("RelationshipStatus") or administrator.get("MemberStatus") or "")
    if (
        str(administrator.get("AccountId")) == administrator_account_id
        and status.casefold() == "enabled"
    ):
        return
    raise AcceptError(
        f"{account_id} has no pending {calls.service} invitation from "
        f"{administrator_account_id} in {calls.region}"
    )
