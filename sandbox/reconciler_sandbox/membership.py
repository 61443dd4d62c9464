"""The administrator/member life cycle that services share, parameterised by a :class:`Flavor`.

The classic member API (Created → Invited → Enabled, Removed, Resigned, organization members
straight to Enabled) is the same in several services with different texts, error codes and a
few different rules (whether the invitee's root email is verified, whether organization members
may be deleted, how quotas are enforced, when organization members may not leave). Writing the
life cycle once keeps the services consistent; each service's flavor carries its differences.

Every function here expects the caller to hold ``state.lock``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from reconciler_sandbox.records import (
    Invitation,
    Member,
    MemberTable,
    ServiceRegion,
    World,
    invitation_id,
    replace_member,
)
from reconciler_sandbox.wire import ApiError

Unprocessed = list[tuple[str, str]]
# A member in one of these statuses is associated: the member side has an administrator.
ASSOCIATED = frozenset({"Enabled", "Disabled"})
# The statuses a service with the classic member API may have.
ClassicStatus = Literal[
    "Created",
    "Invited",
    "EmailVerificationInProgress",
    "EmailVerificationFailed",
    "Enabled",
    "Disabled",
    "Removed",
    "Resigned",
    "AccountSuspended",
    "RegionDisabled",
]

# (state, flavor, the administrator's table, the members a call would add, the call's
# unprocessed list) -> the members to add; raises the service's error, or leaves accounts
# unprocessed, when they would exceed its quotas.
QuotaPolicy = Callable[[World, "Flavor", MemberTable, list[Member], Unprocessed], list[Member]]
# (state, the administrator's table) -> whether its organization quota is reached.
LimitReached = Callable[[World, MemberTable], bool]


@dataclass(frozen=True, slots=True)
class Invitations:
    """How a service sends an invitation: whether it verifies the invitee's root email first
    (for ``state.email_verification_reads`` reads of the record), and the statuses it writes."""

    service: str
    verify_email: bool
    invited: str = "Invited"
    verifying: str = "EmailVerificationInProgress"
    verification_failed: str = "EmailVerificationFailed"


@dataclass(frozen=True, slots=True)
class Flavor:
    """What differs between the services' member APIs."""

    service: str
    label: str
    bad_request: Callable[[str], ApiError]
    already_member: str
    already_invited: str
    not_member: str
    management_first: str
    verify_email: bool
    # A member account cannot administer members (a 400 or a 403, as the service answers).
    member_cannot_administer: Callable[[str], ApiError]
    apply_quotas: QuotaPolicy
    limit_reached: LimitReached
    # Why an organization member cannot be deleted (None: it can, like any member).
    organization_member_not_deletable: str | None = None

    @property
    def invitations(self) -> Invitations:
        return Invitations(self.service, self.verify_email)


def leave_unprocessed_over(quota: str, reason: Callable[[int], str]) -> QuotaPolicy:
    """A quota on all members of a table, beyond which accounts are left unprocessed."""

    def apply(
        state: World,
        flavor: Flavor,
        table: MemberTable,
        planned: list[Member],
        unprocessed: Unprocessed,
    ) -> list[Member]:
        limit = state.quotas[quota]
        room = limit - len(table)
        # Re-joining organization members already hold a record: they take no new room.
        kept: list[Member] = []
        for member in planned:
            if table.get(member.account_id) is not None:
                kept.append(member)
            elif room > 0:
                kept.append(member)
                room -= 1
            else:
                unprocessed.append((member.account_id, reason(limit)))
        return kept

    return apply


