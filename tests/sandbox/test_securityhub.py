"""Security Hub over the wire: the hub, members and invitations, and its error vocabulary."""

from __future__ import annotations

from datetime import datetime

import pytest
from botocore.exceptions import ClientError

from reconciler_sandbox import Sandbox
from tests.sandbox.conftest import ADMIN, EXTERNAL, MANAGEMENT, Assume, ClientFactory, error_of


def _results(response: dict[str, object]) -> dict[str, str]:
    entries = response.get("UnprocessedAccounts", [])
    assert isinstance(entries, list)
    return {e["AccountId"]: e["ProcessingResult"] for e in entries}


def test_hub_enable_and_describe(client: ClientFactory) -> None:
    sh = client("securityhub", region="eu-west-1")
    hub = sh.describe_hub()
    assert hub["HubArn"] == f"arn:aws:securityhub:eu-west-1:{ADMIN}:hub/default"
    assert isinstance(hub["SubscribedAt"], str)  # modelled as a string, unlike the others
    with pytest.raises(ClientError) as excinfo:
        sh.enable_security_hub()
    assert error_of(excinfo) == (
        "ResourceConflictException",
        409,
        "Account is already subscribed to Security Hub",
    )
    with pytest.raises(ClientError) as excinfo:
        sh.describe_hub(HubArn=f"arn:aws:securityhub:eu-west-1:{EXTERNAL}:hub/default")
    assert error_of(excinfo)[:2] == ("ResourceNotFoundException", 404)

    elsewhere = client("securityhub", region="ap-northeast-1")
    with pytest.raises(ClientError) as excinfo:
        elsewhere.describe_hub()
    assert error_of(excinfo) == (
        "InvalidAccessException",
        401,
        f"Account {ADMIN} is not subscribed to AWS Security Hub",
    )
    elsewhere.enable_security_hub(EnableDefaultStandards=False)
    assert elsewhere.describe_hub()["HubArn"].endswith(f":{ADMIN}:hub/default")


def test_every_member_call_needs_the_hub(client: ClientFactory) -> None:
    sh = client("securityhub", region="ca-central-1")
    calls = [
        lambda: sh.create_members(AccountDetails=[{"AccountId": EXTERNAL}]),
        lambda: sh.invite_members(AccountIds=[EXTERNAL]),
        lambda: sh.list_members(),
        lambda: sh.get_members(AccountIds=[EXTERNAL]),
        lambda: sh.disassociate_members(AccountIds=[EXTERNAL]),
        lambda: sh.delete_members(AccountIds=[EXTERNAL]),
        lambda: sh.list_invitations(),
        lambda: sh.get_administrator_account(),
        lambda: sh.accept_administrator_invitation(AdministratorId=ADMIN, InvitationId="x"),
        lambda: sh.disassociate_from_administrator_account(),
        lambda: sh.describe_organization_configuration(),
    ]
    for call in calls:
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[:2] == ("InvalidAccessException", 401)


def test_organization_members_have_no_email(client: ClientFactory, sandbox: Sandbox) -> None:
    sh = client("securityhub")
    response = sh.create_members(
        AccountDetails=[
            {"AccountId": "222222222222", "Email": "aws+222@example.com"},
            {"AccountId": "333333333333"},
            {"AccountId": MANAGEMENT},
            {"AccountId": EXTERNAL, "Email": "aws+888@example.com"},
        ]
    )
    assert _results(response) == {}
    assert sandbox.state.hub_enabled("333333333333", "eu-west-1")  # enabled by CreateMembers
    everyone = {m["AccountId"]: m for m in sh.list_members(OnlyAssociated=False)["Members"]}
    assert everyone["222222222222"]["MemberStatus"] == "Enabled"
    assert "Email" not in everyone["222222222222"]  # the Terraform false-drift case
    assert everyone[EXTERNAL]["MemberStatus"] == "Created"
    assert everyone[EXTERNAL]["Email"] == "aws+888@example.com"
    assert isinstance(everyone[EXTERNAL]["UpdatedAt"], datetime)
    assert everyone["222222222222"]["AdministratorId"] == ADMIN
    # OnlyAssociated defaults to TRUE: only Enabled members.
    assert sorted(m["AccountId"] for m in sh.list_members()["Members"]) == [
        "222222222222",
        "333333333333",
        MANAGEMENT,
    ]
    again = sh.create_members(AccountDetails=[{"AccountId": "222222222222"}])
    assert "already a member" in _results(again)["222222222222"]


