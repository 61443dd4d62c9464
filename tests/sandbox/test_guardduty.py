"""GuardDuty over the wire: every member operation through boto3, parsed by botocore."""

from __future__ import annotations

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
    detector,
    error_of,
    make_client_factory,
    start_sandbox,
)

NOT_OWNED = (
    "The request is rejected because the input detectorId is not owned by the current account."
)
ALREADY_MEMBER = (
    "The request is rejected because the given account ID is already a member or associated "
    "member of the current account."
)
ALREADY_INVITED = (
    "The request is rejected because the current account has already invited or is already "
    "the GuardDuty master of the given member account ID."
)
NOT_MEMBER = (
    "The request is rejected because the given account ID is not an associated member of "
    "account the current account."
)


def _results(response: dict[str, object]) -> dict[str, str]:
    entries = response["UnprocessedAccounts"]
    assert isinstance(entries, list)
    return {e["AccountId"]: e["Result"] for e in entries}


def test_detectors_list_get_create(client: ClientFactory) -> None:
    gd = client("guardduty", region="eu-west-1")
    detector_id = detector(client)
    assert len(detector_id) == 32
    found = gd.get_detector(DetectorId=detector_id)
    assert found["Status"] == "ENABLED"
    assert found["ServiceRole"].startswith(f"arn:aws:iam::{ADMIN}:role/")
    # GuardDuty models its timestamps as strings: boto3 hands back str, not datetime.
    assert isinstance(found["CreatedAt"], str)
    assert found["CreatedAt"].endswith("Z")

    with pytest.raises(ClientError) as excinfo:
        gd.create_detector(Enable=True)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("BadRequestException", 400)
    assert message == (
        "The request is rejected because a detector already exists for the current account."
    )
    assert excinfo.value.response["Type"] == "InvalidInputException"

    fresh = client("guardduty", region="ap-southeast-2")
    assert fresh.list_detectors()["DetectorIds"] == []
    created = fresh.create_detector(Enable=False)["DetectorId"]
    assert fresh.list_detectors()["DetectorIds"] == [created]
    assert fresh.get_detector(DetectorId=created)["Status"] == "DISABLED"


def test_detector_ids_are_owned(client: ClientFactory) -> None:
    gd = client("guardduty", region="eu-west-1")
    us_detector = detector(client, region="us-east-1")
    for call in (
        lambda: gd.get_detector(DetectorId=us_detector),
        lambda: gd.list_members(DetectorId="0" * 32),
        lambda: gd.create_members(
            DetectorId="f" * 32, AccountDetails=[{"AccountId": EXTERNAL, "Email": "a@b.cc"}]
        ),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo) == ("BadRequestException", 400, NOT_OWNED)
    # No detector at all: the same answer.
    nowhere = client("guardduty", region="sa-east-1")
    with pytest.raises(ClientError) as excinfo:
        nowhere.list_members(DetectorId=us_detector)
    assert error_of(excinfo)[2] == NOT_OWNED


def test_organization_members_go_straight_to_enabled(
    client: ClientFactory, assume: Assume, sandbox: Sandbox
) -> None:
    gd = client("guardduty")
    detector_id = detector(client)
    response = gd.create_members(
        DetectorId=detector_id,
        AccountDetails=[
            {"AccountId": "222222222222", "Email": "whatever@example.com"},
            {"AccountId": MANAGEMENT, "Email": "aws+999@example.com"},
            {"AccountId": ADMIN, "Email": "aws+111@example.com"},
        ],
    )
    results = _results(response)
    assert list(results) == [ADMIN]
    assert "cannot be a member of itself" in results[ADMIN]
    members = {m["AccountId"]: m for m in gd.list_members(DetectorId=detector_id)["Members"]}
    assert set(members) == {"222222222222", MANAGEMENT}
    assert members["222222222222"]["RelationshipStatus"] == "Enabled"
    # GuardDuty returns the email given at CreateMembers, even for organization members.
    assert members["222222222222"]["Email"] == "whatever@example.com"
    assert members["222222222222"]["AdministratorId"] == ADMIN
    assert members["222222222222"]["MasterId"] == ADMIN
    # Adding an organization account enables GuardDuty there, in that region only.
    assert sandbox.state.detector_status("222222222222", "eu-west-1") == "ENABLED"
    assert sandbox.state.detector_status("222222222222", "us-east-1") is None
    member_detector = detector(client, credentials=assume("222222222222"))
    assert members["222222222222"]["DetectorId"] == member_detector

    again = gd.create_members(
        DetectorId=detector_id,
        AccountDetails=[{"AccountId": "222222222222", "Email": "whatever@example.com"}],
    )
    assert _results(again) == {"222222222222": ALREADY_MEMBER}


