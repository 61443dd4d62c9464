"""The differ: every drift item as a whole (shard, account, kind, detail, blocking) and the fix
list it lands in, which mutation testing showed the truth tables of test_diff.py left unstated.

Aspects under test:
- each way a member is classified yields exactly one item with its shard, kind, blocking flag
  and the detail the report shows, and the account lands in exactly the fix list it needs;
- the administrator is never unmanaged nor pruned, prune or no prune;
- ``is_prune_candidate``: prune enabled, not desired, not the administrator, not protected;
- a blocked shard's diff still names its shard;
- an account held back (its member side cannot accept) loses only its own create and invite
  items, never another account's nor its email mismatch; a skipped account is one non-blocking
  item and in no fix list, prune or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from reconciler.diff import DriftItem, DriftKind, ShardDiff, diff_shard, is_prune_candidate
from reconciler.model import (
    AcceptSettings,
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
from tests.factories import ADMIN, GD_EAST, SH_EAST, account, desired_members, email

M = account(1)
OLD = "old@example.com"
FIX_LISTS = (
    "missing",
    "not_invited",
    "recreate",
    "stopped",
    "reinvite",
    "awaiting_acceptance",
    "prune",
    "prune_delete_only",
)


@dataclass(frozen=True)
class Case:
    key: ShardKey
    mode: Mode
    status: str | None  # None: AWS does not have the member
    desired: bool = True
    aws_email: str | None = None  # None: the manifest's email
    prune: PruneSettings = field(default_factory=PruneSettings)
    auto_enable: str | None = None
    accept: bool = False
    reinvite: bool = False


PRUNE = PruneSettings(enabled=True)

# name → (case, kind, blocking, detail, the fix list the account lands in or None)
CASES: dict[str, tuple[Case, DriftKind, bool, str, str | None]] = {
    "missing": (
        Case(GD_EAST, Mode.ORGANIZATION, None),
        DriftKind.MISSING,
        False,
        "not a member yet",
        "missing",
    ),
    "unmanaged, prune off": (
        Case(GD_EAST, Mode.ORGANIZATION, "Enabled", desired=False),
        DriftKind.UNMANAGED,
        False,
        "a member in AWS (Enabled) but not in the manifest; left alone",
        None,
    ),
    "unmanaged, protected": (
        Case(
            GD_EAST,
            Mode.ORGANIZATION,
            "Enabled",
            desired=False,
            prune=PruneSettings(enabled=True, protected_accounts=frozenset({M})),
            auto_enable="ALL",
        ),
        DriftKind.UNMANAGED,
        False,
        "a member in AWS (Enabled) but not in the manifest; protected from prune",
        None,
    ),
    "unmanaged, auto-enable ALL": (
        Case(GD_EAST, Mode.ORGANIZATION, "Enabled", desired=False, prune=PRUNE, auto_enable="ALL"),
        DriftKind.PRUNE_BLOCKED,
        True,
        "cannot be removed: GuardDuty auto-enable is ALL for the organization, and AWS refuses "
        "to disassociate organization members then; set it to NEW or NONE first",
        None,
    ),
    "unmanaged, auto-enable ALL, invitation mode": (
        Case(GD_EAST, Mode.INVITATION, "Invited", desired=False, prune=PRUNE, auto_enable="ALL"),
        DriftKind.UNMANAGED,
        False,
        "a member in AWS (Invited) but not in the manifest; will be removed",
        "prune",
    ),
    "unmanaged, auto-enable ALL, Security Hub": (
        Case(SH_EAST, Mode.ORGANIZATION, "ENABLED", desired=False, prune=PRUNE, auto_enable="ALL"),
        DriftKind.UNMANAGED,
        False,
        "a member in AWS (ENABLED) but not in the manifest; will be removed",
        "prune",
    ),
    "unmanaged, auto-enable NEW": (
        Case(GD_EAST, Mode.ORGANIZATION, "Enabled", desired=False, prune=PRUNE, auto_enable="NEW"),
        DriftKind.UNMANAGED,
        False,
        "a member in AWS (Enabled) but not in the manifest; will be removed",
        "prune",
    ),
    "unmanaged, disassociated, deletable": (
        Case(GD_EAST, Mode.ORGANIZATION, "Removed", desired=False, prune=PRUNE),
        DriftKind.UNMANAGED,
        False,
        "disassociated (Removed) and not in the manifest; will be deleted",
        "prune_delete_only",
    ),
    "unmanaged, resigned, Security Hub invitation": (
        Case(SH_EAST, Mode.INVITATION, "RESIGNED", desired=False, prune=PRUNE),
        DriftKind.UNMANAGED,
        False,
        "disassociated (RESIGNED) and not in the manifest; will be deleted",
        "prune_delete_only",
    ),
    "unmanaged, disassociated, Security Hub organization": (
        Case(SH_EAST, Mode.ORGANIZATION, "REMOVED", desired=False, prune=PRUNE),
        DriftKind.UNMANAGED,
        False,
        "disassociated (REMOVED) and not in the manifest; already removed",
        None,
    ),
    "verification failed, new email": (
        Case(GD_EAST, Mode.INVITATION, "EmailVerificationFailed", aws_email=OLD),
        DriftKind.EMAIL_VERIFICATION_FAILED,
        False,
        f"the invitation failed for {OLD}; will be re-created with {email(M)} and invited again",
        "recreate",
    ),
    "verification failed, same email": (
        Case(GD_EAST, Mode.INVITATION, "EmailVerificationFailed"),
        DriftKind.EMAIL_VERIFICATION_FAILED,
        True,
        f"the invitation was not sent: {email(M)} is not the account's root email; fix the "
        "email in the manifest and the next run re-creates the member",
        None,
    ),
    "email mismatch": (
        Case(GD_EAST, Mode.ORGANIZATION, "Enabled", aws_email=OLD),
        DriftKind.EMAIL_MISMATCH,
        False,
        f"manifest email {email(M)}, AWS has {OLD}; reported only",
        None,
    ),
    "awaiting acceptance, invited": (
        Case(GD_EAST, Mode.INVITATION, "Invited", accept=True),
        DriftKind.AWAITING_ACCEPTANCE,
        False,
        "Invited; will be accepted in the member account",
        "awaiting_acceptance",
    ),
    "awaiting acceptance, verifying": (
        Case(SH_EAST, Mode.INVITATION, "EMAIL_VERIFICATION_IN_PROGRESS", accept=True),
        DriftKind.AWAITING_ACCEPTANCE,
        False,
        "EMAIL_VERIFICATION_IN_PROGRESS; will be accepted in the member account",
        "awaiting_acceptance",
    ),
    "created, not invited": (
        Case(GD_EAST, Mode.INVITATION, "Created"),
        DriftKind.NOT_INVITED,
        False,
        "created but not invited",
        "not_invited",
    ),
    "monitoring stopped": (
        Case(GD_EAST, Mode.INVITATION, "Disabled"),
        DriftKind.DISABLED,
        False,
        "associated, but monitoring is stopped; will be restarted",
        "stopped",
    ),
    "resigned, reinvite": (
        Case(GD_EAST, Mode.INVITATION, "Resigned", reinvite=True),
        DriftKind.RESIGNED,
        False,
        "the member left; will be re-invited (reinvite: true)",
        "reinvite",
    ),
    "removed, reinvite": (
        Case(SH_EAST, Mode.INVITATION, "REMOVED", reinvite=True),
        DriftKind.REMOVED,
        False,
        "it was disassociated; will be re-invited (reinvite: true)",
        "reinvite",
    ),
    "resigned, no reinvite": (
        Case(GD_EAST, Mode.INVITATION, "Resigned"),
        DriftKind.RESIGNED,
        True,
        "the member left; not re-invited automatically (set invitation.reinvite: true)",
        None,
    ),
    "removed, organization mode": (
        Case(GD_EAST, Mode.ORGANIZATION, "Removed", reinvite=True),
        DriftKind.REMOVED,
        True,
        "it was disassociated; not re-invited automatically (set invitation.reinvite: true)",
        None,
    ),
    "unexpected status": (
        Case(GD_EAST, Mode.ORGANIZATION, "Invited"),
        DriftKind.UNEXPECTED_STATUS,
        True,
        "status Invited is not what organization mode expects",
        None,
    ),
    "Security Hub has no stopped monitoring": (
        Case(SH_EAST, Mode.INVITATION, "DISABLED"),
        DriftKind.UNEXPECTED_STATUS,
        True,
        "status DISABLED is not what invitation mode expects",
        None,
    ),
    "no status at all": (
        Case(GD_EAST, Mode.INVITATION, ""),
        DriftKind.UNEXPECTED_STATUS,
        True,
        "status unknown is not what invitation mode expects",
        None,
    ),
}


def _diff(case: Case) -> ShardDiff:
    settings = ServiceSettings(
        case.key.service,
        case.mode,
        accept=AcceptSettings("Accept") if case.accept else None,
        reinvite=case.reinvite,
    )
    members = {}
    if case.status is not None:
        seen = case.aws_email or email(M)
        members[M] = ObservedMember(M, seen, MemberStatus.parse(case.status), case.status)
    observation = ShardObservation(
        case.key, ready=True, members=members, auto_enable=case.auto_enable
    )
    return diff_shard(
        desired_members([M]) if case.desired else {},
        observation,
        settings,
        administrator_account_id=ADMIN,
        prune=case.prune,
    )


@pytest.mark.parametrize("name", list(CASES))
def test_each_classification_is_one_whole_drift_item_and_one_fix(name: str) -> None:
    case, kind, blocking, detail, fix = CASES[name]
    result = _diff(case)
    assert result.key == case.key
    assert result.items == (DriftItem(case.key, M, kind, detail, blocking),)
    assert result.items[0].blocking is blocking
    for fix_list in FIX_LISTS:
        assert getattr(result, fix_list) == ((M,) if fix_list == fix else ()), fix_list


def test_an_email_mismatch_is_reported_beside_the_status_drift() -> None:
    case = Case(GD_EAST, Mode.INVITATION, "Created", aws_email=OLD)
    result = _diff(case)
    assert result.items == (
        DriftItem(GD_EAST, M, DriftKind.NOT_INVITED, "created but not invited", False),
        DriftItem(
            GD_EAST,
            M,
            DriftKind.EMAIL_MISMATCH,
            f"manifest email {email(M)}, AWS has {OLD}; reported only",
            False,
        ),
    )
    assert result.not_invited == (M,)


def test_pending_invitations_without_accept_settings_are_no_drift() -> None:
    result = _diff(Case(GD_EAST, Mode.INVITATION, "Invited"))
    assert (result.items, result.awaiting_acceptance) == ((), ())


@pytest.mark.parametrize("prune", [PruneSettings(), PRUNE])
def test_the_administrator_is_never_unmanaged_nor_pruned(prune: PruneSettings) -> None:
    stranger = account(9)
    members = {
        a: ObservedMember(a, email(a), MemberStatus.ENABLED, "Enabled") for a in (ADMIN, stranger)
    }
    result = diff_shard(
        {},
        ShardObservation(GD_EAST, ready=True, members=members),
        ServiceSettings(Service("guardduty"), Mode.ORGANIZATION),
        administrator_account_id=ADMIN,
        prune=prune,
    )
    assert [item.account_id for item in result.items] == [stranger]
    assert result.prune == ((stranger,) if prune.enabled else ())


def test_the_items_are_sorted_by_account_then_kind() -> None:
    ids = [account(i) for i in (3, 1, 2)]
    members = {
        ids[0]: ObservedMember(ids[0], OLD, MemberStatus.CREATED, "Created"),
        ids[2]: ObservedMember(ids[2], email(ids[2]), MemberStatus.CREATED, "Created"),
    }
    result = diff_shard(
        desired_members(ids),
        ShardObservation(GD_EAST, ready=True, members=members),
        ServiceSettings(Service("guardduty"), Mode.INVITATION),
        administrator_account_id=ADMIN,
    )
    assert [(item.account_id, item.kind) for item in result.items] == [
        (account(1), DriftKind.MISSING),
        (account(2), DriftKind.NOT_INVITED),
        (account(3), DriftKind.NOT_INVITED),
        (account(3), DriftKind.EMAIL_MISMATCH),
    ]


def test_a_blocked_shard_diff_names_its_shard() -> None:
    blocked = ShardObservation(SH_EAST, ready=False, reason="not enabled")
    settings = ServiceSettings(Service("securityhub"), Mode.ORGANIZATION)
    result = diff_shard(desired_members([M]), blocked, settings, administrator_account_id=ADMIN)
    assert result == ShardDiff(SH_EAST)


WANTED = {M: DesiredMember(M, email(M))}
PROTECTED = PruneSettings(enabled=True, protected_accounts=frozenset({account(8)}))


@pytest.mark.parametrize(
    ("account_id", "prune", "candidate"),
    [
        (account(9), PROTECTED, True),
        (account(9), PruneSettings(), False),
        (M, PROTECTED, False),
        (ADMIN, PROTECTED, False),
        (account(8), PROTECTED, False),
    ],
    ids=["unmanaged", "prune off", "desired", "administrator", "protected"],
)
def test_is_prune_candidate(account_id: str, prune: PruneSettings, candidate: bool) -> None:
    assert (
        is_prune_candidate(account_id, WANTED, administrator_account_id=ADMIN, prune=prune)
        is candidate
    )


# --- the member side: held-back and skipped accounts ------------------------------------------


def _observed_member(account_id: str, status: str, mail: str | None = None) -> ObservedMember:
    return ObservedMember(account_id, mail, MemberStatus.parse(status), status)


def test_holding_back_an_account_keeps_every_item_of_the_others_and_its_email_mismatch() -> None:
    held, other, created, unmanaged = account(5), account(6), account(7), account(8)
    observation = ShardObservation(
        GD_EAST,
        ready=True,
        members={
            created: _observed_member(created, "Created", OLD),
            unmanaged: _observed_member(unmanaged, "Enabled"),
        },
        cannot_accept={held: "why held", created: "why created"},
    )
    settings = ServiceSettings(Service("guardduty"), Mode.INVITATION)
    result = diff_shard(
        desired_members([held, other, created]),
        observation,
        settings,
        administrator_account_id=ADMIN,
    )

    def held_back(account_id: str, why: str) -> DriftItem:
        detail = f"not invited: {why}; the invitation goes out on the first run after the fix"
        return DriftItem(GD_EAST, account_id, DriftKind.MEMBER_CANNOT_ACCEPT, detail, True)

    # The held accounts' "not a member yet" and "created but not invited" are gone; the
    # non-blocking items of the accounts not held (missing, unmanaged) and the email mismatch
    # of a held one stay.
    assert result.items == (
        held_back(held, "why held"),
        DriftItem(GD_EAST, other, DriftKind.MISSING, "not a member yet", False),
        DriftItem(
            GD_EAST,
            created,
            DriftKind.EMAIL_MISMATCH,
            f"manifest email {email(created)}, AWS has {OLD}; reported only",
            False,
        ),
        held_back(created, "why created"),
        DriftItem(
            GD_EAST,
            unmanaged,
            DriftKind.UNMANAGED,
            "a member in AWS (Enabled) but not in the manifest; left alone",
            False,
        ),
    )
    assert (result.missing, result.not_invited) == ((other,), ())


def test_a_skipped_account_is_one_non_blocking_item_and_never_pruned() -> None:
    absent, listed = account(9), account(10)
    observation = ShardObservation(
        GD_EAST, ready=True, members={listed: _observed_member(listed, "Enabled")}
    )
    result = diff_shard(
        {},
        observation,
        ServiceSettings(Service("guardduty"), Mode.ORGANIZATION),
        administrator_account_id=ADMIN,
        prune=PRUNE,
        skipped={absent: "SUSPENDED", listed: "PENDING_CLOSURE"},
    )
    assert result.items == (
        DriftItem(
            GD_EAST,
            absent,
            DriftKind.SKIPPED,
            "SUSPENDED in AWS Organizations: not enrolled",
            False,
        ),
        DriftItem(
            GD_EAST,
            listed,
            DriftKind.SKIPPED,
            "PENDING_CLOSURE in AWS Organizations, a member in AWS (Enabled): left alone, "
            "neither enrolled again nor removed",
            False,
        ),
    )
    assert all(item.blocking is False for item in result.items)
    for fix_list in FIX_LISTS:
        assert getattr(result, fix_list) == (), fix_list
