"""Amazon Detective in the sandbox, through real boto3 clients over HTTP.

What is served and why (the sources are cited in ``reconciler_sandbox/detective.py``): one
behavior graph per account and region (CreateGraph returns the same ARN again, as the API
Reference says); CreateMembers creates and invites at once, organization accounts of the
delegated administrator's organization joining as ENABLED with InvitationType ORGANIZATION,
invited ones verified against their root email (VERIFICATION_IN_PROGRESS, then INVITED or
VERIFICATION_FAILED); 1..50 accounts per batch, refused above with AWS's own words; ListMembers
pages of at most 200 with an opaque token; a graph of at most 1,200 members, a request that
would exceed it refused as a whole (402 ServiceQuotaExceededException); the member side lists,
accepts, rejects and leaves; the organization's administrator is the management account's to
designate and reads and updates AutoEnable.

We test these aspects:
- graphs: list, idempotent create, delete; a missing graph and an unknown GraphArn;
- batches: 51 accounts are a ValidationException in AWS's words, for each batch operation;
- organization and invitation joins, duplicates and the administrator itself unprocessed;
- email verification: a mismatch fails, the configured reads keep it in progress first;
- the member side: list, accept (once), disassociate, reject;
- paging at 200 and bad tokens; the 1,200-member quota; ACCEPTED_BUT_DISABLED from the state;
- the organization configuration and its administrator; throttling like the other services.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from reconciler_sandbox import SandboxState
from tests.sandbox.conftest import (
    ADMIN,
    EXTERNAL,
    MANAGEMENT,
    ORG_MEMBERS,
    Assume,
    ClientFactory,
    error_of,
    make_client_factory,
    quickstart_state,
    start_sandbox,
)

REGION = "eu-west-1"
UNKNOWN = "123456789012"


def graph_of(client: ClientFactory, region: str = REGION, **kwargs: Any) -> str:
    graphs = client("detective", region=region, **kwargs).list_graphs()["GraphList"]
    assert len(graphs) == 1
    arn: str = graphs[0]["Arn"]
    return arn


def accounts(*ids: str, email: str | None = None) -> list[dict[str, str]]:
    return [{"AccountId": a, "EmailAddress": email or f"aws+{a[:3]}@example.com"} for a in ids]


def statuses(details: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {d["AccountId"]: (d["Status"], d["InvitationType"]) for d in details}


# --- graphs --------------------------------------------------------------------------------------


def test_the_quickstart_administrator_has_a_graph_and_create_graph_returns_it_again(
    client: ClientFactory,
) -> None:
    arn = graph_of(client)
    assert arn.startswith(f"arn:aws:detective:{REGION}:{ADMIN}:graph:")
    det = client("detective")
    assert det.create_graph()["GraphArn"] == arn
    assert det.list_graphs()["GraphList"][0]["CreatedTime"] is not None
    # Nowhere else: a new region gets a new graph, once.
    south = client("detective", region="ap-south-1")
    assert south.list_graphs()["GraphList"] == []
    created = south.create_graph(Tags={"team": "security"})["GraphArn"]
    assert created.startswith(f"arn:aws:detective:ap-south-1:{ADMIN}:graph:")
    assert south.create_graph()["GraphArn"] == created


def test_a_missing_graph_and_an_unknown_graph_arn_are_resource_not_found(
    client: ClientFactory, state: SandboxState
) -> None:
    arn = graph_of(client)
    south = client("detective", region="ap-south-1")
    own_but_missing = arn.replace(REGION, "ap-south-1")
    with pytest.raises(ClientError) as excinfo:
        south.list_members(GraphArn=own_but_missing)
    assert error_of(excinfo)[:2] == ("ResourceNotFoundException", 404)
    someone_elses = arn.replace(ADMIN, EXTERNAL)
    with pytest.raises(ClientError) as excinfo:
        client("detective").create_members(GraphArn=someone_elses, Accounts=accounts(EXTERNAL))
    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        404,
        "The request refers to a nonexistent resource.",
    )
    with pytest.raises(ClientError) as excinfo:
        client("detective").get_members(GraphArn="arn:aws:detective:nope", AccountIds=[EXTERNAL])
    assert error_of(excinfo)[:2] == ("ValidationException", 400)
    assert excinfo.value.response["ErrorCode"] == "INVALID_GRAPH_ARN"


def test_delete_graph_removes_its_members_from_both_sides(
    client: ClientFactory, state: SandboxState
) -> None:
    det = client("detective")
    arn = graph_of(client)
    det.create_members(GraphArn=arn, Accounts=accounts(EXTERNAL))
    assert state.invitations_for(EXTERNAL, REGION, "detective") != []
    det.delete_graph(GraphArn=arn)
    assert det.list_graphs()["GraphList"] == []
    assert state.members(ADMIN, REGION, "detective") == []
    assert state.invitations_for(EXTERNAL, REGION, "detective") == []
    with pytest.raises(ClientError) as excinfo:
        det.list_members(GraphArn=arn)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


# --- batches -------------------------------------------------------------------------------------


def test_a_batch_of_51_is_refused_with_aws_words(client: ClientFactory) -> None:
    det = client("detective")
    arn = graph_of(client)
    ids = [f"{500000000000 + i}" for i in range(51)]
    calls = [
        (
            "CreateMembers",
            "Accounts",
            lambda: det.create_members(GraphArn=arn, Accounts=accounts(*ids)),
        ),
        ("GetMembers", "AccountIds", lambda: det.get_members(GraphArn=arn, AccountIds=ids)),
        ("DeleteMembers", "AccountIds", lambda: det.delete_members(GraphArn=arn, AccountIds=ids)),
    ]
    for operation, field, call in calls:
        with pytest.raises(ClientError) as excinfo:
            call()
        # AWS's answer to CreateMembers with 100 accounts (amazon-detective-multiaccount-scripts#6).
        assert error_of(excinfo) == (
            "ValidationException",
            400,
            f"{operation}Request.{field} must have length less than or equal to 50. Found 51.",
        )
        assert excinfo.value.response["ErrorCode"] == "INVALID_REQUEST_BODY"
    # 50 is fine.
    done = det.get_members(GraphArn=arn, AccountIds=ids[:50])
    assert len(done["UnprocessedAccounts"]) == 50


# --- joins ---------------------------------------------------------------------------------------


def test_organization_accounts_join_enabled_and_invited_ones_are_verified_then_invited(
    client: ClientFactory, state: SandboxState
) -> None:
    det = client("detective")
    arn = graph_of(client)
    answer = det.create_members(
        GraphArn=arn,
        Accounts=[
            *accounts(*ORG_MEMBERS[:2]),
            {"AccountId": EXTERNAL, "EmailAddress": "aws+888@example.com"},  # its root email
            {"AccountId": UNKNOWN, "EmailAddress": "nobody@example.com"},  # no such root email
            {"AccountId": ADMIN, "EmailAddress": "aws+111@example.com"},
        ],
        DisableEmailNotification=True,
    )
    assert statuses(answer["Members"]) == {
        ORG_MEMBERS[0]: ("ENABLED", "ORGANIZATION"),
        ORG_MEMBERS[1]: ("ENABLED", "ORGANIZATION"),
        EXTERNAL: ("INVITED", "INVITATION"),
        UNKNOWN: ("VERIFICATION_FAILED", "INVITATION"),
    }
    assert [u["AccountId"] for u in answer["UnprocessedAccounts"]] == [ADMIN]
    member = answer["Members"][0]
    assert member["GraphArn"] == arn
    assert member["AdministratorId"] == member["MasterId"] == ADMIN
    assert "InvitedTime" not in member
    invited = next(m for m in answer["Members"] if m["AccountId"] == EXTERNAL)
    assert invited["InvitedTime"] is not None
    # Again: already members, unprocessed, nothing changes.
    again = det.create_members(GraphArn=arn, Accounts=accounts(ORG_MEMBERS[0], EXTERNAL))
    assert again["Members"] == []
    assert [u["AccountId"] for u in again["UnprocessedAccounts"]] == [ORG_MEMBERS[0], EXTERNAL]
    assert state.administrator_of(ORG_MEMBERS[0], REGION, "detective") == ADMIN
    assert state.event_count("invite", ADMIN, REGION, "detective", EXTERNAL) == 1
    assert state.event_count("invite", ADMIN, REGION, "detective", UNKNOWN) == 0


def test_email_verification_is_in_progress_for_the_configured_reads(
    client: ClientFactory, state: SandboxState
) -> None:
    state.email_verification_reads = 2
    det = client("detective")
    arn = graph_of(client)
    created = det.create_members(GraphArn=arn, Accounts=accounts(EXTERNAL, UNKNOWN))
    assert {m["Status"] for m in created["Members"]} == {"VERIFICATION_IN_PROGRESS"}
    assert state.invitations_for(EXTERNAL, REGION, "detective") == []
    seen = [
        statuses(det.get_members(GraphArn=arn, AccountIds=[EXTERNAL, UNKNOWN])["MemberDetails"])
    ]
    seen.append(statuses(det.list_members(GraphArn=arn)["MemberDetails"]))
    seen.append(statuses(det.list_members(GraphArn=arn)["MemberDetails"]))
    # Two reads see it in progress, the third the outcome.
    assert [s[EXTERNAL][0] for s in seen] == ["VERIFICATION_IN_PROGRESS"] * 2 + ["INVITED"]
    assert [s[UNKNOWN][0] for s in seen] == ["VERIFICATION_IN_PROGRESS"] * 2 + [
        "VERIFICATION_FAILED"
    ]
    assert len(state.invitations_for(EXTERNAL, REGION, "detective")) == 1


# --- the member side -----------------------------------------------------------------------------


def test_an_invited_account_lists_accepts_and_leaves(
    client: ClientFactory, assume: Assume, state: SandboxState
) -> None:
    arn = graph_of(client)
    admin = client("detective")
    admin.create_members(GraphArn=arn, Accounts=accounts(EXTERNAL))
    member = client("detective", credentials=assume(EXTERNAL))
    invitations = member.list_invitations()["Invitations"]
    assert [
        (i["AccountId"], i["AdministratorId"], i["GraphArn"], i["Status"]) for i in invitations
    ] == [(EXTERNAL, ADMIN, arn, "INVITED")]
    member.accept_invitation(GraphArn=arn)
    assert statuses(admin.get_members(GraphArn=arn, AccountIds=[EXTERNAL])["MemberDetails"]) == {
        EXTERNAL: ("ENABLED", "INVITATION")
    }
    # Accepted invitations stay listed; a second accept is a conflict.
    assert [i["Status"] for i in member.list_invitations()["Invitations"]] == ["ENABLED"]
    with pytest.raises(ClientError) as excinfo:
        member.accept_invitation(GraphArn=arn)
    assert error_of(excinfo)[:2] == ("ConflictException", 409)
    assert state.administrator_of(EXTERNAL, REGION, "detective") == ADMIN
    member.disassociate_membership(GraphArn=arn)
    assert member.list_invitations()["Invitations"] == []
    gone = admin.get_members(GraphArn=arn, AccountIds=[EXTERNAL])
    assert gone["MemberDetails"] == []
    assert [u["AccountId"] for u in gone["UnprocessedAccounts"]] == [EXTERNAL]
    assert state.administrator_of(EXTERNAL, REGION, "detective") is None


def test_reject_leaves_no_record_and_organization_members_cannot_leave(
    client: ClientFactory, assume: Assume
) -> None:
    arn = graph_of(client)
    admin = client("detective")
    admin.create_members(GraphArn=arn, Accounts=accounts(EXTERNAL, ORG_MEMBERS[0]))
    member = client("detective", credentials=assume(EXTERNAL))
    member.reject_invitation(GraphArn=arn)
    assert member.list_invitations()["Invitations"] == []
    assert admin.list_members(GraphArn=arn)["MemberDetails"][0]["AccountId"] == ORG_MEMBERS[0]
    with pytest.raises(ClientError) as excinfo:
        member.accept_invitation(GraphArn=arn)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    org_member = client("detective", credentials=assume(ORG_MEMBERS[0]))
    assert org_member.list_invitations()["Invitations"] == []
    for call in (org_member.disassociate_membership, org_member.reject_invitation):
        with pytest.raises(ClientError) as excinfo:
            call(GraphArn=arn)
        assert error_of(excinfo)[0] == "ConflictException"


def test_delete_members_deletes_and_leaves_unknowns_and_the_administrator_unprocessed(
    client: ClientFactory,
) -> None:
    arn = graph_of(client)
    det = client("detective")
    det.create_members(GraphArn=arn, Accounts=accounts(EXTERNAL, ORG_MEMBERS[0]))
    done = det.delete_members(GraphArn=arn, AccountIds=[EXTERNAL, ORG_MEMBERS[0], UNKNOWN, ADMIN])
    assert done["AccountIds"] == [EXTERNAL, ORG_MEMBERS[0]]
    assert [u["AccountId"] for u in done["UnprocessedAccounts"]] == [UNKNOWN, ADMIN]
    assert det.list_members(GraphArn=arn)["MemberDetails"] == []
    # An organization account can always be enabled again.
    again = det.create_members(GraphArn=arn, Accounts=accounts(ORG_MEMBERS[0]))
    assert statuses(again["Members"]) == {ORG_MEMBERS[0]: ("ENABLED", "ORGANIZATION")}


# --- paging, tokens, quota, states ----------------------------------------------------------------


def _seed(state: SandboxState, count: int) -> list[str]:
    ids = [f"{500000000000 + i}" for i in range(count)]
    state.add_members(
        ADMIN,
        REGION,
        "detective",
        ({"accountId": a, "email": "m@example.com", "status": "ENABLED"} for a in ids),
    )
    return ids


def test_list_members_pages_at_200_with_an_opaque_token(
    client: ClientFactory, state: SandboxState
) -> None:
    ids = _seed(state, 450)
    det = client("detective")
    arn = graph_of(client)
    pages: list[int] = []
    seen: list[str] = []
    token: str | None = None
    while True:
        kwargs = {"NextToken": token} if token else {}
        page = det.list_members(GraphArn=arn, MaxResults=200, **kwargs)
        pages.append(len(page["MemberDetails"]))
        seen += [m["AccountId"] for m in page["MemberDetails"]]
        token = page.get("NextToken")
        if not token:
            break
        assert "5000000" not in token  # opaque
    assert pages == [200, 200, 50]
    assert seen == ids
    with pytest.raises(ClientError) as excinfo:
        det.list_members(GraphArn=arn, MaxResults=201)
    assert error_of(excinfo)[:2] == ("ValidationException", 400)
    for bad in ("garbage", "eyJhZnRlciI6IDF9"):
        with pytest.raises(ClientError) as excinfo:
            det.list_members(GraphArn=arn, NextToken=bad)
        assert error_of(excinfo)[:2] == ("ValidationException", 400)


def test_a_graph_holds_at_most_1200_members_and_a_request_beyond_is_refused_whole(
    client: ClientFactory, state: SandboxState
) -> None:
    _seed(state, 1_199)
    det = client("detective")
    arn = graph_of(client)
    with pytest.raises(ClientError) as excinfo:
        det.create_members(GraphArn=arn, Accounts=accounts(EXTERNAL, ORG_MEMBERS[0]))
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ServiceQuotaExceededException", 402)
    assert "cannot have more than 1,200 member accounts" in message
    assert len(state.members(ADMIN, REGION, "detective")) == 1_199
    det.create_members(GraphArn=arn, Accounts=accounts(EXTERNAL))
    assert len(state.members(ADMIN, REGION, "detective")) == 1_200


def test_accepted_but_disabled_comes_from_the_state_file_and_round_trips(
    boto_session: boto3.session.Session,
) -> None:
    state = quickstart_state()
    state.add_members(
        ADMIN,
        REGION,
        "detective",
        [
            {
                "accountId": EXTERNAL,
                "email": "aws+888@example.com",
                "status": "ACCEPTED_BUT_DISABLED",
                "disabledReason": "VOLUME_TOO_HIGH",
            },
            {"accountId": ORG_MEMBERS[0], "status": "INVITED"},
        ],
    )
    reloaded = SandboxState.from_dict(state.to_dict())
    assert reloaded.to_dict() == state.to_dict()
    assert reloaded.administrator_of(EXTERNAL, REGION, "detective") == ADMIN
    assert len(reloaded.invitations_for(ORG_MEMBERS[0], REGION, "detective")) == 1
    sb = start_sandbox(reloaded)
    try:
        det = make_client_factory(boto_session, sb)("detective")
        arn = det.list_graphs()["GraphList"][0]["Arn"]
        found = det.get_members(GraphArn=arn, AccountIds=[EXTERNAL])["MemberDetails"][0]
        assert (found["Status"], found["DisabledReason"]) == (
            "ACCEPTED_BUT_DISABLED",
            "VOLUME_TOO_HIGH",
        )
    finally:
        sb.stop()
    assert sb.internal_errors == []


# --- organization --------------------------------------------------------------------------------


def test_the_organization_configuration_and_its_administrator(
    client: ClientFactory, assume: Assume
) -> None:
    arn = graph_of(client)
    det = client("detective")
    assert det.describe_organization_configuration(GraphArn=arn)["AutoEnable"] is False
    det.update_organization_configuration(GraphArn=arn, AutoEnable=True)
    assert det.describe_organization_configuration(GraphArn=arn)["AutoEnable"] is True
    with pytest.raises(ClientError) as excinfo:
        det.describe_organization_configuration(GraphArn=arn.replace(REGION, "us-east-1"))
    assert error_of(excinfo)[0] == "ValidationException"
    # Only the management account designates and lists the administrator.
    with pytest.raises(ClientError) as excinfo:
        det.list_organization_admin_accounts()
    assert error_of(excinfo)[:2] == ("AccessDeniedException", 403)
    management = client("detective", credentials=assume(MANAGEMENT))
    admins = management.list_organization_admin_accounts()["Administrators"]
    assert [(a["AccountId"], a["GraphArn"]) for a in admins] == [(ADMIN, arn)]
    management.enable_organization_admin_account(AccountId=ADMIN)  # the same: fine
    with pytest.raises(ClientError) as excinfo:
        management.enable_organization_admin_account(AccountId=ORG_MEMBERS[0])
    assert error_of(excinfo)[0] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        det.enable_organization_admin_account(AccountId=ADMIN)
    assert error_of(excinfo)[0] == "AccessDeniedException"
    # A non-administrator reads no organization configuration.
    outsider = client("detective", credentials=assume(EXTERNAL))
    own = outsider.create_graph()["GraphArn"]
    with pytest.raises(ClientError) as excinfo:
        outsider.describe_organization_configuration(GraphArn=own)
    assert error_of(excinfo)[0] == "AccessDeniedException"
    # Without the administrator's organization, organization accounts are invited instead.
    joined = outsider.create_members(GraphArn=own, Accounts=accounts(ORG_MEMBERS[1]))
    assert statuses(joined["Members"]) == {ORG_MEMBERS[1]: ("INVITED", "INVITATION")}


def test_enable_organization_admin_account_creates_the_graph(
    boto_session: boto3.session.Session,
) -> None:
    state = quickstart_state()
    assert state.organization is not None
    del state.organization.delegated_administrators["detective"]
    sb = start_sandbox(state)
    try:
        client = make_client_factory(boto_session, sb)
        sts = client("sts", region="us-east-1")
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{MANAGEMENT}:role/OrganizationAccountAccessRole",
            RoleSessionName="tests",
        )["Credentials"]
        management = client(
            "detective",
            region="ap-south-1",
            credentials=(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]),
        )
        assert management.list_organization_admin_accounts()["Administrators"] == []
        management.enable_organization_admin_account(AccountId=ADMIN)
        assert state.graph_exists(ADMIN, "ap-south-1")
        assert state.organization.delegated_administrators["detective"] == ADMIN
    finally:
        sb.stop()


def test_detective_is_throttled_like_the_other_services(
    boto_session: boto3.session.Session,
) -> None:
    sb = start_sandbox(quickstart_state(), rate=1, burst=2)
    try:
        det = make_client_factory(boto_session, sb)("detective")
        det.list_graphs()
        det.list_graphs()
        with pytest.raises(ClientError) as excinfo:
            det.list_graphs()
        assert error_of(excinfo)[:2] == ("TooManyRequestsException", 429)
        assert [c["service"] for c in sb.calls] == ["detective"] * 3
        assert sb.calls[-1]["fault"] == "throttle"
    finally:
        sb.stop()