def test_management_account_without_detector_is_refused(
    boto_session: boto3.session.Session,
) -> None:
    state = SandboxState.from_dict(
        {
            "version": 1,
            "defaultAccount": ADMIN,
            "organization": {
                "id": "o-example12345",
                "managementAccount": MANAGEMENT,
                "rootId": "r-ab12",
                "delegatedAdministrators": {"guardduty": ADMIN},
            },
            "accounts": {ADMIN: {"regions": {"*": {"guardduty": {"detector": "ENABLED"}}}}},
        }
    )
    sb = start_sandbox(state)
    try:
        own = make_client_factory(boto_session, sb)
        response = own("guardduty").create_members(
            DetectorId=detector(own),
            AccountDetails=[{"AccountId": MANAGEMENT, "Email": "m@example.com"}],
        )
        assert _results(response) == {
            MANAGEMENT: "Operation failed because your organization master must first enable "
            "GuardDuty to be added as a member"
        }
    finally:
        sb.stop()
    assert sb.internal_errors == []


def test_invitation_lifecycle(client: ClientFactory, assume: Assume, sandbox: Sandbox) -> None:
    gd = client("guardduty")
    detector_id = detector(client)
    created = gd.create_members(
        DetectorId=detector_id,
        AccountDetails=[
            {"AccountId": EXTERNAL, "Email": "AWS+888@Example.com"},  # root email, other case
            {"AccountId": "123456789012", "Email": "nobody@example.com"},  # unknown account
        ],
    )
    assert _results(created) == {}
    listed = gd.list_members(DetectorId=detector_id, OnlyAssociated="false")["Members"]
    assert {m["AccountId"]: m["RelationshipStatus"] for m in listed} == {
        EXTERNAL: "Created",
        "123456789012": "Created",
    }

    invited = gd.invite_members(
        DetectorId=detector_id,
        AccountIds=[EXTERNAL, "123456789012", "210987654321"],
        Message="join us",
    )
    assert _results(invited) == {"210987654321": NOT_MEMBER}
    got = gd.get_members(DetectorId=detector_id, AccountIds=[EXTERNAL, "123456789012"])
    statuses = {m["AccountId"]: m["RelationshipStatus"] for m in got["Members"]}
    assert statuses == {EXTERNAL: "Invited", "123456789012": "EmailVerificationFailed"}
    assert isinstance(got["Members"][0]["InvitedAt"], str)

    again = gd.invite_members(DetectorId=detector_id, AccountIds=[EXTERNAL])
    assert _results(again) == {EXTERNAL: ALREADY_INVITED}

    # The member side: the invitation is there, accepting needs our own detector.
    member = client("guardduty", credentials=assume(EXTERNAL))
    member_detector = detector(client, credentials=assume(EXTERNAL))
    invitations = member.list_invitations()["Invitations"]
    assert [(i["AccountId"], i["RelationshipStatus"]) for i in invitations] == [(ADMIN, "Invited")]
    with pytest.raises(ClientError) as excinfo:
        member.accept_administrator_invitation(
            DetectorId=member_detector, AdministratorId=ADMIN, InvitationId="not-it"
        )
    assert error_of(excinfo)[:2] == ("BadRequestException", 400)
    with pytest.raises(ClientError) as excinfo:
        member.accept_administrator_invitation(
            DetectorId=detector_id,  # the administrator's detector, not ours
            AdministratorId=ADMIN,
            InvitationId=invitations[0]["InvitationId"],
        )
    assert error_of(excinfo)[2] == NOT_OWNED

    member.accept_administrator_invitation(
        DetectorId=member_detector,
        AdministratorId=ADMIN,
        InvitationId=invitations[0]["InvitationId"],
    )
    assert member.list_invitations()["Invitations"] == []
    administrator = member.get_administrator_account(DetectorId=member_detector)["Administrator"]
    assert administrator["AccountId"] == ADMIN
    assert administrator["RelationshipStatus"] == "Enabled"
    assert administrator["InvitationId"] == invitations[0]["InvitationId"]
    assert member.get_master_account(DetectorId=member_detector)["Master"]["AccountId"] == ADMIN
    associated = gd.list_members(DetectorId=detector_id)["Members"]
    assert [(m["AccountId"], m["RelationshipStatus"]) for m in associated] == [
        (EXTERNAL, "Enabled")
    ]

    # Stop and start monitoring: Disabled is still associated.
    assert _results(gd.stop_monitoring_members(DetectorId=detector_id, AccountIds=[EXTERNAL])) == {}
    assert gd.list_members(DetectorId=detector_id)["Members"][0]["RelationshipStatus"] == (
        "Disabled"
    )
    started = gd.start_monitoring_members(
        DetectorId=detector_id, AccountIds=[EXTERNAL, "123456789012"]
    )
    assert _results(started) == {"123456789012": NOT_MEMBER}
    assert sandbox.state.member(ADMIN, "eu-west-1", "guardduty", EXTERNAL)["status"] == "Enabled"

    # The member leaves: Resigned, and it has no administrator any more.
    member.disassociate_from_administrator_account(DetectorId=member_detector)
    assert sandbox.state.member(ADMIN, "eu-west-1", "guardduty", EXTERNAL)["status"] == "Resigned"
    assert member.get_administrator_account(DetectorId=member_detector).get("Administrator") is None
    with pytest.raises(ClientError) as excinfo:
        member.disassociate_from_administrator_account(DetectorId=member_detector)
    assert error_of(excinfo)[:2] == ("BadRequestException", 400)

    # A resigned member can be invited again; the deprecated accept works too.
    assert _results(gd.invite_members(DetectorId=detector_id, AccountIds=[EXTERNAL])) == {}
    invitation = member.list_invitations()["Invitations"][0]
    member.accept_invitation(
        DetectorId=member_detector, MasterId=ADMIN, InvitationId=invitation["InvitationId"]
    )
    assert sandbox.state.administrator_of(EXTERNAL, "eu-west-1", "guardduty") == ADMIN