MEMBER_AS_ADMIN = (
    "The request is rejected because the current account is a member account of another "
    "administrator and cannot add members."
)
SELF_MEMBER = "The request is rejected because the current account cannot be a member of itself."
OTHER_ADMIN = (
    "The request is rejected because the given account ID is already associated with another "
    "administrator account."
)
INACTIVE_ORG_ACCOUNT = (
    "The request is rejected because the given account ID is not an active account of the "
    "organization."
)
ORG_NOT_INVITABLE = (
    "The request is rejected because organization member accounts cannot be invited; add them "
    "with CreateMembers."
)
INVALID_INVITATION = "The request is rejected because the input invitationId is not valid."
ALREADY_ASSOCIATED = (
    "The request is rejected because the current account is already associated with an "
    "administrator account."
)
NOT_ASSOCIATED = (
    "The request is rejected because the current account is not associated with an "
    "administrator account."
)
ORG_CANNOT_LEAVE = (
    "The request is rejected because an organization member account cannot disassociate "
    "itself from its administrator."
)


def _shard(state: World, flavor: Flavor, account: str, region: str) -> ServiceRegion:
    return state.account(account).service(flavor.service, region)


def _table(state: World, flavor: Flavor, admin: str, region: str) -> MemberTable:
    return _shard(state, flavor, admin, region).members


def _members_of(state: World, service: str, admin: str, region: str) -> MemberTable:
    return state.account(admin).service(service, region).members


def _members(
    table: MemberTable, flavor: Flavor, account_ids: Sequence[str], unprocessed: Unprocessed
) -> Iterator[Member]:
    """The records of ``account_ids`` in ``table``, in request order, looked up one by one.

    An id without a record goes to ``unprocessed`` as it is reached, so the entries keep
    request order among those the caller adds. Lookups are lazy so that a repeated id sees
    what the caller did to the table for its first occurrence (a delete, an invitation).
    """
    for account_id in account_ids:
        member = table.get(account_id)
        if member is None:
            unprocessed.append((account_id, flavor.not_member))
        else:
            yield member


def create_members(
    state: World,
    flavor: Flavor,
    admin: str,
    region: str,
    details: Sequence[tuple[str, str | None]],
    now: datetime,
) -> Unprocessed:
    if state.administrator(flavor.service, region, admin) is not None:
        raise flavor.member_cannot_administer(MEMBER_AS_ADMIN)
    table = _table(state, flavor, admin, region)
    org = state.organization
    delegated = org is not None and org.delegated_administrators.get(flavor.service) == admin
    unprocessed: Unprocessed = []
    planned: list[Member] = []
    seen: set[str] = set()
    for account_id, email in details:
        existing = table.get(account_id)
        org_account = org.accounts.get(account_id) if org is not None and delegated else None
        if account_id == admin:
            unprocessed.append((account_id, SELF_MEMBER))
            continue
        rejoin = (
            existing is not None
            and existing.type == "organization"
            and existing.status == "Removed"
            and org_account is not None
        )
        if account_id in seen or (existing is not None and not rejoin):
            unprocessed.append((account_id, flavor.already_member))
            continue
        seen.add(account_id)
        if org_account is None:
            planned.append(Member(account_id, email, "Created", "invitation", None, now))
            continue
        if org_account.status != "ACTIVE":
            unprocessed.append((account_id, INACTIVE_ORG_ACCOUNT))
            continue
        if (
            org is not None
            and account_id == org.management_account
            and not _shard(state, flavor, account_id, region).ready
        ):
            unprocessed.append((account_id, flavor.management_first))
            continue
        other = state.administrator(flavor.service, region, account_id)
        if other is not None and other != admin:
            unprocessed.append((account_id, OTHER_ADMIN))
            continue
        keep_email = email if email is not None else (existing.email if existing else None)
        sent = existing.invitations_sent if existing else 0
        planned.append(Member(account_id, keep_email, "Enabled", "organization", None, now, sent))
    planned = flavor.apply_quotas(state, flavor, table, planned, unprocessed)
    for member in planned:
        if member.type == "organization":
            # Adding an organization account enables the service there, as AWS does.
            shard = _shard(state, flavor, member.account_id, region)
            if not shard.ready:
                shard.turn_on(now)
            state.link(flavor.service, region, member.account_id, admin)
        table.put(member)
        state.events[("create", flavor.service, region, admin, member.account_id)] += 1
    return unprocessed


