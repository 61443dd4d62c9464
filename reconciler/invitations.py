"""Wait out a service's email verification: read invited members until their status settles.

After the invitation, a service that verifies emails (``ServiceSpec.email.verified``) checks the
invitee's email against the account's root email before it sends anything: the member is
``EmailVerificationInProgress`` for a while, then ``Invited`` (the invitation is in the member's
ListInvitations) or ``EmailVerificationFailed`` (nothing was sent). Two steps need the settled
status within the same run: accepting (the invitation does not exist before it is sent) and
verifying (a failed verification is reported in the run that invited, with its fix, not found by the
next one).

Reads are GetMembers in batches of the service's size, repeated with a growing pause while any
account is still in progress, a bounded number of times; an account still in progress then is
left in progress for the caller to judge.

Also here: the refusal of a saved plan that would invite an account whose member side cannot
accept (the apply run read it; the dry run that saved the plan did not).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import structlog

from reconciler.diff import DriftKind
from reconciler.errors import AwsError, PlanRefused
from reconciler.model import MemberStatus, ObservedMember
from reconciler.plan import Plan, Step, batched
from reconciler.ports import MemberPort
from reconciler.services.registry import spec_of

log = structlog.get_logger("reconciler.invitations")

# Pauses before each re-read (seconds): about 30 s in all, as AWS settles in seconds.
PAUSES: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0)

VERIFICATION_FAILED = (
    "status EmailVerificationFailed: the invitation was not sent because the email is not the "
    "account's root email; fix the email in the manifest"
)


def settle(
    port: MemberPort,
    account_ids: Iterable[str],
    *,
    known: dict[str, ObservedMember] | None = None,
    pauses: Sequence[float] = PAUSES,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, ObservedMember], int, dict[str, str]]:
    """The members of ``account_ids`` once none is EmailVerificationInProgress (or time is up).

    ``known`` holds members already read (only those in progress are read again). Returns the
    members found, the GetMembers calls made, and per account the error that kept it unread.
    """
    found: dict[str, ObservedMember] = dict(known or {})
    errors: dict[str, str] = {}
    calls = 0
    wanted = sorted(set(account_ids))
    to_read = [a for a in wanted if a not in found]
    for attempt in range(len(pauses) + 1):
        for batch in batched(to_read, spec_of(port.key.service).batch_size):
            calls += 1
            try:
                members, _ = port.get_members(batch)
            except AwsError as exc:
                errors.update({account: str(exc) for account in batch})
                continue
            for account in batch:
                errors.pop(account, None)
                found.pop(account, None)
            found.update((member.account_id, member) for member in members)
        to_read = [a for a in wanted if _in_progress(found.get(a))]
        if not to_read or attempt == len(pauses):
            break
        log.info(
            "invitations.verifying",
            service=port.key.service,
            region=port.key.region,
            accounts=len(to_read),
            pause=pauses[attempt],
        )
        sleep(pauses[attempt])
    return found, calls, errors


def _in_progress(member: ObservedMember | None) -> bool:
    return member is not None and member.status is MemberStatus.EMAIL_VERIFICATION_IN_PROGRESS


# Enough to see what happened; a refusal over many accounts stays one readable line.
LISTED = 20


def refuse_uninvitable(plan: Plan) -> None:
    """Refuse a saved plan that would invite an account whose member side cannot accept.

    The dry run that saved it reads no member account; the apply does, and an invitation it
    would not send on its own is not sent because a plan says so (``PlanRefused``, nothing
    applied).
    """
    held = {
        (item.key, item.account_id): item.detail
        for item in plan.drift
        if item.kind is DriftKind.MEMBER_CANNOT_ACCEPT
    }
    refused = sorted(
        f"{action.key} {account}: {held[action.key, account]}"
        for action in plan.actions
        if action.step is Step.INVITE
        for account in action.account_ids
        if (action.key, account) in held
    )
    if refused:
        shown = refused[:LISTED] + (
            [f"and {len(refused) - LISTED} more"] if len(refused) > LISTED else []
        )
        raise PlanRefused(
            "saved plan refused, nothing applied: "
            + "; ".join(shown)
            + "; fix the member side, then make a new plan"
        )