def test_accept_requires_no_other_administrator(
    client: ClientFactory, assume: Assume, sandbox: Sandbox
) -> None:
    sandbox.state.add_members(
        "222222222222",
        "eu-west-1",
        "guardduty",
        [{"accountId": EXTERNAL, "email": "aws+888@example.com", "status": "Enabled"}],
    )
    gd = client("guardduty")
    detector_id = detector(client)
    gd.create_members(
        DetectorId=detector_id,
        AccountDetails=[{"AccountId": EXTERNAL, "Email": "aws+888@example.com"}],
    )
    gd.invite_members(DetectorId=detector_id, AccountIds=[EXTERNAL])
    member = client("guardduty", credentials=assume(EXTERNAL))
    invitation = member.list_invitations()["Invitations"][0]
    with pytest.raises(ClientError) as excinfo:
        member.accept_administrator_invitation(
            DetectorId=detector(client, credentials=assume(EXTERNAL)),
            AdministratorId=ADMIN,
            InvitationId=invitation["InvitationId"],
        )
    code, status, message = error_of(excinfo)
    assert (code, status) == ("BadRequestException", 400)
    assert "already associated" in message


def test_disassociate_and_delete(client: ClientFactory, sandbox: Sandbox) -> None:
    gd = client("guardduty")
    detector_id = detector(client)
    gd.create_members(
        DetectorId=detector_id,
        AccountDetails=[
            {"AccountId": "333333333333", "Email": "aws+333@example.com"},
            {"AccountId": EXTERNAL, "Email": "aws+888@example.com"},
        ],
    )
    removed = gd.disassociate_members(
        DetectorId=detector_id, AccountIds=["333333333333", "123456789012"]
    )
    assert _results(removed) == {"123456789012": NOT_MEMBER}
    assert sandbox.state.member(ADMIN, "eu-west-1", "guardduty", "333333333333")["status"] == (
        "Removed"
    )
    assert sandbox.state.administrator_of("333333333333", "eu-west-1", "guardduty") is None
    # Removed members are hidden by the default OnlyAssociated=true, shown with "false".
    assert gd.list_members(DetectorId=detector_id)["Members"] == []
    assert len(gd.list_members(DetectorId=detector_id, OnlyAssociated="false")["Members"]) == 2

    # A removed organization member is re-associated by CreateMembers.
    readded = gd.create_members(
        DetectorId=detector_id,
        AccountDetails=[{"AccountId": "333333333333", "Email": "aws+333@example.com"}],
    )
    assert _results(readded) == {}
    assert sandbox.state.member(ADMIN, "eu-west-1", "guardduty", "333333333333")["status"] == (
        "Enabled"
    )

    deleted = gd.delete_members(DetectorId=detector_id, AccountIds=[EXTERNAL, "123456789012"])
    assert _results(deleted) == {"123456789012": NOT_MEMBER}
    assert sandbox.state.member(ADMIN, "eu-west-1", "guardduty", EXTERNAL) is None

    with pytest.raises(ClientError) as excinfo:
        gd.list_members(DetectorId=detector_id, OnlyAssociated="maybe")
    assert error_of(excinfo)[:2] == ("BadRequestException", 400)