def invite_members(
    state: World,
    flavor: Flavor,
    admin: str,
    region: str,
    account_ids: Sequence[str],
    now: datetime,
) -> Unprocessed:
    table = _table(state, flavor, admin, region)
    unprocessed: Unprocessed = []
    for member in _members(table, flavor, account_ids, unprocessed):
        account_id = member.account_id
        if member.type == "organization":
            reason = flavor.already_invited if member.status in ASSOCIATED else ORG_NOT_INVITABLE
            unprocessed.append((account_id, reason))
            continue
        if member.status in ("Invited", "EmailVerificationInProgress", *ASSOCIATED):
            unprocessed.append((account_id, flavor.already_invited))
            continue
        if flavor.verify_email and state.email_verification_reads:
            # AWS checks the email first, and says so: the outcome shows a few reads later.
            table.put(
                replace_member(
                    member,
                    status="EmailVerificationInProgress",
                    updated_at=now,
                    verification_reads=state.email_verification_reads,
                )
            )
            continue
        send_invitation(state, flavor.invitations, table, admin, region, member, now)
    return unprocessed


def send_invitation(
    state: World,
    invitations: Invitations,
    table: MemberTable,
    admin: str,
    region: str,
    member: Member,
    now: datetime,
) -> None:
    """The end of an invitation: the email check (if the service verifies), then the invitation."""
    account_id = member.account_id
    service = invitations.service
    if invitations.verify_email:
        root = state.root_email(account_id)
        verified = (
            member.email is not None
            and root is not None
            and member.email.casefold() == root.casefold()
        )
        if not verified:
            # AWS sends no invitation then; the fix is delete, re-create, re-invite.
            table.put(
                replace_member(
                    member,
                    status=invitations.verification_failed,
                    updated_at=now,
                    verification_reads=0,
                )
            )
            return
    table.put(
        replace_member(
            member,
            status=invitations.invited,
            invited_at=now,
            updated_at=now,
            invitations_sent=member.invitations_sent + 1,
            verification_reads=0,
        )
    )
    state.events[("invite", service, region, admin, account_id)] += 1
    state.add_invitation(
        service,
        region,
        account_id,
        Invitation(admin, invitation_id(service, region, admin, account_id, now), now),
    )


def note_reads(
    state: World,
    invitations: Invitations,
    admin: str,
    region: str,
    members: Sequence[Member],
    now: datetime,
) -> None:
    """The administrator read these records: verifications in progress come closer to their
    outcome, and settle (invited, or verification failed) after their last read."""
    table = _members_of(state, invitations.service, admin, region)
    for read in members:
        member = table.get(read.account_id)
        if member is None or not member.verification_reads:
            continue
        left = member.verification_reads - 1
        if left:
            table.put(replace_member(member, verification_reads=left))
        else:
            send_invitation(state, invitations, table, admin, region, member, now)


def get_members(
    state: World, flavor: Flavor, admin: str, region: str, account_ids: Sequence[str]
) -> tuple[list[Member], Unprocessed]:
    unprocessed: Unprocessed = []
    found = list(_members(_table(state, flavor, admin, region), flavor, account_ids, unprocessed))
    return found, unprocessed


def _refuse_locked_organization_members(
    state: World, flavor: Flavor, admin: str, region: str, account_ids: Sequence[str]
) -> None:
    refusal = _shard(state, flavor, admin, region).organization_members_locked()
    if refusal is None:
        return
    table = _table(state, flavor, admin, region)
    for account_id in account_ids:
        member = table.get(account_id)
        if member is not None and member.type == "organization":
            raise flavor.bad_request(refusal)


def _detach(state: World, flavor: Flavor, admin: str, region: str, member: str) -> None:
    state.unlink(flavor.service, region, member, admin)
    state.drop_invitation(flavor.service, region, member, admin)