def test_invitation_lifecycle(client: ClientFactory, assume: Assume, sandbox: Sandbox) -> None:
    sh = client("securityhub")
    sh.create_members(AccountDetails=[{"AccountId": EXTERNAL, "Email": "wrong@example.com"}])
    # Security Hub does not verify the email: the invitation goes out.
    invited = sh.invite_members(AccountIds=[EXTERNAL, "123456789012"])
    assert list(_results(invited)) == ["123456789012"]
    got = sh.get_members(AccountIds=[EXTERNAL, "123456789012"])
    assert [m["MemberStatus"] for m in got["Members"]] == ["Invited"]
    assert isinstance(got["Members"][0]["InvitedAt"], datetime)
    assert list(_results(got)) == ["123456789012"]
    assert "already invited" in _results(sh.invite_members(AccountIds=[EXTERNAL]))[EXTERNAL]

    member = client("securityhub", credentials=assume(EXTERNAL))
    invitations = member.list_invitations()["Invitations"]
    assert [(i["AccountId"], i["MemberStatus"]) for i in invitations] == [(ADMIN, "Invited")]
    assert isinstance(invitations[0]["InvitedAt"], datetime)
    with pytest.raises(ClientError) as excinfo:
        member.accept_administrator_invitation(AdministratorId=ADMIN, InvitationId="nope")
    assert error_of(excinfo)[:2] == ("InvalidInputException", 400)
    member.accept_administrator_invitation(
        AdministratorId=ADMIN, InvitationId=invitations[0]["InvitationId"]
    )
    assert member.list_invitations()["Invitations"] == []
    administrator = member.get_administrator_account()["Administrator"]
    assert (administrator["AccountId"], administrator["MemberStatus"]) == (ADMIN, "Enabled")
    assert member.get_master_account()["Master"]["AccountId"] == ADMIN
    assert [m["AccountId"] for m in sh.list_members()["Members"]] == [EXTERNAL]

    member.disassociate_from_administrator_account()
    assert sandbox.state.member(ADMIN, "eu-west-1", "securityhub", EXTERNAL)["status"] == (
        "Resigned"
    )
    assert "Administrator" not in member.get_administrator_account()

    # Re-invite, accept with the deprecated call, then the administrator removes it.
    sh.invite_members(AccountIds=[EXTERNAL])
    invitation = member.list_invitations()["Invitations"][0]
    member.accept_invitation(MasterId=ADMIN, InvitationId=invitation["InvitationId"])
    response = sh.disassociate_members(AccountIds=[EXTERNAL, "123456789012"])
    assert set(response) == {"ResponseMetadata"}  # no UnprocessedAccounts in this response
    assert sandbox.state.member(ADMIN, "eu-west-1", "securityhub", EXTERNAL)["status"] == (
        "Removed"
    )
    assert _results(sh.delete_members(AccountIds=[EXTERNAL])) == {}
    assert sandbox.state.member(ADMIN, "eu-west-1", "securityhub", EXTERNAL) is None


def test_organization_members_cannot_be_deleted(client: ClientFactory, sandbox: Sandbox) -> None:
    sh = client("securityhub")
    sh.create_members(AccountDetails=[{"AccountId": "444444444444"}])
    sh.disassociate_members(AccountIds=["444444444444"])
    deleted = sh.delete_members(AccountIds=["444444444444", "123456789012"])
    results = _results(deleted)
    assert "cannot be deleted" in results["444444444444"]
    assert "not a member" in results["123456789012"]
    assert sandbox.state.member(ADMIN, "eu-west-1", "securityhub", "444444444444")["status"] == (
        "Removed"
    )
    # Disassociated organization members come back with CreateMembers.
    assert _results(sh.create_members(AccountDetails=[{"AccountId": "444444444444"}])) == {}
    assert sandbox.state.member(ADMIN, "eu-west-1", "securityhub", "444444444444")["status"] == (
        "Enabled"
    )


def test_member_cannot_administer(client: ClientFactory, assume: Assume) -> None:
    client("securityhub").create_members(AccountDetails=[{"AccountId": "555555555555"}])
    member = client("securityhub", credentials=assume("555555555555"))
    with pytest.raises(ClientError) as excinfo:
        member.create_members(AccountDetails=[{"AccountId": EXTERNAL}])
    assert error_of(excinfo)[:2] == ("AccessDeniedException", 403)