def test_auto_enable_all_refuses_removing_organization_members(
    client: ClientFactory, sandbox: Sandbox
) -> None:
    sandbox.state.set_detector(
        ADMIN, "eu-west-1", "ENABLED", auto_enable_organization_members="ALL"
    )
    gd = client("guardduty")
    detector_id = detector(client)
    gd.create_members(
        DetectorId=detector_id,
        AccountDetails=[{"AccountId": "444444444444", "Email": "aws+444@example.com"}],
    )
    config = gd.describe_organization_configuration(DetectorId=detector_id)
    assert config["AutoEnableOrganizationMembers"] == "ALL"
    assert config["AutoEnable"] is True
    assert config["MemberAccountLimitReached"] is False
    for call in (gd.disassociate_members, gd.delete_members, gd.stop_monitoring_members):
        with pytest.raises(ClientError) as excinfo:
            call(DetectorId=detector_id, AccountIds=["444444444444"])
        code, status, message = error_of(excinfo)
        assert (code, status) == ("BadRequestException", 400)
        assert "ALL" in message
    assert sandbox.state.member(ADMIN, "eu-west-1", "guardduty", "444444444444")["status"] == (
        "Enabled"
    )


def test_describe_organization_configuration(client: ClientFactory, assume: Assume) -> None:
    gd = client("guardduty", region="us-east-1")
    config = gd.describe_organization_configuration(DetectorId=detector(client, "us-east-1"))
    assert config["AutoEnableOrganizationMembers"] == "NONE"
    assert config["AutoEnable"] is False
    outsider = assume(EXTERNAL)
    with pytest.raises(ClientError) as excinfo:
        client("guardduty", credentials=outsider).describe_organization_configuration(
            DetectorId=detector(client, credentials=outsider)
        )
    assert error_of(excinfo)[:2] == ("BadRequestException", 400)
    admins = client("guardduty", credentials=assume(MANAGEMENT)).list_organization_admin_accounts()
    assert admins["AdminAccounts"] == [{"AdminAccountId": ADMIN, "AdminStatus": "ENABLED"}]


def test_member_cannot_administer(client: ClientFactory, assume: Assume) -> None:
    gd = client("guardduty")
    gd.create_members(
        DetectorId=detector(client),
        AccountDetails=[{"AccountId": "555555555555", "Email": "aws+555@example.com"}],
    )
    member = assume("555555555555")
    with pytest.raises(ClientError) as excinfo:
        client("guardduty", credentials=member).create_members(
            DetectorId=detector(client, credentials=member),
            AccountDetails=[{"AccountId": EXTERNAL, "Email": "aws+888@example.com"}],
        )
    assert error_of(excinfo)[:2] == ("BadRequestException", 400)


