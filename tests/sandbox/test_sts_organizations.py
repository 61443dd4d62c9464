"""STS and Organizations over the wire: identities, roles, partitions and organization listings."""

from __future__ import annotations

from datetime import datetime

import boto3
import pytest
from botocore.exceptions import ClientError

from reconciler_sandbox import Sandbox, SandboxState
from tests.sandbox.conftest import (
    ADMIN,
    EXTERNAL,
    MANAGEMENT,
    Assume,
    ClientFactory,
    error_of,
    make_client_factory,
    start_sandbox,
)


def test_caller_identity_of_the_base_keys(client: ClientFactory) -> None:
    identity = client("sts", region="us-east-1").get_caller_identity()
    assert identity["Account"] == ADMIN
    assert identity["Arn"] == f"arn:aws:iam::{ADMIN}:user/sandbox"
    assert identity["UserId"]
    # Any key the sandbox did not issue is the default account.
    other = client("sts", credentials=("AKIAANYTHINGATALL000", "whatever"))
    assert other.get_caller_identity()["Account"] == ADMIN


def test_assumed_role_keys_act_as_the_role_account(client: ClientFactory, sandbox: Sandbox) -> None:
    sts = client("sts", region="eu-west-1")
    response = sts.assume_role(
        RoleArn=f"arn:aws:iam::{EXTERNAL}:role/OrganizationAccountAccessRole",
        RoleSessionName="reconciler",
        DurationSeconds=900,
    )
    credentials = response["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert len(credentials["AccessKeyId"]) == 20
    assert credentials["SecretAccessKey"]
    assert credentials["SessionToken"]
    assert isinstance(credentials["Expiration"], datetime)
    assert response["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{EXTERNAL}:assumed-role/OrganizationAccountAccessRole/reconciler"
    )
    keys = (
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
    )
    identity = client("sts", credentials=keys).get_caller_identity()
    assert identity["Account"] == EXTERNAL
    assert identity["Arn"] == response["AssumedRoleUser"]["Arn"]
    # The key is that account for every service: its own detector, not the admin's.
    detectors = client("guardduty", credentials=keys).list_detectors()["DetectorIds"]
    admin_detectors = client("guardduty").list_detectors()["DetectorIds"]
    assert detectors != admin_detectors
    assert sandbox.calls[-2]["account"] == EXTERNAL
    assert sandbox.calls[-1]["account"] == ADMIN


def test_assume_role_is_denied_outside_known_accounts_and_roles(
    boto_session: boto3.session.Session,
) -> None:
    state = SandboxState.from_dict(
        {
            "version": 1,
            "defaultAccount": ADMIN,
            "accounts": {
                ADMIN: {},
                EXTERNAL: {"roles": ["MembershipReconciler"]},
            },
        }
    )
    sb = start_sandbox(state)
    try:
        sts = make_client_factory(boto_session, sb)("sts", region="us-east-1")
        granted = sts.assume_role(
            RoleArn=f"arn:aws:iam::{EXTERNAL}:role/path/to/MembershipReconciler",
            RoleSessionName="ok",
        )
        assert granted["Credentials"]["AccessKeyId"].startswith("ASIA")
        for arn in (
            f"arn:aws:iam::{EXTERNAL}:role/SomethingElse",
            "arn:aws:iam::123456789012:role/MembershipReconciler",
        ):
            with pytest.raises(ClientError) as excinfo:
                sts.assume_role(RoleArn=arn, RoleSessionName="nope")
            code, status, message = error_of(excinfo)
            assert (code, status) == ("AccessDenied", 403)
            assert message.endswith(f"sts:AssumeRole on resource: {arn}")
            assert excinfo.value.response["Error"]["Type"] == "Sender"
        with pytest.raises(ClientError) as excinfo:
            sts.assume_role(RoleArn="arn:aws:iam::role/broken-arn", RoleSessionName="nope")
        assert error_of(excinfo)[:2] == ("ValidationError", 400)
    finally:
        sb.stop()
    assert sb.internal_errors == []


@pytest.mark.parametrize(
    ("partition", "region"), [("aws-us-gov", "us-gov-west-1"), ("aws-cn", "cn-north-1")]
)
def test_partitions(client: ClientFactory, partition: str, region: str) -> None:
    sts = client("sts", region=region)
    role_arn = f"arn:{partition}:iam::{EXTERNAL}:role/OrganizationAccountAccessRole"
    response = sts.assume_role(RoleArn=role_arn, RoleSessionName="partition")
    assert response["AssumedRoleUser"]["Arn"].startswith(f"arn:{partition}:sts::{EXTERNAL}:")
    keys = (
        response["Credentials"]["AccessKeyId"],
        response["Credentials"]["SecretAccessKey"],
        response["Credentials"]["SessionToken"],
    )
    hub = client("securityhub", region=region, credentials=keys).describe_hub()
    assert hub["HubArn"] == f"arn:{partition}:securityhub:{region}:{EXTERNAL}:hub/default"


def test_organization_listings(client: ClientFactory) -> None:
    org = client("organizations", region="us-east-1")
    described = org.describe_organization()["Organization"]
    assert described["Id"] == "o-example12345"
    assert described["MasterAccountId"] == MANAGEMENT
    roots = org.list_roots()["Roots"]
    assert [r["Id"] for r in roots] == ["r-ab12"]
    assert roots[0]["Arn"] == f"arn:aws:organizations::{MANAGEMENT}:root/o-example12345/r-ab12"

    pages = list(org.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["Accounts"]) for p in pages] == [3, 3, 2]
    assert "NextToken" not in pages[-1]
    accounts = [a for p in pages for a in p["Accounts"]]
    assert len({a["Id"] for a in accounts}) == 8
    first = next(a for a in accounts if a["Id"] == "222222222222")
    assert first["Email"] == "aws+222@example.com"
    assert first["State"] == "ACTIVE"
    assert "Status" not in first  # retired by AWS on 9 September 2026
    assert isinstance(first["JoinedTimestamp"], datetime)

    units = org.list_organizational_units_for_parent(ParentId="r-ab12")["OrganizationalUnits"]
    assert [u["Name"] for u in units] == ["Security", "Workloads"]
    workloads = units[1]["Id"]
    nested = org.list_organizational_units_for_parent(ParentId=workloads)["OrganizationalUnits"]
    assert [u["Id"] for u in nested] == ["ou-ab12-33333333"]
    direct = org.list_accounts_for_parent(ParentId=workloads)["Accounts"]
    assert [a["Id"] for a in direct] == [
        "222222222222",
        "333333333333",
        "444444444444",
        "555555555555",
        "666666666666",
    ]
    assert org.describe_account(AccountId="777777777777")["Account"]["Name"] == "experiments"

    with pytest.raises(ClientError) as excinfo:
        org.list_accounts_for_parent(ParentId="ou-ab12-99999999")
    assert error_of(excinfo)[:2] == ("ParentNotFoundException", 400)
    with pytest.raises(ClientError) as excinfo:
        org.list_accounts(MaxResults=21)
    assert error_of(excinfo)[:2] == ("InvalidInputException", 400)
    assert excinfo.value.response["Reason"] == "MAX_VALUE_EXCEEDED"
    with pytest.raises(ClientError) as excinfo:
        org.list_accounts(NextToken="garbage")
    assert excinfo.value.response["Reason"] == "INVALID_NEXT_TOKEN"


def test_organizations_access(client: ClientFactory, assume: Assume) -> None:
    member = client("organizations", region="us-east-1", credentials=assume("222222222222"))
    # Any account of the organization may describe it; only privileged ones may list.
    assert member.describe_organization()["Organization"]["Id"] == "o-example12345"
    with pytest.raises(ClientError) as excinfo:
        member.list_accounts()
    assert error_of(excinfo)[:2] == ("AccessDeniedException", 400)
    management = client("organizations", region="us-east-1", credentials=assume(MANAGEMENT))
    assert len(management.list_accounts()["Accounts"]) == 8
    outsider = client("organizations", region="us-east-1", credentials=assume(EXTERNAL))
    with pytest.raises(ClientError) as excinfo:
        outsider.describe_organization()
    assert error_of(excinfo)[:2] == ("AWSOrganizationsNotInUseException", 400)
