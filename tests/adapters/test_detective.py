"""The adapter on a stubbed real Detective client, and through a real client's parsing.

Aspects under test:
- no behavior graph blocks the shard, in the words a missing detector uses; a graph is found
  on any page of ListGraphs (NextToken followed by hand, MaxResults 200);
- ListMembers is paged by hand (MaxResults 200, then NextToken), with the graph's ARN;
- Detective's statuses map onto ours (VERIFICATION_IN_PROGRESS, VERIFICATION_FAILED,
  ACCEPTED_BUT_DISABLED), emails come from EmailAddress;
- CreateMembers sends Accounts[{AccountId, EmailAddress}] and, in invitation mode only, the
  message and DisableEmailNotification; every UnprocessedAccounts entry comes back (Reason);
- GetMembers and DeleteMembers send GraphArn and AccountIds; Detective has no
  StartMonitoringMembers and no DisassociateMembers;
- through a real client (no Stubber), the lean parser reads MemberDetails like botocore does;
- the member side assumes the role, pages ListInvitations by hand and accepts our graph's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from reconciler.aws.base import MemberAdapter
from reconciler.aws.members import MemberAccounts
from reconciler.aws.session import ClientFactory
from reconciler.model import (
    AcceptSettings,
    DesiredMember,
    InvitationSettings,
    MemberStatus,
    Mode,
    ServiceSettings,
    ShardKey,
    UnprocessedAccount,
)
from reconciler.services.detective import SPEC as DETECTIVE
from tests.adapters.conftest import REGION, make_factory
from tests.factories import ADMIN, account

GRAPH = "arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef"
INVITATION = ServiceSettings(
    DETECTIVE.name,
    Mode.INVITATION,
    invitation=InvitationSettings(message="Join us", disable_email_notification=True),
)


def member(account_id: str, status: str, email: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "AccountId": account_id,
        "GraphArn": GRAPH,
        "AdministratorId": ADMIN,
        "Status": status,
        "InvitationType": "INVITATION",
    }
    if email is not None:
        found["EmailAddress"] = email
    return found


def adapter_on(
    factory: ClientFactory, settings: ServiceSettings | None = None
) -> Iterator[tuple[MemberAdapter, Stubber]]:
    adapter = MemberAdapter(DETECTIVE, factory, REGION, account_id=ADMIN, settings=settings)
    with Stubber(factory.client("detective", REGION)) as stubber:
        yield adapter, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def detective(factory: ClientFactory) -> Iterator[tuple[MemberAdapter, Stubber]]:
    yield from adapter_on(factory)


@pytest.fixture
def invited(factory: ClientFactory) -> Iterator[tuple[MemberAdapter, Stubber]]:
    yield from adapter_on(factory, INVITATION)


def stub_graph(stubber: Stubber) -> None:
    stubber.add_response("list_graphs", {"GraphList": [{"Arn": GRAPH}]}, {"MaxResults": 200})


def stub_no_members(stubber: Stubber) -> None:
    stubber.add_response(
        "list_members", {"MemberDetails": []}, {"GraphArn": GRAPH, "MaxResults": 200}
    )


def test_no_behavior_graph_blocks_the_shard(detective: tuple[MemberAdapter, Stubber]) -> None:
    adapter, stubber = detective
    stubber.add_response("list_graphs", {"GraphList": []}, {"MaxResults": 200})
    observation = adapter.observe()
    assert observation.ready is False
    assert observation.reason == (
        "Detective is not enabled in us-east-1 for 111111111111 (no behavior graph)"
    )
    assert observation.members == {}


def test_the_graph_is_found_on_a_later_page_of_list_graphs(
    detective: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = detective
    stubber.add_response("list_graphs", {"GraphList": [], "NextToken": "g2"}, {"MaxResults": 200})
    stubber.add_response(
        "list_graphs", {"GraphList": [{"Arn": GRAPH}]}, {"MaxResults": 200, "NextToken": "g2"}
    )
    stub_no_members(stubber)
    observation = adapter.observe()
    assert observation.ready is True
    assert observation.members == {}


def test_list_members_is_paged_by_hand_and_statuses_are_ours(
    detective: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = detective
    stub_graph(stubber)
    first = [member(account(i), "ENABLED", f"aws+{account(i)}@example.com") for i in range(200)]
    second = [
        member(account(200), "VERIFICATION_IN_PROGRESS", "v@example.com"),
        member(account(201), "VERIFICATION_FAILED", "f@example.com"),
        member(account(202), "ACCEPTED_BUT_DISABLED", "d@example.com"),
        member(account(203), "INVITED"),
        member(account(204), "SOMETHING_NEW"),
    ]
    base = {"GraphArn": GRAPH, "MaxResults": 200}
    stubber.add_response("list_members", {"MemberDetails": first, "NextToken": "p2"}, base)
    stubber.add_response("list_members", {"MemberDetails": second}, {**base, "NextToken": "p2"})
    observation = adapter.observe()
    assert observation.ready is True
    assert len(observation.members) == 205
    statuses = {a: m.status for a, m in observation.members.items() if a >= account(200)}
    assert statuses == {
        account(200): MemberStatus.EMAIL_VERIFICATION_IN_PROGRESS,
        account(201): MemberStatus.EMAIL_VERIFICATION_FAILED,
        account(202): MemberStatus.DISABLED,
        account(203): MemberStatus.INVITED,
        account(204): MemberStatus.UNKNOWN,
    }
    assert observation.members[account(202)].raw_status == "ACCEPTED_BUT_DISABLED"
    assert observation.members[account(0)].email == f"aws+{account(0)}@example.com"
    assert observation.members[account(203)].email is None


def test_create_members_in_invitation_mode_invites_and_returns_unprocessed(
    invited: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = invited
    stub_graph(stubber)
    stub_no_members(stubber)
    one, two = account(1), account(2)
    stubber.add_response(
        "create_members",
        {
            "Members": [member(one, "VERIFICATION_IN_PROGRESS", "a@example.com")],
            "UnprocessedAccounts": [{"AccountId": two, "Reason": "Account is already invited"}],
        },
        {
            "GraphArn": GRAPH,
            "Accounts": [
                {"AccountId": one, "EmailAddress": "a@example.com"},
                {"AccountId": two, "EmailAddress": "b@example.com"},
            ],
            "Message": "Join us",
            "DisableEmailNotification": True,
        },
    )
    adapter.observe()
    unprocessed = adapter.create_members(
        [DesiredMember(one, "a@example.com"), DesiredMember(two, "b@example.com")]
    )
    assert unprocessed == [UnprocessedAccount(two, "Account is already invited")]


def test_create_members_in_organization_mode_sends_no_invitation(
    factory: ClientFactory,
) -> None:
    settings = ServiceSettings(DETECTIVE.name, Mode.ORGANIZATION)
    for adapter, stubber in adapter_on(factory, settings):
        stub_graph(stubber)
        stub_no_members(stubber)
        stubber.add_response(
            "create_members",
            {"Members": [], "UnprocessedAccounts": []},
            {"GraphArn": GRAPH, "Accounts": [{"AccountId": account(1), "EmailAddress": "a@x.io"}]},
        )
        adapter.observe()
        assert adapter.create_members([DesiredMember(account(1), "a@x.io")]) == []


def test_get_and_delete_members_send_the_graph_and_read_the_answer(
    detective: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = detective
    stub_graph(stubber)
    stub_no_members(stubber)
    ids = [account(1), account(2)]
    stubber.add_response(
        "get_members",
        {
            "MemberDetails": [member(account(1), "ENABLED", "a@example.com")],
            "UnprocessedAccounts": [{"AccountId": account(2), "Reason": "not a member"}],
        },
        {"GraphArn": GRAPH, "AccountIds": ids},
    )
    stubber.add_response(
        "delete_members",
        {"AccountIds": [account(1)], "UnprocessedAccounts": []},
        {"GraphArn": GRAPH, "AccountIds": [account(1)]},
    )
    adapter.observe()
    found, unprocessed = adapter.get_members(ids)
    assert [(m.account_id, m.status, m.email) for m in found] == [
        (account(1), MemberStatus.ENABLED, "a@example.com")
    ]
    assert unprocessed == [UnprocessedAccount(account(2), "not a member")]
    assert adapter.delete_members([account(1)]) == []
    with pytest.raises(NotImplementedError):
        adapter.start_monitoring_members([account(1)])
    with pytest.raises(ValueError, match="no disassociate step"):
        adapter.disassociate_members([account(1)])
    assert adapter.organization_auto_enable() is None


def test_a_member_call_before_the_graph_is_known_is_refused(
    detective: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, _ = detective
    with pytest.raises(RuntimeError, match="before the prerequisite was found"):
        adapter.get_members([account(1)])


def _canned(bodies: list[bytes]) -> Any:
    def send(request: Any, **_: Any) -> AWSResponse:
        response = AWSResponse(
            request.url, 200, {"content-type": "application/json", "x-amzn-requestid": "r"}, None
        )
        response._content = bodies.pop(0)
        return response

    return send


def test_through_a_real_client_members_are_parsed_lean_and_paged_by_hand() -> None:
    factory = make_factory(dry_run=True)
    adapter = MemberAdapter(DETECTIVE, factory, REGION, account_id=ADMIN)
    full = {
        "AccountId": account(1),
        "EmailAddress": "a@example.com",
        "GraphArn": GRAPH,
        "AdministratorId": ADMIN,
        "Status": "ENABLED",
        "InvitedTime": "2024-05-01T12:00:00.000Z",
        "VolumeUsageInBytes": 10,
    }
    bodies = [
        json.dumps({"GraphList": [{"Arn": GRAPH, "CreatedTime": "2024-05-01T12:00:00Z"}]}),
        json.dumps({"MemberDetails": [full], "NextToken": "p2"}),
        json.dumps({"MemberDetails": [{**full, "AccountId": account(2), "Status": "INVITED"}]}),
    ]
    encoded = [body.encode() for body in bodies]
    client = factory.client("detective", REGION)
    client.meta.events.register_last("before-send.*.*", _canned(encoded))
    observation = adapter.observe()
    assert observation.ready
    assert not encoded
    assert {a: (m.email, m.status) for a, m in observation.members.items()} == {
        account(1): ("a@example.com", MemberStatus.ENABLED),
        account(2): ("a@example.com", MemberStatus.INVITED),
    }


def test_the_member_side_accepts_through_a_stubbed_member_client() -> None:
    base = make_factory()
    settings = AcceptSettings("OrganizationAccountAccessRole")
    members = MemberAccounts(
        base, partition="aws", accept={DETECTIVE.name: settings}, sts_region=REGION
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
        key = ShardKey(DETECTIVE.name, REGION)
        assert members.cannot_accept(key, account(1)) is None  # the role only
        sts.assert_no_pending_responses()
    factory = members._factory(account(1), settings.role_name)
    stranger = GRAPH.replace("111111111111", "999999999999")
    theirs = {**member(account(1), "INVITED"), "GraphArn": stranger, "AdministratorId": "9" * 12}
    with Stubber(factory.client("detective", REGION)) as stubber:
        # ListInvitations is paged by hand (no MaxResults: the service's default page).
        stubber.add_response("list_invitations", {"Invitations": [theirs], "NextToken": "i2"}, {})
        stubber.add_response(
            "list_invitations",
            {"Invitations": [member(account(1), "INVITED")]},
            {"NextToken": "i2"},
        )
        stubber.add_response("accept_invitation", {}, {"GraphArn": GRAPH})
        assert members.accept(key, account(1), ADMIN) == "accepted"
        stubber.assert_no_pending_responses()