def test_quota_overflow_is_unprocessed(client: ClientFactory, sandbox: Sandbox) -> None:
    sandbox.state.add_members(
        ADMIN,
        "eu-west-1",
        "guardduty",
        (
            {"accountId": f"{500000000000 + i}", "email": "m@example.com", "status": "Created"}
            for i in range(49_999)
        ),
    )
    gd = client("guardduty")
    detector_id = detector(client)
    response = gd.create_members(
        DetectorId=detector_id,
        AccountDetails=[
            {"AccountId": "600000000001", "Email": "a@example.com"},
            {"AccountId": "600000000002", "Email": "b@example.com"},
        ],
    )
    results = _results(response)
    assert list(results) == ["600000000002"]
    assert "maximum number of member accounts (50000)" in results["600000000002"]
    config = gd.describe_organization_configuration(DetectorId=detector_id)
    assert config["MemberAccountLimitReached"] is True


def test_validation_beyond_what_botocore_checks(client: ClientFactory) -> None:
    gd = client("guardduty")
    detector_id = detector(client)
    too_many = [{"AccountId": f"{300000000000 + i}", "Email": "x@example.com"} for i in range(64)]
    with pytest.raises(ClientError) as excinfo:
        gd.create_members(DetectorId=detector_id, AccountDetails=too_many)
    assert error_of(excinfo) == (
        "BadRequestException",
        400,
        "The request failed because the length provided for the accountDetails array was 64. "
        "Max allowed length is 50.",
    )
    assert excinfo.value.response["Type"] == "InvalidInputException"

    with pytest.raises(ClientError) as excinfo:
        gd.get_members(
            DetectorId=detector_id, AccountIds=[f"{400000000000 + i}" for i in range(51)]
        )
    assert error_of(excinfo)[2] == (
        "The request failed because the length provided for the accountIds array was 51. "
        "Max allowed length is 50."
    )

    # A 13-digit id passes botocore (it checks min, not max) and is refused by the service.
    with pytest.raises(ClientError) as excinfo:
        gd.invite_members(DetectorId=detector_id, AccountIds=["1234567890123"])
    code, status, message = error_of(excinfo)
    assert (code, status) == ("BadRequestException", 400)
    assert message == (
        "The request is rejected because an invalid or out-of-range value is specified as an "
        "input parameter."
    )
    detail = excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]["x-sandbox-detail"]
    assert "accountIds[0]" in detail

    with pytest.raises(ClientError) as excinfo:
        gd.list_members(DetectorId=detector_id, MaxResults=51)
    assert error_of(excinfo)[:2] == ("BadRequestException", 400)


def test_email_verification_repair_and_invitation_counts(
    client: ClientFactory, sandbox: Sandbox
) -> None:
    gd = client("guardduty")
    detector_id = detector(client)
    gd.create_members(
        DetectorId=detector_id,
        AccountDetails=[{"AccountId": EXTERNAL, "Email": "typo@example.com"}],
    )
    gd.invite_members(DetectorId=detector_id, AccountIds=[EXTERNAL])
    failed = sandbox.state.member(ADMIN, "eu-west-1", "guardduty", EXTERNAL)
    assert failed is not None
    assert failed["status"] == "EmailVerificationFailed"
    assert "invitationsSent" not in failed  # no email went out
    assert sandbox.state.invitations_for(EXTERNAL, "eu-west-1", "guardduty") == []

    # The repair AWS documents: delete, re-create with the root email, invite again.
    gd.delete_members(DetectorId=detector_id, AccountIds=[EXTERNAL])
    gd.create_members(
        DetectorId=detector_id,
        AccountDetails=[{"AccountId": EXTERNAL, "Email": "aws+888@example.com"}],
    )
    gd.invite_members(DetectorId=detector_id, AccountIds=[EXTERNAL])
    repaired = sandbox.state.member(ADMIN, "eu-west-1", "guardduty", EXTERNAL)
    assert repaired is not None
    assert (repaired["status"], repaired["invitationsSent"]) == ("Invited", 1)
    counts = [
        sandbox.state.event_count(event, ADMIN, "eu-west-1", "guardduty", EXTERNAL)
        for event in ("create", "invite")
    ]
    assert counts == [2, 1]
