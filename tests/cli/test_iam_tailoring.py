"""``reconcile --iam-policy --manifest M`` grants what M's runs call, and nothing M never calls.

Each scenario generates the policies of a manifest (administrator, member, read-only), runs
the manifest against the sandbox, and applies the policies to the run's calls log: every call
of a principal must be allowed by that principal's policy (``sts:GetCallerIdentity`` needs no
permission). Tailoring is then checked both ways: the actions a mode or prune setting cannot
need are absent from the policy, and the runs indeed never called them; the ones it can need
are present, and were called, so the check above has something to hold.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import ADMIN, MANAGEMENT, Bed, Result, manifest, org_account, world
from tests.reliability.harness import onboarding_manifest, onboarding_world

NO_PERMISSION = {"sts:GetCallerIdentity"}
REMOVALS = {
    "guardduty:DeleteMembers",
    "guardduty:DisassociateMembers",
    "securityhub:DeleteMembers",
    "securityhub:DisassociateMembers",
}
INVITES = {"guardduty:InviteMembers", "securityhub:InviteMembers"}


def _policy(bed: Bed, path: Path, *args: str) -> dict[str, Any]:
    result = bed.run("--iam-policy", *args, "--manifest", path)
    assert result.code == 0, result.stderr
    assert result.calls == []
    document: dict[str, Any] = result.json()
    return document


def _granted(policy: dict[str, Any]) -> set[str]:
    return {
        action
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
    }


def _allows(policy: dict[str, Any], action: str) -> bool:
    # IAM matches actions case-insensitively, with wildcards.
    return any(fnmatch.fnmatchcase(action.lower(), granted.lower()) for granted in _granted(policy))


def _actions(result: Result, accounts: Iterable[str]) -> set[str]:
    wanted = set(accounts)
    return {
        f"{call['service']}:{call['operation']}"
        for call in result.calls
        if call["account"] in wanted
    }


def _refused(policy: dict[str, Any], actions: set[str]) -> set[str]:
    return {action for action in actions - NO_PERMISSION if not _allows(policy, action)}


def test_organization_mode_without_prune_grants_no_invite_and_no_removal(
    make_bed: Callable[..., Bed],
) -> None:
    members = [org_account(i) for i in range(4)]
    bed = make_bed(world())
    path = bed.write_manifest(manifest(members))
    administrator = _policy(bed, path)
    read_only = _policy(bed, path, "--read-only")
    assert not _granted(administrator) & (INVITES | REMOVALS)
    assert "guardduty:DescribeOrganizationConfiguration" not in _granted(administrator)
    assert {"guardduty:CreateMembers", "securityhub:CreateMembers"} <= _granted(administrator)

    dry = bed.run("--manifest", path, "--dry-run")
    applied = bed.run("--manifest", path)
    assert applied.code == 0, applied.stdout
    assert _refused(read_only, _actions(dry, [ADMIN])) == set()
    called = _actions(applied, [ADMIN])
    assert {"guardduty:CreateMembers", "securityhub:CreateMembers"} <= called
    assert _refused(administrator, called) == set()
    assert not called & (INVITES | REMOVALS)


def test_prune_grants_the_removals_its_run_makes(make_bed: Callable[..., Bed]) -> None:
    members = [org_account(i) for i in range(6)]
    bed = make_bed(world())
    assert bed.run("--manifest", bed.write_manifest(manifest(members))).code == 0
    data = manifest(members[:4])
    data["prune"] = {"enabled": True}
    path = bed.write_manifest(data, "pruning.yaml")
    administrator = _policy(bed, path)
    granted = _granted(administrator)
    # Security Hub cannot delete organization members: its removal stops at disassociating.
    assert granted & REMOVALS == REMOVALS - {"securityhub:DeleteMembers"}
    assert not granted & INVITES

    applied = bed.run("--manifest", path)
    assert applied.code == 0, applied.stdout
    called = _actions(applied, [ADMIN])
    assert called & REMOVALS == REMOVALS - {"securityhub:DeleteMembers"}
    assert _refused(administrator, called) == set()


@pytest.mark.parametrize("create_detector", [False, True])
def test_invitation_with_accept_grants_each_principal_what_it_calls(
    make_bed: Callable[..., Bed], create_detector: bool
) -> None:
    state, members = onboarding_world(2)
    if create_detector:
        # One member has no detector in one region: accepting there must create it.
        del state["accounts"][members[0]]["regions"]["*"]
        state["accounts"][members[0]]["regions"]["us-east-1"] = {"securityhub": {"enabled": True}}
        state["accounts"][members[0]]["regions"]["eu-west-1"] = {
            "guardduty": {"detector": "ENABLED"},
            "securityhub": {"enabled": True},
        }
    bed = make_bed(state)
    data = onboarding_manifest(members)
    data["services"]["guardduty"]["invitation"]["accept"]["createMemberDetector"] = create_detector
    path = bed.write_manifest(data)
    administrator = _policy(bed, path)
    member = _policy(bed, path, "member")
    read_only = _policy(bed, path, "--read-only")
    assert _granted(administrator) >= INVITES
    # Without prune nothing is disassociated; DeleteMembers stays, for re-creating a member
    # whose invitation failed.
    assert not _granted(administrator) & {
        "guardduty:DisassociateMembers",
        "securityhub:DisassociateMembers",
    }
    assert ("guardduty:CreateDetector" in _granted(member)) is create_detector

    dry = bed.run("--manifest", path, "--dry-run")
    applied = bed.run("--manifest", path)
    assert applied.code == 0, applied.stdout
    assert _refused(read_only, _actions(dry, [ADMIN])) == set()
    admin_called = _actions(applied, [ADMIN])
    member_called = _actions(applied, members)
    assert admin_called >= INVITES
    assert "sts:AssumeRole" in admin_called
    assert "guardduty:AcceptAdministratorInvitation" in member_called
    assert ("guardduty:CreateDetector" in member_called) is create_detector
    assert _refused(administrator, admin_called) == set()
    assert _refused(member, member_called) == set()


def test_the_member_policy_covers_only_the_services_that_accept(
    make_bed: Callable[..., Bed],
) -> None:
    state, members = onboarding_world(1)
    bed = make_bed(state)
    data = onboarding_manifest(members)
    del data["services"]["securityhub"]["invitation"]["accept"]
    path = bed.write_manifest(data)
    member = _granted(_policy(bed, path, "member"))
    assert "guardduty:AcceptAdministratorInvitation" in member
    assert not {action for action in member if action.startswith("securityhub:")}


def test_every_conditional_operation_is_declared_and_the_others_are_always_granted() -> None:
    from reconciler.aws import iam
    from reconciler.aws.registry import OPERATIONS
    from reconciler.services import operations

    # The needs, now declared with the operations, are exactly the ones the table of needs
    # held before they moved there.
    assert OPERATIONS.needs() == {
        ("guardduty", "InviteMembers"): operations.INVITE,
        ("securityhub", "InviteMembers"): operations.INVITE,
        ("guardduty", "DisassociateMembers"): operations.DISASSOCIATE,
        ("securityhub", "DisassociateMembers"): operations.DISASSOCIATE,
        ("guardduty", "DeleteMembers"): operations.DELETE,
        ("securityhub", "DeleteMembers"): operations.DELETE,
        ("guardduty", "DescribeOrganizationConfiguration"): operations.PRUNE_ORGANIZATION,
        ("guardduty", "CreateDetector"): operations.CREATE_MEMBER_DETECTOR,
        ("detective", "DeleteMembers"): operations.DELETE,
    }
    # No need at all (the narrowest manifest): every operation without a need is still there,
    # so an operation declared later is granted until it is given a need.
    narrowest = _granted(iam.policy(needs=frozenset()))
    unconditional = {
        spec.iam_action
        for spec in OPERATIONS.all()
        if "administrator" in spec.principals and spec.need is None and spec.service != "sts"
    }
    assert narrowest == unconditional


@pytest.mark.parametrize("reader_role", [False, True])
def test_the_organization_reader_is_granted_what_listing_the_organization_calls(
    make_bed: Callable[..., Bed], reader_role: bool
) -> None:
    bed = make_bed(world(org_accounts=3))
    data = manifest([])
    data["membersFrom"] = {"organization": {"ous": ["ou-te12-11111111"]}}
    role = f"arn:aws:iam::{MANAGEMENT}:role/OrganizationReader"
    if reader_role:
        data["membersFrom"]["organization"]["roleArn"] = role
    del data["members"]
    path = bed.write_manifest(data)
    administrator = _policy(bed, path)
    reader = _policy(bed, path, "organization-reader")
    applied = bed.run("--manifest", path)
    assert applied.code == 0, applied.stdout
    listing = {
        "organizations:ListAccountsForParent",
        "organizations:ListOrganizationalUnitsForParent",
    }
    if reader_role:
        # The administrator only assumes the reader's role, on that role alone.
        assert _actions(applied, [MANAGEMENT]) >= listing
        assert _refused(reader, _actions(applied, [MANAGEMENT])) == set()
        assert not {a for a in _granted(administrator) if a.startswith("organizations:")}
        (assume,) = [s for s in administrator["Statement"] if s["Action"] == ["sts:AssumeRole"]]
        assert assume["Resource"] == [role]
    else:
        # A delegated administrator lists the organization itself.
        assert _actions(applied, [ADMIN]) >= listing
    assert _refused(administrator, _actions(applied, [ADMIN])) == set()
