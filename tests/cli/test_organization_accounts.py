"""Accounts from AWS Organizations that cannot be enrolled (issue 13, point 15).

- A suspended, closing or closed account (Organizations' ``State``: AWS retired ``Status`` on
  9 September 2026) is not enrolled and is reported as ``skipped``; one that is already a
  member (Security Hub lists a suspended member as Enabled) is left alone, not pruned.
- The organization's management account, selected by ``membersFrom`` and refused by AWS (the
  service is off there), fails with a message that suggests ``exclude``.

The real ``reconcile`` entry point against a running sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import jsonschema
from botocore.stub import Stubber

from reconciler.aws.organizations import organization_accounts
from reconciler.aws.registry import OPERATIONS
from reconciler.aws.session import ClientFactory
from tests.cli.conftest import ADMIN, MANAGEMENT, Bed, manifest, org_account, world
from tests.cli.test_member_side import SCHEMA

REGION = "us-east-1"
SUSPENDED, CLOSED, CLOSING = org_account(1), org_account(2), org_account(3)
JSON = ("--output", "json", "--no-progress")


def suspended_world() -> dict[str, Any]:
    state = world(org_accounts=4, regions=(REGION,))
    for account in state["organization"]["accounts"]:
        account["status"] = {
            SUSPENDED: "SUSPENDED",
            CLOSED: "CLOSED",
            CLOSING: "PENDING_CLOSURE",
        }.get(account["accountId"], "ACTIVE")
    # Security Hub still lists the suspended account as an Enabled member.
    state["accounts"][ADMIN]["regions"][REGION]["securityhub"]["members"] = [
        {"accountId": SUSPENDED, "status": "Enabled", "type": "organization"}
    ]
    return state


def test_accounts_that_are_not_active_are_skipped_and_reported(
    make_bed: Callable[..., Bed],
) -> None:
    bed = make_bed(suspended_world(), rate=0)
    data = manifest([], regions=[REGION])
    data["membersFrom"] = {"organization": {}}
    data["prune"] = {"enabled": True}
    result = bed.run("--manifest", bed.write_manifest(data), *JSON)
    assert result.code == 0, result.stdout

    document = result.json()
    jsonschema.validate(document, SCHEMA)
    touched = {a for action in document["actions"] for a in action["account_ids"]}
    assert touched == {MANAGEMENT, org_account(0)}
    skipped = {
        (d["service"], d["account_id"]): d for d in document["drift"] if d["kind"] == "skipped"
    }
    assert set(skipped) == {
        (service, account)
        for service in ("guardduty", "securityhub")
        for account in (SUSPENDED, CLOSED, CLOSING)
    }
    assert all(not d["blocking"] for d in skipped.values())
    assert skipped["guardduty", CLOSED]["detail"] == "CLOSED in AWS Organizations: not enrolled"
    assert skipped["securityhub", SUSPENDED]["detail"].startswith(
        "SUSPENDED in AWS Organizations, a member in AWS (Enabled): left alone"
    )
    # The suspended member was neither pruned nor enrolled anywhere.
    assert bed.sandbox.state.member(ADMIN, REGION, "securityhub", SUSPENDED) is not None
    assert bed.sandbox.state.member(ADMIN, REGION, "guardduty", SUSPENDED) is None
    assert result.count("DisassociateMembers") == 0


def test_the_management_account_refused_by_aws_is_told_about_exclude(
    make_bed: Callable[..., Bed],
) -> None:
    state = world(org_accounts=1, regions=(REGION,))
    state["accounts"][MANAGEMENT]["regions"] = {}  # GuardDuty is off in the management account
    bed = make_bed(state, rate=0)
    data = manifest([], regions=[REGION], securityhub=None)
    data["membersFrom"] = {"organization": {}}
    result = bed.run("--manifest", bed.write_manifest(data), *JSON)
    assert result.code == 1
    outcomes = {r["account_id"]: r for r in result.json()["results"]}
    assert outcomes[org_account(0)]["outcome"] == "converged"
    reason = outcomes[MANAGEMENT]["reason"]
    assert reason.startswith("CreateMembers: Operation failed because your organization master")
    assert "this is the organization's management account" in reason
    assert "membersFrom.organization.exclude" in reason


def listed_account(account_id: str, **state: str) -> dict[str, Any]:
    return {"Id": account_id, "Email": f"{account_id}@example.com", **state}


def test_the_state_is_read_from_state_then_from_the_retired_status() -> None:
    factory = ClientFactory(boto3.Session(region_name=REGION), operations=OPERATIONS, dry_run=False)
    with Stubber(factory.client("organizations", REGION)) as stubber:
        stubber.add_response(
            "list_accounts",
            {
                "Accounts": [
                    listed_account(org_account(0), State="ACTIVE"),
                    listed_account(org_account(1), State="SUSPENDED", Status="ACTIVE"),
                    listed_account(org_account(2), State="CLOSED"),
                    listed_account(org_account(3), Status="PENDING_CLOSURE"),
                    listed_account(org_account(4), State="PENDING_ACTIVATION"),
                    listed_account(org_account(5)),
                ]
            },
        )
        listing = organization_accounts(
            factory, partition="aws", ous=None, recursive=False, role_arn=None, sts_region=REGION
        )
        stubber.assert_no_pending_responses()
    assert [m.account_id for m in listing.members] == [org_account(0), org_account(5)]
    assert listing.skipped == {
        org_account(1): "SUSPENDED",
        org_account(2): "CLOSED",
        org_account(3): "PENDING_CLOSURE",
        org_account(4): "PENDING_ACTIVATION",
    }


def test_organization_members_lists_the_active_accounts_only() -> None:
    factory = ClientFactory(boto3.Session(region_name=REGION), operations=OPERATIONS, dry_run=False)
    with Stubber(factory.client("organizations", REGION)) as stubber:
        stubber.add_response(
            "list_accounts",
            {
                "Accounts": [
                    listed_account(org_account(0), State="ACTIVE"),
                    listed_account(org_account(1), State="SUSPENDED"),
                ]
            },
        )
        members = organization_accounts(
            factory, partition="aws", ous=None, recursive=False, role_arn=None, sts_region=REGION
        ).members
    assert [m.account_id for m in members] == [org_account(0)]
