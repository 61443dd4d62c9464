"""Compare what the manifest wants with what AWS has, one shard at a time (pure).

Receives a shard's desired members (from ``manifest.expand``), its observation (from
``observe``) and the service's settings; hands the planner a :class:`ShardDiff`: the accounts
each kind of fix applies to, and every drift item worth reporting.

Membership and emails are compared as two dicts keyed by account ID (account → folded email),
never as lists: set operations on the keys give the missing and unmanaged accounts, a lookup
per shared key the changed emails, all linear. (A generic differ such as deepdiff gives the same
answer on two flat dicts of strings, but builds a tree node per difference: onboarding 10,000
accounts × 8 shards took 2.3 s of planning, during which no call went out.) Statuses are not
compared to a desired value (the manifest has none); they are classified against what the
service's mode accepts.

We compare only what AWS returns for the kind of member: a service may return no email for
organization members, so an absent email is never drift (Terraform's false drift, #13906 and
#24320, came from comparing it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from reconciler.model import (
    DesiredMember,
    MemberStatus,
    Mode,
    ObservedMember,
    PruneSettings,
    Service,
    ServiceSettings,
    ShardKey,
    ShardObservation,
)
from reconciler.services.registry import spec_of


class DriftKind(StrEnum):
    MISSING = "missing"
    NOT_INVITED = "created-not-invited"
    AWAITING_ACCEPTANCE = "awaiting-acceptance"
    EMAIL_MISMATCH = "email-mismatch"
    UNMANAGED = "unmanaged"
    RESIGNED = "resigned"
    REMOVED = "removed"
    EMAIL_VERIFICATION_FAILED = "email-verification-failed"
    DISABLED = "disabled"
    UNEXPECTED_STATUS = "unexpected-status"
    PRUNE_BLOCKED = "prune-blocked"
    MEMBER_CANNOT_ACCEPT = "member-cannot-accept"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class DriftItem:
    """One difference between the manifest and AWS.

    ``blocking`` marks a difference that this run will not fix although the manifest asks for
    it (a resigned member without ``reinvite``, an email that failed verification and is still
    the same in the manifest, a prune AWS forbids...): the run reports it and exits 1, since
    the manifest is not honoured. Non-blocking items are either fixed by the plan or reported
    only (unmanaged members without prune, an email that differs on an associated member).
    """

    key: ShardKey
    account_id: str
    kind: DriftKind
    detail: str
    blocking: bool


@dataclass(frozen=True, slots=True)
class ShardDiff:
    """The accounts of one shard, sorted, grouped by the fix they need."""

    key: ShardKey
    missing: tuple[str, ...] = ()
    not_invited: tuple[str, ...] = ()
    # EmailVerificationFailed whose manifest email now differs: delete, create, invite.
    recreate: tuple[str, ...] = ()
    # Disabled, where the service can restart them: StartMonitoringMembers.
    stopped: tuple[str, ...] = ()
    # Resigned or Removed, re-invited because the manifest says ``reinvite: true``.
    reinvite: tuple[str, ...] = ()
    # Invited or EmailVerificationInProgress: the member side has to accept.
    awaiting_acceptance: tuple[str, ...] = ()
    # In AWS, not desired, and removable (prune enabled, not protected, not forbidden):
    # associated ones are disassociated then deleted, already disassociated ones deleted.
    prune: tuple[str, ...] = ()
    prune_delete_only: tuple[str, ...] = ()
    items: tuple[DriftItem, ...] = ()

    @property
    def invitees(self) -> tuple[str, ...]:
        """The accounts an invitation-mode plan invites in this shard, sorted."""
        return tuple(sorted({*self.missing, *self.recreate, *self.not_invited, *self.reinvite}))


# Statuses that count as "a member as the mode intends it". An invitation is the
# administrator's half of the job: accepting is the member's (or the opt-in accept step's).
ACCEPTED_STATUSES: Mapping[Mode, frozenset[MemberStatus]] = {
    Mode.ORGANIZATION: frozenset({MemberStatus.ENABLED}),
    Mode.INVITATION: frozenset(
        {
            MemberStatus.INVITED,
            MemberStatus.EMAIL_VERIFICATION_IN_PROGRESS,
            MemberStatus.ENABLED,
        }
    ),
}
PENDING_ACCEPTANCE = frozenset({MemberStatus.INVITED, MemberStatus.EMAIL_VERIFICATION_IN_PROGRESS})
# The organization setting under which AWS refuses to disassociate organization members
# (read where the service's spec has ``auto_enable``).
AUTO_ENABLE_ALL = "ALL"
# No longer associated: prune only has the record left to delete.
GONE = frozenset({MemberStatus.REMOVED, MemberStatus.RESIGNED, MemberStatus.DELETED})


def can_delete(service: Service, mode: Mode) -> bool:
    """Whether prune may DeleteMembers after disassociating (the service's ``deletes_in``).

    Some services cannot delete organization members, so in organization mode their removal
    stops at DisassociateMembers.
    """
    return spec_of(service).can_delete(mode)


def diff_shard(
    desired: Mapping[str, DesiredMember],
    observation: ShardObservation,
    settings: ServiceSettings,
    *,
    administrator_account_id: str,
    prune: PruneSettings | None = None,
    skipped: Mapping[str, str] | None = None,
) -> ShardDiff:
    """The differences of one ready shard; a blocked shard has none (nothing was observed).

    ``skipped``: accounts the organization selected that are not ACTIVE there (account → its
    state); each is reported, neither enrolled nor, if AWS still lists it, pruned.
    """
    key = observation.key
    if not observation.ready:
        return ShardDiff(key)
    observed = observation.members
    prune = prune or PruneSettings()

    missing, unmanaged, mismatched = _membership_delta(
        desired, observed, administrator_account_id=administrator_account_id
    )
    found = _Findings(key)
    if skipped:
        unmanaged = _report_skipped(found, unmanaged, observation, desired, skipped)
    for account in missing:
        found.add(account, DriftKind.MISSING, "not a member yet", blocking=False)
    _classify_unmanaged(found, unmanaged, observation, settings, prune)

    mismatched_set = set(mismatched)
    accepted = ACCEPTED_STATUSES[settings.mode]
    for account in sorted(desired.keys() & observed.keys()):
        _classify_status(
            found,
            desired[account],
            observed[account],
            settings,
            accepted=accepted,
            email_differs=account in mismatched_set,
        )

    if observation.cannot_accept:
        missing = _hold_back(found, missing, observation.cannot_accept)

    return ShardDiff(
        key,
        missing=tuple(missing),
        not_invited=tuple(found.not_invited),
        recreate=tuple(found.recreate),
        stopped=tuple(found.stopped),
        reinvite=tuple(found.reinvite),
        awaiting_acceptance=tuple(found.awaiting),
        prune=tuple(found.prune),
        prune_delete_only=tuple(found.prune_delete_only),
        # DriftKind is a StrEnum: ordering by the member orders by its value, without the
        # (slow) enum .value lookup per item.
        items=tuple(sorted(found.items, key=lambda item: (item.account_id, item.kind))),
    )


def is_prune_candidate(
    account_id: str,
    desired: Mapping[str, DesiredMember],
    *,
    administrator_account_id: str,
    prune: PruneSettings,
) -> bool:
    """Whether ``account_id``, seen in AWS, would be removed by prune (before AWS's own rules)."""
    return (
        prune.enabled
        and account_id not in desired
        and account_id != administrator_account_id
        and account_id not in prune.protected_accounts
    )


class _Findings:
    """The accumulating result of one shard's classification."""

    def __init__(self, key: ShardKey) -> None:
        self.key = key
        self.items: list[DriftItem] = []
        self.not_invited: list[str] = []
        self.recreate: list[str] = []
        self.stopped: list[str] = []
        self.reinvite: list[str] = []
        self.awaiting: list[str] = []
        self.prune: list[str] = []
        self.prune_delete_only: list[str] = []

    def add(self, account: str, kind: DriftKind, detail: str, *, blocking: bool) -> None:
        self.items.append(DriftItem(self.key, account, kind, detail, blocking))


def _membership_delta(
    desired: Mapping[str, DesiredMember],
    observed: Mapping[str, ObservedMember],
    *,
    administrator_account_id: str,
) -> tuple[list[str], list[str], list[str]]:
    """(missing, unmanaged, email-mismatched) account IDs, each sorted."""
    missing = sorted(desired.keys() - observed.keys())
    unmanaged = sorted(
        account
        for account in observed.keys() - desired.keys()
        if account != administrator_account_id
    )
    mismatched = sorted(
        account
        for account in desired.keys() & observed.keys()
        if _emails_differ(desired[account].email, observed[account].email)
    )
    return missing, unmanaged, mismatched


def _emails_differ(wanted: str | None, seen: str | None) -> bool:
    """Whether the manifest's email and AWS's differ, ignoring case and surrounding blanks.

    An email AWS does not return (organization members) or the manifest does not give is not
    compared. Equal strings, the common case, are settled without folding either.
    """
    if not wanted or not seen or wanted == seen:
        return False
    folded = _fold(wanted)
    return bool(folded) and folded != _fold(seen)


def _report_skipped(
    found: _Findings,
    unmanaged: list[str],
    observation: ShardObservation,
    desired: Mapping[str, DesiredMember],
    skipped: Mapping[str, str],
) -> list[str]:
    """One item per skipped account; returns the unmanaged accounts that are not skipped."""
    for account in sorted(skipped.keys() - desired.keys()):
        state = skipped[account]
        member = observation.members.get(account)
        if member is None:
            detail = f"{state} in AWS Organizations: not enrolled"
        else:
            detail = (
                f"{state} in AWS Organizations, a member in AWS ({member.raw_status}): "
                "left alone, neither enrolled again nor removed"
            )
        found.add(account, DriftKind.SKIPPED, detail, blocking=False)
    return [account for account in unmanaged if account not in skipped]


def _hold_back(found: _Findings, missing: list[str], cannot_accept: Mapping[str, str]) -> list[str]:
    """Keep accounts whose member side cannot accept out of every step that leads to an
    invitation (an invitation is an email to a root address: it goes out once the member can
    accept it); each becomes one blocking item with the fix. Returns the missing accounts left.
    """
    held = {
        account
        for account in (*missing, *found.not_invited, *found.recreate, *found.reinvite)
        if account in cannot_accept
    }
    if not held:
        return missing
    found.not_invited = [a for a in found.not_invited if a not in held]
    found.recreate = [a for a in found.recreate if a not in held]
    found.reinvite = [a for a in found.reinvite if a not in held]
    # Their "will be created / invited" items no longer hold; other findings (an email
    # mismatch, a blocking status) stay.
    found.items = [
        item
        for item in found.items
        if item.account_id not in held or item.blocking or item.kind is DriftKind.EMAIL_MISMATCH
    ]
    for account in sorted(held):
        detail = (
            f"not invited: {cannot_accept[account]}; the invitation goes out on the first run "
            "after the fix"
        )
        found.add(account, DriftKind.MEMBER_CANNOT_ACCEPT, detail, blocking=True)
    return [account for account in missing if account not in held]


def _classify_unmanaged(
    found: _Findings,
    unmanaged: list[str],
    observation: ShardObservation,
    settings: ServiceSettings,
    prune: PruneSettings,
) -> None:
    spec = spec_of(observation.key.service)
    forbidden = (
        spec.auto_enable is not None
        and settings.mode is Mode.ORGANIZATION
        and observation.auto_enable == AUTO_ENABLE_ALL
    )
    for account in unmanaged:
        status = observation.members[account].raw_status
        if not prune.enabled:
            detail = f"a member in AWS ({status}) but not in the manifest; left alone"
            found.add(account, DriftKind.UNMANAGED, detail, blocking=False)
        elif account in prune.protected_accounts:
            detail = f"a member in AWS ({status}) but not in the manifest; protected from prune"
            found.add(account, DriftKind.UNMANAGED, detail, blocking=False)
        elif forbidden:
            detail = (
                f"cannot be removed: {spec.label} auto-enable is ALL for the organization, and "
                "AWS refuses to disassociate organization members then; set it to NEW or NONE "
                "first"
            )
            found.add(account, DriftKind.PRUNE_BLOCKED, detail, blocking=True)
        elif observation.members[account].status not in GONE:
            detail = f"a member in AWS ({status}) but not in the manifest; will be removed"
            found.add(account, DriftKind.UNMANAGED, detail, blocking=False)
            found.prune.append(account)
        elif can_delete(observation.key.service, settings.mode):
            detail = f"disassociated ({status}) and not in the manifest; will be deleted"
            found.add(account, DriftKind.UNMANAGED, detail, blocking=False)
            found.prune_delete_only.append(account)
        else:
            # A service that cannot delete organization members keeps the disassociated ones
            # listed as Removed: there is nothing left to do.
            detail = f"disassociated ({status}) and not in the manifest; already removed"
            found.add(account, DriftKind.UNMANAGED, detail, blocking=False)


def _classify_status(
    found: _Findings,
    wanted: DesiredMember,
    member: ObservedMember,
    settings: ServiceSettings,
    *,
    accepted: frozenset[MemberStatus],
    email_differs: bool,
) -> None:
    account, status = member.account_id, member.status
    invitation = settings.mode is Mode.INVITATION
    if status is MemberStatus.EMAIL_VERIFICATION_FAILED and invitation:
        if email_differs:
            found.recreate.append(account)
            detail = (
                f"the invitation failed for {member.email}; will be re-created with "
                f"{wanted.email} and invited again"
            )
            found.add(account, DriftKind.EMAIL_VERIFICATION_FAILED, detail, blocking=False)
        else:
            detail = (
                f"the invitation was not sent: {member.email} is not the account's root email; "
                "fix the email in the manifest and the next run re-creates the member"
            )
            found.add(account, DriftKind.EMAIL_VERIFICATION_FAILED, detail, blocking=True)
        return
    if email_differs:
        detail = f"manifest email {wanted.email}, AWS has {member.email}; reported only"
        found.add(account, DriftKind.EMAIL_MISMATCH, detail, blocking=False)
    if status in accepted:
        if invitation and settings.accept is not None and status in PENDING_ACCEPTANCE:
            found.awaiting.append(account)
            detail = f"{member.raw_status}; will be accepted in the member account"
            found.add(account, DriftKind.AWAITING_ACCEPTANCE, detail, blocking=False)
        return
    if status is MemberStatus.CREATED and invitation:
        found.not_invited.append(account)
        found.add(account, DriftKind.NOT_INVITED, "created but not invited", blocking=False)
        return
    if status is MemberStatus.DISABLED and spec_of(settings.service).has_step("start-monitoring"):
        found.stopped.append(account)
        detail = "associated, but monitoring is stopped; will be restarted"
        found.add(account, DriftKind.DISABLED, detail, blocking=False)
        return
    if status in (MemberStatus.RESIGNED, MemberStatus.REMOVED):
        kind = DriftKind.RESIGNED if status is MemberStatus.RESIGNED else DriftKind.REMOVED
        who = "the member left" if status is MemberStatus.RESIGNED else "it was disassociated"
        if invitation and settings.reinvite:
            found.reinvite.append(account)
            found.add(account, kind, f"{who}; will be re-invited (reinvite: true)", blocking=False)
        else:
            detail = f"{who}; not re-invited automatically (set invitation.reinvite: true)"
            found.add(account, kind, detail, blocking=True)
        return
    detail = (
        f"status {member.raw_status or 'unknown'} is not what {settings.mode.value} mode expects"
    )
    found.add(account, DriftKind.UNEXPECTED_STATUS, detail, blocking=True)


def _fold(email: str | None) -> str:
    return email.strip().casefold() if email else ""
