"""The membership life cycle end to end against the sandbox (issue: accept, repair, prune,
Organizations, CSV, opt-in regions, partitions).

Aspects under test:
- accept: the reconciler assumes the role in each member account, readies the member side
  (creating a GuardDuty detector only when told to), accepts only *our* administrator's
  invitation, and a rerun does nothing; the dry-run shows the accepts and makes no call for
  them;
- repair: EmailVerificationFailed with a corrected email is deleted, re-created and invited;
  with the same email it is blocking drift and nothing is sent; GuardDuty Disabled members are
  restarted; resigned members are re-invited only with ``reinvite: true``;
- prune: off by default (reported only); on, GuardDuty members are disassociated then deleted,
  Security Hub organization members only disassociated; protected accounts are never touched;
  more than maxDeletions is refused with no mutating call unless --allow-mass-prune; auto-enable
  ALL plans the prune as blocked;
- membersFrom: the organization's ACTIVE accounts (whole, or OUs recursively), minus exclude,
  explicit members winning;
- CSV members and directory manifests load and converge;
- an opt-in region the account has not enabled blocks only its shards;
- a GovCloud manifest (aws-us-gov partition) converges with partition-aware role ARNs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.cli.conftest import (
    ADMIN,
    EXTERNAL,
    MANAGEMENT,
    Bed,
    manifest,
    org_account,
    root_email,
    world,
)

SECOND_EXTERNAL = "877777777777"
STRANGER_ADMIN = "123123123123"


def invitation_manifest(
    members: list[str], *, accept: bool = True, create_detector: bool = False, **extra: Any
) -> dict[str, Any]:
    data = manifest(
        members, regions=["us-east-1"], guardduty="invitation", securityhub="invitation"
    )
    gd_invitation: dict[str, Any] = {"disableEmailNotification": True}
    sh_invitation: dict[str, Any] = {}
    if accept:
        gd_invitation["accept"] = {"roleName": "OrganizationAccountAccessRole"}
        if create_detector:
            gd_invitation["accept"]["createMemberDetector"] = True
        sh_invitation["accept"] = {"roleName": "OrganizationAccountAccessRole"}
    gd_invitation.update(extra.get("guardduty", {}))
    sh_invitation.update(extra.get("securityhub", {}))
    data["services"]["guardduty"]["invitation"] = gd_invitation
    data["services"]["securityhub"]["invitation"] = sh_invitation
    return data


def seed_members(
    state: dict[str, Any], service: str, region: str, members: list[dict[str, Any]]
) -> None:
    regions = state["accounts"][ADMIN]["regions"]
    regions.setdefault(region, {}).setdefault(service, {})["members"] = members


def statuses(bed: Bed, service: str, region: str = "us-east-1") -> dict[str, str]:
    return {m["accountId"]: m["status"] for m in bed.sandbox.state.members(ADMIN, region, service)}


# -- accept ---------------------------------------------------------------------------------


def test_accept_invitations_in_member_accounts(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(world(external=[EXTERNAL, SECOND_EXTERNAL]))
    path = bed.write_manifest(invitation_manifest([EXTERNAL, SECOND_EXTERNAL]))

    preview = bed.run("--manifest", path, "--dry-run", "--output", "json")
    steps = [(a["service"], a["step"], tuple(a["account_ids"])) for a in preview.json()["actions"]]
    assert ("guardduty", "accept", (EXTERNAL,)) in steps
    assert ("securityhub", "accept", (SECOND_EXTERNAL,)) in steps
    assert preview.count(mutating=True) == 0
    assert preview.count("AssumeRole") == 0

    result = bed.run("--manifest", path, "--output", "json")
    assert result.code == 0, result.stdout + result.stderr
    assert {r["status"] for r in result.json()["results"]} == {"Enabled"}
    assert statuses(bed, "guardduty") == {EXTERNAL: "Enabled", SECOND_EXTERNAL: "Enabled"}
    assert statuses(bed, "securityhub") == {EXTERNAL: "Enabled", SECOND_EXTERNAL: "Enabled"}
    # One role session per member account, shared by its services.
    assert result.count("AssumeRole") == 2
    assert result.count("AcceptAdministratorInvitation") == 4
    member_calls = {
        c["account"] for c in result.calls if c["operation"] == "AcceptAdministratorInvitation"
    }
    assert member_calls == {EXTERNAL, SECOND_EXTERNAL}

    rerun = bed.run("--manifest", path)
    assert rerun.code == 0
    assert rerun.count(mutating=True) == 0
    assert rerun.count("AssumeRole") == 0


def test_accept_takes_only_our_administrators_invitation(make_bed: Callable[..., Bed]) -> None:
    state = world()
    state["accounts"][STRANGER_ADMIN] = {
        "email": root_email(STRANGER_ADMIN),
        "regions": {"*": {"guardduty": {"detector": "ENABLED"}, "securityhub": {"enabled": True}}},
    }
    bed = make_bed(state)
    # Another administrator invites our member first, through the wire like anyone would.
    sts = boto3.client("sts", region_name="us-east-1")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{STRANGER_ADMIN}:role/Admin", RoleSessionName="stranger"
    )["Credentials"]
    stranger = boto3.client(
        "securityhub",
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    stranger.create_members(AccountDetails=[{"AccountId": EXTERNAL}])
    stranger.invite_members(AccountIds=[EXTERNAL])

    path = bed.write_manifest(invitation_manifest([EXTERNAL]))
    result = bed.run("--manifest", path, "--output", "json", "--service", "securityhub")
    assert result.code == 0, result.stdout
    assert bed.sandbox.state.administrator("securityhub", "us-east-1", EXTERNAL) == ADMIN
    assert statuses(bed, "securityhub") == {EXTERNAL: "Enabled"}


def test_accept_needs_a_member_detector_unless_told_to_create_one(
    make_bed: Callable[..., Bed],
) -> None:
    state = world()
    state["accounts"][EXTERNAL]["regions"] = {"*": {"securityhub": {"enabled": True}}}
    bed = make_bed(state)
    path = bed.write_manifest(invitation_manifest([EXTERNAL]))
    failed = bed.run("--manifest", path, "--output", "json", "--service", "guardduty")
    assert failed.code == 1
    # The member side cannot accept: it is not invited (issue 13, point 12), but reported.
    [item] = failed.json()["drift"]
    assert (item["kind"], item["blocking"]) == ("member-cannot-accept", True)
    assert "no GuardDuty detector" in item["detail"]
    assert failed.count("CreateDetector") == 0
    assert failed.count("InviteMembers") == 0

    path = bed.write_manifest(invitation_manifest([EXTERNAL], create_detector=True))
    fixed = bed.run("--manifest", path, "--output", "json", "--service", "guardduty")
    assert fixed.code == 0, fixed.stdout
    assert fixed.count("CreateDetector") == 1
    assert fixed.count("InviteMembers") == 1  # the first invitation, once the member can accept
    assert statuses(bed, "guardduty") == {EXTERNAL: "Enabled"}


# -- repairs --------------------------------------------------------------------------------


def test_email_verification_failed_is_repaired_only_when_the_email_changed(
    make_bed: Callable[..., Bed],
) -> None:
    state = world()
    seed_members(
        state,
        "guardduty",
        "us-east-1",
        [
            {
                "accountId": EXTERNAL,
                "email": "typo@example.com",
                "status": "EmailVerificationFailed",
                "type": "invitation",
            }
        ],
    )
    bed = make_bed(state)
    same = invitation_manifest([EXTERNAL], accept=False)
    same["members"][0]["email"] = "typo@example.com"
    stuck = bed.run(
        "--manifest", bed.write_manifest(same), "--service", "guardduty", "--output", "json"
    )
    assert stuck.code == 1
    assert stuck.count(mutating=True) == 0
    [item] = [d for d in stuck.json()["drift"] if d["account_id"] == EXTERNAL]
    assert item["kind"] == "email-verification-failed"
    assert item["blocking"] is True

    fixed_manifest = invitation_manifest([EXTERNAL], accept=False)
    path = bed.write_manifest(fixed_manifest)
    preview = bed.run("--manifest", path, "--service", "guardduty", "--dry-run", "--output", "json")
    assert [a["step"] for a in preview.json()["actions"]] == [
        "delete-for-repair",
        "create",
        "invite",
    ]
    repaired = bed.run("--manifest", path, "--service", "guardduty")
    assert repaired.code == 0, repaired.stdout
    assert [c["operation"] for c in repaired.calls if c["mutating"]] == [
        "DeleteMembers",
        "CreateMembers",
        "InviteMembers",
    ]
    assert statuses(bed, "guardduty") == {EXTERNAL: "Invited"}


def test_disabled_guardduty_member_is_restarted(make_bed: Callable[..., Bed]) -> None:
    state = world()
    member = org_account(0)
    seed_members(
        state,
        "guardduty",
        "us-east-1",
        [
            {
                "accountId": member,
                "email": root_email(member),
                "status": "Disabled",
                "type": "organization",
            }
        ],
    )
    bed = make_bed(state)
    path = bed.write_manifest(manifest([member], regions=["us-east-1"], securityhub=None))
    result = bed.run("--manifest", path)
    assert result.code == 0, result.stdout
    assert [c["operation"] for c in result.calls if c["mutating"]] == ["StartMonitoringMembers"]
    assert statuses(bed, "guardduty") == {member: "Enabled"}


@pytest.mark.parametrize("reinvite", [False, True])
def test_resigned_members_are_reinvited_only_when_asked(
    make_bed: Callable[..., Bed], reinvite: bool
) -> None:
    state = world()
    seed_members(
        state,
        "securityhub",
        "us-east-1",
        [
            {
                "accountId": EXTERNAL,
                "email": root_email(EXTERNAL),
                "status": "Resigned",
                "type": "invitation",
            }
        ],
    )
    bed = make_bed(state)
    data = invitation_manifest([EXTERNAL], accept=False, securityhub={"reinvite": reinvite})
    result = bed.run("--manifest", bed.write_manifest(data), "--service", "securityhub")
    if reinvite:
        assert result.code == 0, result.stdout
        assert result.count("InviteMembers") == 1
        assert statuses(bed, "securityhub") == {EXTERNAL: "Invited"}
    else:
        assert result.code == 1
        assert result.count(mutating=True) == 0
        assert "reinvite" in result.stdout


# -- prune ----------------------------------------------------------------------------------


def prune_world(*, auto_enable: str = "NONE") -> dict[str, Any]:
    state = world(org_accounts=12)
    for service in ("guardduty", "securityhub"):
        seed_members(
            state,
            service,
            "us-east-1",
            [
                {
                    "accountId": org_account(i),
                    "email": root_email(org_account(i)),
                    "status": "Enabled",
                    "type": "organization",
                }
                for i in range(12)
            ],
        )
    state["accounts"][ADMIN]["regions"]["us-east-1"]["guardduty"][
        "autoEnableOrganizationMembers"
    ] = auto_enable
    return state


def prune_manifest(keep: int, **prune: Any) -> dict[str, Any]:
    data = manifest([org_account(i) for i in range(keep)], regions=["us-east-1"])
    if prune:
        data["prune"] = prune
    return data


def test_unmanaged_members_are_only_reported_without_prune(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(prune_world())
    result = bed.run("--manifest", bed.write_manifest(prune_manifest(10)), "--output", "json")
    assert result.code == 0
    assert result.count(mutating=True) == 0
    unmanaged = {
        (d["service"], d["account_id"]) for d in result.json()["drift"] if d["kind"] == "unmanaged"
    }
    assert len(unmanaged) == 4


def test_prune_removes_unlisted_members_but_not_protected_ones(
    make_bed: Callable[..., Bed],
) -> None:
    bed = make_bed(prune_world())
    protected = org_account(11)
    data = prune_manifest(9, enabled=True, maxDeletions=5, protectedAccounts=[protected])
    result = bed.run("--manifest", bed.write_manifest(data), "--output", "json")
    assert result.code == 0, result.stdout
    removed = [org_account(9), org_account(10)]
    gd_ops = [
        (c["operation"], c["accounts"])
        for c in result.calls
        if c["mutating"] and c["service"] == "guardduty"
    ]
    sh_ops = [
        (c["operation"], c["accounts"])
        for c in result.calls
        if c["mutating"] and c["service"] == "securityhub"
    ]
    assert gd_ops == [("DisassociateMembers", 2), ("DeleteMembers", 2)]
    # Security Hub cannot delete organization members: disassociating is the removal.
    assert sh_ops == [("DisassociateMembers", 2)]
    assert set(statuses(bed, "guardduty")) == {*(org_account(i) for i in range(9)), protected}
    sh = statuses(bed, "securityhub")
    assert all(sh[a] == "Removed" for a in removed)
    assert sh[protected] == "Enabled"
    rerun = bed.run("--manifest", bed.write_manifest(data))
    assert rerun.count(mutating=True) == 0


def test_mass_prune_is_refused_unless_allowed(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(prune_world())
    path = bed.write_manifest(prune_manifest(2, enabled=True, maxDeletions=3))
    refused = bed.run("--manifest", path)
    assert refused.code == 1
    assert refused.count(mutating=True) == 0
    assert "maxDeletions" in refused.stderr
    assert "--allow-mass-prune" in refused.stderr
    allowed = bed.run("--manifest", path, "--allow-mass-prune")
    assert allowed.code == 0, allowed.stdout
    assert set(statuses(bed, "guardduty")) == {org_account(0), org_account(1)}


def test_prune_is_planned_as_blocked_under_auto_enable_all(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(prune_world(auto_enable="ALL"))
    data = prune_manifest(11, enabled=True)
    data["services"].pop("securityhub")
    result = bed.run("--manifest", bed.write_manifest(data), "--output", "json")
    assert result.code == 1
    assert result.count(mutating=True) == 0
    assert result.count("DescribeOrganizationConfiguration") == 1
    [item] = [d for d in result.json()["drift"] if d["account_id"] == org_account(11)]
    assert item["kind"] == "prune-blocked"
    assert "ALL" in item["detail"]


# -- where members come from ------------------------------------------------------------------


def test_members_from_the_whole_organization(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(world(org_accounts=5))
    data = manifest([org_account(0)], regions=["us-east-1"], securityhub=None)
    data["members"][0]["email"] = "explicit@example.com"
    data["membersFrom"] = {"organization": {"exclude": [org_account(4)]}}
    result = bed.run("--manifest", bed.write_manifest(data), "--output", "json", "--show-emails")
    assert result.code == 0, result.stdout
    created = {a for action in result.json()["actions"] for a in action["account_ids"]}
    assert created == {MANAGEMENT, *(org_account(i) for i in range(4))}
    assert ADMIN not in created
    members = {
        m["accountId"]: m["email"]
        for m in bed.sandbox.state.members(ADMIN, "us-east-1", "guardduty")
    }
    assert members[org_account(0)] == "explicit@example.com"
    assert members[org_account(1)] == root_email(org_account(1))
    assert result.count("ListAccounts") >= 1


def test_members_from_ous_recursively(make_bed: Callable[..., Bed]) -> None:
    state = world(org_accounts=4)
    org = state["organization"]
    org["organizationalUnits"].append(
        {"id": "ou-te12-22222222", "name": "Child", "parent": "ou-te12-11111111"}
    )
    org["accounts"][-1]["parent"] = "ou-te12-22222222"
    bed = make_bed(state)
    for recursive, expected in ((False, 3), (True, 4)):
        data = manifest([], regions=["us-east-1"], securityhub=None)
        data["membersFrom"] = {
            "organization": {"ous": ["ou-te12-11111111"], "recursive": recursive}
        }
        result = bed.run("--manifest", bed.write_manifest(data), "--dry-run", "--output", "json")
        assert result.code == 0
        planned = {a for action in result.json()["actions"] for a in action["account_ids"]}
        assert len(planned) == expected


def test_csv_members_and_directory_manifests(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    folder = bed.tmp / "manifest.d"
    folder.mkdir()
    (folder / "members.csv").write_bytes(
        b"".join(f"{org_account(i)},{root_email(org_account(i))}\r\n".encode() for i in range(3))
    )
    base = manifest([], regions=["us-east-1"], securityhub=None)
    base["members"] = {"csv": "members.csv"}
    import yaml

    (folder / "10-base.yaml").write_text(yaml.safe_dump(base))
    result = bed.run("--manifest", folder, "--output", "json")
    assert result.code == 0, result.stdout + result.stderr
    assert set(statuses(bed, "guardduty")) == {org_account(i) for i in range(3)}


# -- regions and partitions -------------------------------------------------------------------


def test_opt_in_region_not_enabled_blocks_only_its_shards(make_bed: Callable[..., Bed]) -> None:
    state = world(regions=("us-east-1", "ap-east-1"))
    state["accounts"][ADMIN]["disabledRegions"] = ["ap-east-1"]
    bed = make_bed(state)
    path = bed.write_manifest(manifest([org_account(0)], regions=["us-east-1", "ap-east-1"]))
    result = bed.run("--manifest", path, "--output", "json")
    assert result.code == 1
    shards = {(s["service"], s["region"]): s for s in result.json()["shards"]}
    for service in ("guardduty", "securityhub"):
        assert shards[(service, "ap-east-1")]["status"] == "blocked"
        assert "region not enabled" in shards[(service, "ap-east-1")]["reason"]
        assert shards[(service, "us-east-1")]["status"] == "ready"
    assert {r["region"] for r in result.json()["results"]} == {"us-east-1"}


def test_govcloud_partition_end_to_end(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(world(regions=("us-gov-west-1",)))
    data = invitation_manifest([EXTERNAL])
    data["regions"] = ["us-gov-west-1"]
    data["administrator"]["roleArn"] = f"arn:aws-us-gov:iam::{ADMIN}:role/MembershipReconciler"
    result = bed.run("--manifest", bed.write_manifest(data), "--output", "json")
    assert result.code == 0, result.stdout + result.stderr
    assert {r["status"] for r in result.json()["results"]} == {"Enabled"}
    assert result.count("AssumeRole") == 2  # the administrator's role, then the member's


def test_the_shipped_lifecycle_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """manifests/lifecycle exercises every feature at once, through the embedded sandbox."""
    from reconciler import cli

    root = Path(__file__).parents[2]
    saved = tmp_path / "after.yaml"
    common = ["--manifest", str(root / "manifests" / "lifecycle"), "--log-level", "warning"]
    code = cli.main(
        [
            *common,
            "--sandbox",
            str(root / "manifests" / "lifecycle-state.yaml"),
            "--sandbox-save",
            str(saved),
            "--output",
            "json",
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 1  # ap-east-1 is not enabled: its two shards are blocked, honestly
    assert [s["region"] for s in document["shards"] if s["status"] == "blocked"] == [
        "ap-east-1"
    ] * 2
    steps = {a["step"] for a in document["actions"]}
    assert steps == {
        "delete-for-repair",
        "create",
        "invite",
        "start-monitoring",
        "accept",
        "disassociate",
        "delete",
    }
    assert document["summary"]["failed"] == 0
    assert document["summary"]["converged"] == 30
    assert cli.main([*common, "--sandbox", str(saved), "--dry-run", "--output", "json"]) == 1
    rerun = json.loads(capsys.readouterr().out)
    assert rerun["actions"] == []
    assert rerun["summary"]["blocking_drift"] == 0