def disassociate_members(
    state: World,
    flavor: Flavor,
    admin: str,
    region: str,
    account_ids: Sequence[str],
    now: datetime,
) -> Unprocessed:
    _refuse_locked_organization_members(state, flavor, admin, region, account_ids)
    table = _table(state, flavor, admin, region)
    unprocessed: Unprocessed = []
    for member in _members(table, flavor, account_ids, unprocessed):
        if member.status != "Removed":
            table.put(replace_member(member, status="Removed", updated_at=now))
        _detach(state, flavor, admin, region, member.account_id)
    return unprocessed


def delete_members(
    state: World, flavor: Flavor, admin: str, region: str, account_ids: Sequence[str]
) -> Unprocessed:
    _refuse_locked_organization_members(state, flavor, admin, region, account_ids)
    table = _table(state, flavor, admin, region)
    unprocessed: Unprocessed = []
    for member in _members(table, flavor, account_ids, unprocessed):
        refusal = flavor.organization_member_not_deletable
        if refusal is not None and member.type == "organization":
            unprocessed.append((member.account_id, refusal))
            continue
        table.remove(member.account_id)
        _detach(state, flavor, admin, region, member.account_id)
    return unprocessed


def set_monitoring(
    state: World,
    flavor: Flavor,
    admin: str,
    region: str,
    account_ids: Sequence[str],
    enabled: bool,
    now: datetime,
) -> Unprocessed:
    if not enabled:
        _refuse_locked_organization_members(state, flavor, admin, region, account_ids)
    table = _table(state, flavor, admin, region)
    unprocessed: Unprocessed = []
    target = "Enabled" if enabled else "Disabled"
    for member in _members(table, flavor, account_ids, unprocessed):
        if member.status not in ASSOCIATED:
            unprocessed.append((member.account_id, flavor.not_member))
            continue
        if member.status != target:
            table.put(replace_member(member, status=target, updated_at=now))
    return unprocessed


def list_invitations(state: World, flavor: Flavor, member: str, region: str) -> list[Invitation]:
    found = state.invitations(flavor.service, region, member)
    return sorted(found.values(), key=lambda inv: inv.administrator)


def accept_invitation(
    state: World,
    flavor: Flavor,
    member: str,
    region: str,
    admin: str,
    invitation: str,
    now: datetime,
) -> None:
    pending = state.invitations(flavor.service, region, member).get(admin)
    if pending is None or pending.invitation_id != invitation:
        raise flavor.bad_request(INVALID_INVITATION)
    if state.administrator(flavor.service, region, member) is not None:
        raise flavor.bad_request(ALREADY_ASSOCIATED)
    table = _table(state, flavor, admin, region)
    record = table.get(member)
    if record is None or record.status != "Invited":
        state.drop_invitation(flavor.service, region, member, admin)
        raise flavor.bad_request(INVALID_INVITATION)
    table.put(replace_member(record, status="Enabled", updated_at=now))
    state.link(flavor.service, region, member, admin)
    state.drop_invitation(flavor.service, region, member, admin)


def administrator_of(
    state: World, flavor: Flavor, member: str, region: str
) -> tuple[str, Member] | None:
    admin = state.administrator(flavor.service, region, member)
    if admin is None:
        return None
    record = _table(state, flavor, admin, region).get(member)
    return None if record is None else (admin, record)


def disassociate_from_administrator(
    state: World, flavor: Flavor, member: str, region: str, now: datetime
) -> None:
    found = administrator_of(state, flavor, member, region)
    if found is None:
        raise flavor.bad_request(NOT_ASSOCIATED)
    admin, record = found
    if record.type == "organization":
        raise flavor.bad_request(ORG_CANNOT_LEAVE)
    _table(state, flavor, admin, region).put(
        replace_member(record, status="Resigned", updated_at=now)
    )
    state.unlink(flavor.service, region, member, admin)


def limit_reached(state: World, flavor: Flavor, admin: str, region: str) -> bool:
    return flavor.limit_reached(state, _table(state, flavor, admin, region))
