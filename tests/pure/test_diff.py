"""The differ as a truth table.

Aspects under test:
- missing, unmanaged and email-mismatch come from the keyed dict diff;
- an email AWS does not return (organization members) is never drift;
- emails compare case-insensitively; statuses compare case-insensitively;
- each status is classified against the mode: accepted, created-not-invited, or blocking drift;
- the administrator itself is never "unmanaged"; a blocked shard has no diff.
"""

from __future__ import annotations

import pytest

from reconciler.diff import DriftKind, diff_shard
from reconciler.model import Mode, ServiceSettings
from tests.factories import ADMIN, GD_EAST, SH_EAST, account, desired_members, email, observed

ORG = ServiceSettings(GD_EAST.service, Mode.ORGANIZATION)
INV = ServiceSettings(GD_EAST.service, Mode.INVITATION)


def kinds(result) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in result.items:
        out.setdefault(item.account_id, []).append(item.kind.value)
    return out


def test_diff_should_do_nothing_when_every_member_is_enabled() -> None:
    ids = [account(i) for i in range(3)]
    result = diff_shard(
        desired_members(ids),
        observed(GD_EAST, dict.fromkeys(ids, "Enabled")),
        ORG,
        administrator_account_id=ADMIN,
    )
    assert result.missing == ()
    assert result.not_invited == ()
    assert result.items == ()


def test_diff_should_report_missing_sorted() -> None:
    ids = [account(i) for i in (3, 1, 2)]
    result = diff_shard(
        desired_members(ids), observed(GD_EAST), ORG, administrator_account_id=ADMIN
    )
    assert result.missing == tuple(sorted(ids))
    assert all(item.kind is DriftKind.MISSING and not item.blocking for item in result.items)


def test_diff_should_report_unmanaged_but_never_the_administrator() -> None:
    stranger = account(99)
    result = diff_shard(
        {},
        observed(GD_EAST, {stranger: "Enabled", ADMIN: "Enabled"}),
        ORG,
        administrator_account_id=ADMIN,
    )
    assert kinds(result) == {stranger: ["unmanaged"]}
    assert result.items[0].blocking is False


def test_diff_should_report_email_mismatch_case_insensitively() -> None:
    same, other = account(1), account(2)
    desired = desired_members([same, other])
    result = diff_shard(
        desired,
        observed(
            GD_EAST,
            {same: "Enabled", other: "Enabled"},
            emails={same: email(same).upper(), other: "someone@else.example"},
        ),
        ORG,
        administrator_account_id=ADMIN,
    )
    assert kinds(result) == {other: ["email-mismatch"]}
    assert "someone@else.example" in result.items[0].detail


@pytest.mark.parametrize(("desired_email", "aws_email"), [(True, None), (False, "x@example.com")])
def test_diff_should_not_compare_an_email_one_side_lacks(
    desired_email: bool, aws_email: str | None
) -> None:
    # Security Hub returns no email for organization members: Terraform's false drift.
    member = account(1)
    result = diff_shard(
        desired_members([member], with_email=desired_email),
        observed(SH_EAST, {member: "ENABLED"}, emails={member: aws_email}),
        ServiceSettings(SH_EAST.service, Mode.ORGANIZATION),
        administrator_account_id=ADMIN,
    )
    assert result.items == ()


@pytest.mark.parametrize(
    ("mode", "status", "expected_kind", "invite", "blocking"),
    [
        (Mode.ORGANIZATION, "Enabled", None, False, False),
        (Mode.ORGANIZATION, "ENABLED", None, False, False),
        (Mode.ORGANIZATION, "Associated", None, False, False),
        (Mode.ORGANIZATION, "Created", "unexpected-status", False, True),
        (Mode.ORGANIZATION, "Invited", "unexpected-status", False, True),
        (Mode.INVITATION, "Created", "created-not-invited", True, False),
        (Mode.INVITATION, "CREATED", "created-not-invited", True, False),
        (Mode.INVITATION, "Invited", None, False, False),
        (Mode.INVITATION, "EmailVerificationInProgress", None, False, False),
        (Mode.INVITATION, "Enabled", None, False, False),
        (Mode.INVITATION, "EmailVerificationFailed", "email-verification-failed", False, True),
        (Mode.INVITATION, "Resigned", "resigned", False, True),
        (Mode.INVITATION, "Removed", "removed", False, True),
        (Mode.ORGANIZATION, "Removed", "removed", False, True),
        (Mode.ORGANIZATION, "Disabled", "disabled", False, False),
        (Mode.INVITATION, "AccountSuspended", "unexpected-status", False, True),
        (Mode.INVITATION, "SomethingNew", "unexpected-status", False, True),
    ],
)
def test_diff_should_classify_status_against_the_mode(
    mode: Mode, status: str, expected_kind: str | None, invite: bool, blocking: bool
) -> None:
    member = account(1)
    result = diff_shard(
        desired_members([member]),
        observed(GD_EAST, {member: status}),
        ServiceSettings(GD_EAST.service, mode),
        administrator_account_id=ADMIN,
    )
    assert result.missing == ()
    assert result.not_invited == ((member,) if invite else ())
    if expected_kind is None:
        assert result.items == ()
    else:
        assert [item.kind.value for item in result.items] == [expected_kind]
        assert result.items[0].blocking is blocking


def test_diff_should_be_empty_for_a_blocked_shard() -> None:
    result = diff_shard(
        desired_members([account(1)]),
        observed(GD_EAST, ready=False, reason="no detector"),
        INV,
        administrator_account_id=ADMIN,
    )
    assert (result.missing, result.not_invited, result.items) == ((), (), ())


def test_diff_should_handle_a_large_shard_with_mixed_changes() -> None:
    ids = [account(i) for i in range(5000)]
    present = {a: "Enabled" for a in ids[:4500]}
    present[account(9999)] = "Enabled"
    result = diff_shard(
        desired_members(ids),
        observed(GD_EAST, present, emails={ids[0]: "changed@example.com"}),
        ORG,
        administrator_account_id=ADMIN,
    )
    assert result.missing == tuple(ids[4500:])
    found = kinds(result)
    assert found[ids[0]] == ["email-mismatch"]
    assert found[account(9999)] == ["unmanaged"]
    assert len(result.items) == 500 + 2
