"""An accept whose answer was lost (found by the fault storms).

When the answer to AcceptAdministratorInvitation is lost (a read timeout, a cut connection),
botocore retries the call, and the retry finds the invitation already used: AWS answers 400,
"the input invitationId is not valid", although the first attempt made the member ours. The
reconciler then asks the member account (GetAdministratorAccount): associated with our
administrator, the account is accepted; anything else, the original error stands. Detective's
AcceptInvitation retried is a ConflictException (the member is no longer INVITED); its member
lists its invitations again (ListInvitations), where an accepted one reads ENABLED.

On real botocore clients with ``Stubber``, so every request is checked against the model.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from reconciler.aws.members import MemberAccounts
from reconciler.aws.registry import OPERATIONS
from reconciler.aws.session import ClientFactory
from reconciler.errors import AwsError
from reconciler.model import AcceptSettings, Service, ShardKey
from reconciler.services import detective
from reconciler.services.accepting import ANSWER_LOST
from reconciler.services.guardduty import DETECTOR_ANSWER_LOST
from tests.factories import ADMIN

REGION = "us-east-1"
MEMBER = "500000000001"
STRANGER = "999999999999"
NOT_VALID = "The request is rejected because the input invitationId is not valid."
CONFLICT = "The request attempted an invalid action."


@pytest.fixture
def acceptor() -> tuple[MemberAccounts, ClientFactory]:
    base = ClientFactory(boto3.Session(region_name=REGION), operations=OPERATIONS, dry_run=False)
    settings = AcceptSettings("OrganizationAccountAccessRole")
    members = MemberAccounts(
        base,
        partition="aws",
        accept=dict.fromkeys(STUBS, settings),
        sts_region=REGION,
    )
    with Stubber(base.client("sts", REGION)) as sts:
        sts.add_response(
            "assume_role",
            {
                "Credentials": {
                    "AccessKeyId": "ASIAEXAMPLEEXAMPLE00",
                    "SecretAccessKey": "x" * 40,
                    "SessionToken": "token",
                    "Expiration": "2030-01-01T00:00:00Z",
                }
            },
        )
        member_factory = members._factory(MEMBER, settings.role_name)
        sts.assert_no_pending_responses()
    return members, member_factory


def stub_guardduty(stubber: Stubber, administrator: str) -> None:
    stubber.add_response("list_detectors", {"DetectorIds": ["d" * 32]})
    stubber.add_response(
        "list_invitations",
        {
            "Invitations": [
                {"AccountId": ADMIN, "InvitationId": "inv1", "RelationshipStatus": "Invited"}
            ]
        },
    )
    stubber.add_client_error(
        "accept_administrator_invitation", "BadRequestException", NOT_VALID, 400
    )
    stubber.add_response(
        "get_administrator_account",
        {
            "Administrator": {
                "AccountId": administrator,
                "InvitationId": "inv1",
                "RelationshipStatus": "Enabled",
            }
        },
    )


def stub_securityhub(stubber: Stubber, administrator: str) -> None:
    stubber.add_client_error(
        "enable_security_hub", "ResourceConflictException", "Account is already subscribed", 409
    )
    stubber.add_response(
        "list_invitations", {"Invitations": [{"AccountId": ADMIN, "InvitationId": "inv1"}]}
    )
    stubber.add_client_error(
        "accept_administrator_invitation", "InvalidInputException", NOT_VALID, 400
    )
    stubber.add_response(
        "get_administrator_account",
        {
            "Administrator": {
                "AccountId": administrator,
                "InvitationId": "inv1",
                "MemberStatus": "Enabled",
            }
        },
    )


GRAPH = f"arn:aws:detective:{REGION}:{ADMIN}:graph:{'a' * 32}"


def stub_detective(stubber: Stubber, administrator: str) -> None:
    def invitations(sender: str, status: str) -> dict[str, Any]:
        listed = {"AccountId": MEMBER, "AdministratorId": sender, "GraphArn": GRAPH}
        return {"Invitations": [listed | {"Status": status}]}

    # Our administrator's invitation, to accept; the retry of the lost accept is refused;
    # then the member's own list: the graph it is now ENABLED in is ``administrator``'s.
    stubber.add_response("list_invitations", invitations(ADMIN, "INVITED"))
    stubber.add_client_error("accept_invitation", "ConflictException", CONFLICT, 409)
    stubber.add_response("list_invitations", invitations(administrator, "ENABLED"))


STUBS: dict[Service, Any] = {
    Service("guardduty"): stub_guardduty,
    Service("securityhub"): stub_securityhub,
    Service("detective"): stub_detective,
}
# What the retried accept is refused with, and the outcome once confirmed, per service.
REFUSED = {
    Service("guardduty"): NOT_VALID,
    Service("securityhub"): NOT_VALID,
    Service("detective"): CONFLICT,
}
CONFIRMED = {
    Service("guardduty"): ANSWER_LOST,
    Service("securityhub"): ANSWER_LOST,
    Service("detective"): detective.ANSWER_LOST,
}


@pytest.mark.parametrize("service", list(STUBS))
def test_a_lost_accept_is_confirmed_by_the_member_account(
    service: Service, acceptor: tuple[MemberAccounts, ClientFactory]
) -> None:
    members, factory = acceptor
    with Stubber(factory.client(service, REGION)) as stubber:
        STUBS[service](stubber, ADMIN)
        done = members.accept(ShardKey(service, REGION), MEMBER, ADMIN)
        stubber.assert_no_pending_responses()
    assert done.endswith(CONFIRMED[service])


@pytest.mark.parametrize("service", list(STUBS))
def test_a_failed_accept_stands_when_the_member_is_not_ours(
    service: Service, acceptor: tuple[MemberAccounts, ClientFactory]
) -> None:
    members, factory = acceptor
    with Stubber(factory.client(service, REGION)) as stubber:
        STUBS[service](stubber, STRANGER)
        with pytest.raises(AwsError, match=REFUSED[service]):
            members.accept(ShardKey(service, REGION), MEMBER, ADMIN)
        stubber.assert_no_pending_responses()


# -- a lost CreateDetector (issue 13, point 11) -----------------------------------------------

ALREADY_EXISTS = (
    "The request is rejected because a detector already exists for the current account."
)


@pytest.fixture
def creating_acceptor() -> tuple[MemberAccounts, ClientFactory]:
    """Like ``acceptor``, with ``createMemberDetector: true`` for GuardDuty."""
    base = ClientFactory(boto3.Session(region_name=REGION), operations=OPERATIONS, dry_run=False)
    settings = AcceptSettings("OrganizationAccountAccessRole", create_member_detector=True)
    members = MemberAccounts(
        base, partition="aws", accept={Service("guardduty"): settings}, sts_region=REGION
    )
    with Stubber(base.client("sts", REGION)) as sts:
        sts.add_response(
            "assume_role",
            {
                "Credentials": {
                    "AccessKeyId": "ASIAEXAMPLEEXAMPLE00",
                    "SecretAccessKey": "x" * 40,
                    "SessionToken": "token",
                    "Expiration": "2030-01-01T00:00:00Z",
                }
            },
        )
        member_factory = members._factory(MEMBER, settings.role_name)
        sts.assert_no_pending_responses()
    return members, member_factory


def stub_lost_create(stubber: Stubber, *, made: bool) -> None:
    """No detector; CreateDetector's retry refused ("already exists"); the list again."""
    stubber.add_response("list_detectors", {"DetectorIds": []})
    stubber.add_client_error("create_detector", "BadRequestException", ALREADY_EXISTS, 400)
    stubber.add_response("list_detectors", {"DetectorIds": ["d" * 32] if made else []})