def test_organization_configuration(client: ClientFactory, assume: Assume) -> None:
    config = client("securityhub").describe_organization_configuration()
    assert config["AutoEnable"] is False
    assert config["MemberAccountLimitReached"] is False
    assert config["OrganizationConfiguration"]["ConfigurationType"] == "LOCAL"
    with pytest.raises(ClientError) as excinfo:
        client("securityhub", credentials=assume(EXTERNAL)).describe_organization_configuration()
    assert error_of(excinfo)[:2] == ("InvalidAccessException", 401)
    management = client("securityhub", credentials=assume(MANAGEMENT))
    admins = management.list_organization_admin_accounts()["AdminAccounts"]
    assert admins == [{"AccountId": ADMIN, "Status": "ENABLED"}]


def test_quotas_refuse_the_whole_call(client: ClientFactory, sandbox: Sandbox) -> None:
    sandbox.state.add_members(
        ADMIN,
        "eu-west-1",
        "securityhub",
        ({"accountId": f"{500000000000 + i}", "status": "Invited"} for i in range(1_000)),
    )
    sh = client("securityhub")
    with pytest.raises(ClientError) as excinfo:
        sh.create_members(AccountDetails=[{"AccountId": "600000000001"}])
    code, status, message = error_of(excinfo)
    assert (code, status) == ("LimitExceededException", 429)
    assert "1000 invitation member accounts" in message
    # Organization members have their own quota of 10,000: still room.
    assert _results(sh.create_members(AccountDetails=[{"AccountId": "666666666666"}])) == {}
    assert len(sandbox.state.members(ADMIN, "eu-west-1", "securityhub")) == 1_001


def test_validation_errors(client: ClientFactory) -> None:
    sh = client("securityhub")
    with pytest.raises(ClientError) as excinfo:
        sh.create_members(AccountDetails=[{"AccountId": f"{300000000000 + i}"} for i in range(51)])
    code, status, message = error_of(excinfo)
    assert (code, status) == ("InvalidInputException", 400)
    assert "AccountDetails" in message
    assert "less than or equal to 50" in message
    with pytest.raises(ClientError) as excinfo:
        sh.list_members(MaxResults=51)
    assert error_of(excinfo)[:2] == ("InvalidInputException", 400)
    with pytest.raises(ClientError) as excinfo:
        sh.invite_members(AccountIds=["   "])  # the model's pattern .*\S.*
    assert error_of(excinfo)[:2] == ("InvalidInputException", 400)
    with pytest.raises(ClientError) as excinfo:
        sh.list_members(NextToken="not-a-token")
    assert error_of(excinfo)[:2] == ("InvalidInputException", 400)


def test_deprecated_master_calls_of_both_services(
    client: ClientFactory, assume: Assume, sandbox: Sandbox
) -> None:
    keys = assume(EXTERNAL)
    gd = client("guardduty")
    gd_detector = gd.list_detectors()["DetectorIds"][0]
    gd.create_members(
        DetectorId=gd_detector,
        AccountDetails=[{"AccountId": EXTERNAL, "Email": "aws+888@example.com"}],
    )
    gd.invite_members(DetectorId=gd_detector, AccountIds=[EXTERNAL])
    client("securityhub").create_members(AccountDetails=[{"AccountId": EXTERNAL}])
    client("securityhub").invite_members(AccountIds=[EXTERNAL])

    member_gd = client("guardduty", credentials=keys)
    own_detector = member_gd.list_detectors()["DetectorIds"][0]
    invitation = member_gd.list_invitations()["Invitations"][0]["InvitationId"]
    member_gd.accept_invitation(DetectorId=own_detector, MasterId=ADMIN, InvitationId=invitation)
    member_gd.disassociate_from_master_account(DetectorId=own_detector)

    member_sh = client("securityhub", credentials=keys)
    invitation = member_sh.list_invitations()["Invitations"][0]["InvitationId"]
    member_sh.accept_invitation(MasterId=ADMIN, InvitationId=invitation)
    member_sh.disassociate_from_master_account()

    for service in ("guardduty", "securityhub"):
        assert sandbox.state.member(ADMIN, "eu-west-1", service, EXTERNAL)["status"] == "Resigned"
        assert sandbox.state.administrator_of(EXTERNAL, "eu-west-1", service) is None
