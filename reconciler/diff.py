"""Compare what the manifest wants with what AWS has, one shard at a time (pure).

Receives a shard's desired members (from ``manifest.expand``) and its observation (from
``observe``); hands the planner a :class:`ShardDiff`: which accounts are missing, which were
created but never invited, and every drift item worth reporting.

Membership and emails are compared with deepdiff on two dicts keyed by account ID, never on
lists: ``ignore_order`` over lists is quadratic, a dict diff is linear, and at 50,000 members
that is the difference between milliseconds and minutes. Statuses are not compared to a desired
value (the manifest has none); they are classified against what the service's mode accepts.

We compare only what AWS returns for the kind of member: Security Hub returns no email for
organization members, so an absent email is never drift (Terraform's false drift, #13906 and
#24320, came from comparing it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from deepdiff import DeepDiff

from reconciler.model import (
    DesiredMember,
    MemberStatus,
    Mode,
    ObservedMember,
    ServiceSettings,
    ShardKey,
    ShardObservation,
)


class DriftKind(StrEnum):
    MISSING = "missing"
    NOT_INVITED = "created-not-invited"
    EMAIL_MISMATCH = "email-mismatch"
    UNMANAGED = "unmanaged"
    RESIGNED = "resigned"
    REMOVED = "removed"
    EMAIL_VERIFICATION_FAILED = "email-verification-failed"
    DISABLED = "disabled"
    UNEXPECTED_STATUS = "unexpected-status"


@dataclass(frozen=True, slots=True)
class DriftItem:
    """One difference between the manifest and AWS.

    ``blocking`` marks a desired account that is not a working member and that this run will
    not fix (resigned, removed, failed verification...): the run reports it and exits 1, since
    the manifest is not honoured. Non-blocking items (unmanaged members, an email that differs
    on an associated member) are reported only.
    """

    key: ShardKey
    account_id: str
    kind: DriftKind
    detail: str
    blocking: bool


@dataclass(frozen=True, slots=True)
class ShardDiff:
    key: ShardKey
    missing: tuple[str, ...]
    not_invited: tuple[str, ...]
    items: tuple[DriftItem, ...]


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

_STATUS_DRIFT: Mapping[MemberStatus, tuple[DriftKind, str]] = {
    MemberStatus.RESIGNED: (
        DriftKind.RESIGNED,
        "the member left the administrator; not re-invited automatically",
    ),
    MemberStatus.REMOVED: (
        DriftKind.REMOVED,
        "the administrator disassociated this member; not re-invited automatically",
    ),
    MemberStatus.EMAIL_VERIFICATION_FAILED: (
        DriftKind.EMAIL_VERIFICATION_FAILED,
        "the invitation was not sent: the email is not the account's root email",
    ),
    MemberStatus.DISABLED: (
        DriftKind.DISABLED,
        "associated, but GuardDuty monitoring of the member is stopped",
    ),
}


def diff_shard(
    desired: Mapping[str, DesiredMember],
    observation: ShardObservation,
    settings: ServiceSettings,
    *,
    administrator_account_id: str,
) -> ShardDiff:
    """The differences of one ready shard; a blocked shard has none (nothing was observed)."""
    key = observation.key
    if not observation.ready:
        return ShardDiff(key, (), (), ())
    observed = observation.members

    wanted_emails = {account: _fold(member.email) for account, member in desired.items()}
    # An email AWS does not return (organization members) or the manifest does not give is not
    # compared: we put the other side's value in, so deepdiff sees no change there.
    observed_emails = {
        account: (_fold(member.email) if member.email else wanted_emails.get(account, ""))
        for account, member in observed.items()
    }
    for account, wanted in wanted_emails.items():
        if not wanted and account in observed_emails:
            observed_emails[account] = ""

    # Entries equal on both sides cannot differ; leaving them out keeps deepdiff's per-item
    # cost (it builds a tree node per compared key) proportional to the change, not the org.
    unchanged = {
        account for account, email in wanted_emails.items() if observed_emails.get(account) == email
    }
    delta = DeepDiff(
        {k: v for k, v in wanted_emails.items() if k not in unchanged},
        {k: v for k, v in observed_emails.items() if k not in unchanged},
        verbose_level=0,
        view="tree",
        # By default deepdiff reports two dicts sharing under a third of their keys as one
        # changed value; we always want the per-account items.
        threshold_to_diff_deeper=0,
    )
    missing = sorted(_keys(delta, "dictionary_item_removed"))
    unmanaged = sorted(
        account
        for account in _keys(delta, "dictionary_item_added")
        if account != administrator_account_id
    )
    mismatched = sorted(_keys(delta, "values_changed"))

    items: list[DriftItem] = [
        DriftItem(key, account, DriftKind.MISSING, "not a member yet", blocking=False)
        for account in missing
    ]
    items.extend(
        DriftItem(
            key,
            account,
            DriftKind.UNMANAGED,
            f"a member in AWS ({observed[account].raw_status}) but not in the manifest; left alone",
            blocking=False,
        )
        for account in unmanaged
    )
    items.extend(
        DriftItem(
            key,
            account,
            DriftKind.EMAIL_MISMATCH,
            f"manifest email {desired[account].email}, AWS has {observed[account].email}",
            blocking=False,
        )
        for account in mismatched
    )

    not_invited: list[str] = []
    accepted = ACCEPTED_STATUSES[settings.mode]
    for account in sorted(desired.keys() & observed.keys()):
        member = observed[account]
        if member.status in accepted:
            continue
        if member.status is MemberStatus.CREATED and settings.mode is Mode.INVITATION:
            not_invited.append(account)
            items.append(
                DriftItem(key, account, DriftKind.NOT_INVITED, "created but not invited", False)
            )
            continue
        items.append(_status_drift(key, member, settings.mode))

    items.sort(key=lambda item: (item.account_id, item.kind.value))
    return ShardDiff(key, tuple(missing), tuple(not_invited), tuple(items))


def _status_drift(key: ShardKey, member: ObservedMember, mode: Mode) -> DriftItem:
    kind, detail = _STATUS_DRIFT.get(
        member.status,
        (
            DriftKind.UNEXPECTED_STATUS,
            f"status {member.raw_status or 'unknown'} is not what {mode.value} mode expects",
        ),
    )
    return DriftItem(key, member.account_id, kind, detail, blocking=True)


def _fold(email: str | None) -> str:
    return email.strip().casefold() if email else ""


def _keys(delta: DeepDiff, report: str) -> list[str]:
    # Tree-view levels carry the dict key as the last path element; with flat dicts that is
    # the account ID itself.
    return [str(level.path(output_format="list")[0]) for level in delta.get(report, ())]