def test_a_lost_create_detector_is_confirmed_by_the_member_account(
    creating_acceptor: tuple[MemberAccounts, ClientFactory],
) -> None:
    members, factory = creating_acceptor
    with Stubber(factory.client("guardduty", REGION)) as stubber:
        stub_lost_create(stubber, made=True)
        stubber.add_response(
            "list_invitations",
            {"Invitations": [{"AccountId": ADMIN, "InvitationId": "inv1"}]},
            {},
        )
        stubber.add_response(
            "accept_administrator_invitation",
            {},
            {"DetectorId": "d" * 32, "AdministratorId": ADMIN, "InvitationId": "inv1"},
        )
        done = members.accept(ShardKey(Service("guardduty"), REGION), MEMBER, ADMIN)
        stubber.assert_no_pending_responses()
    assert done == f"{DETECTOR_ANSWER_LOST}, accepted"


def test_a_failed_create_detector_stands_when_the_member_has_none(
    creating_acceptor: tuple[MemberAccounts, ClientFactory],
) -> None:
    members, factory = creating_acceptor
    with Stubber(factory.client("guardduty", REGION)) as stubber:
        stub_lost_create(stubber, made=False)
        with pytest.raises(AwsError, match="a detector already exists"):
            members.accept(ShardKey(Service("guardduty"), REGION), MEMBER, ADMIN)
        stubber.assert_no_pending_responses()
