"""The Security Hub adapter on a stubbed real client.

Aspects under test:
- DescribeHub's 401 InvalidAccessException blocks the shard; another error is raised;
- ListMembers sends OnlyAssociated as the boolean False and follows every page;
- an organization member without Email is kept without one;
- UnprocessedAccounts absent, empty and present are all handled.
"""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from reconciler.aws.base import MemberAdapter
from reconciler.errors import PermanentAwsError
from reconciler.model import DesiredMember, InvitationSettings, MemberStatus
from tests.factories import ADMIN, account

HUB = {"HubArn": "arn:aws:securityhub:us-east-1:111111111111:hub/default"}


def test_observe_should_block_when_security_hub_is_not_enabled(
    securityhub: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = securityhub
    stubber.add_client_error(
        "describe_hub",
        service_error_code="InvalidAccessException",
        service_message=f"Account {ADMIN} is not subscribed to AWS Security Hub",
        http_status_code=401,
    )
    observation = adapter.observe()
    assert observation.ready is False
    assert observation.reason == "Security Hub is not enabled in us-east-1 for 111111111111"


def test_observe_should_raise_other_errors(
    securityhub: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = securityhub
    stubber.add_client_error(
        "describe_hub", service_error_code="AccessDeniedException", http_status_code=403
    )
    with pytest.raises(PermanentAwsError, match="AccessDeniedException"):
        adapter.observe()


def test_observe_should_read_every_page_with_only_associated_false(
    securityhub: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = securityhub
    stubber.add_response("describe_hub", HUB, {})
    page = [{"AccountId": account(i), "MemberStatus": "ENABLED"} for i in range(50)]
    stubber.add_response(
        "list_members",
        {"Members": page, "NextToken": "t2"},
        {"OnlyAssociated": False, "MaxResults": 50},
    )
    stubber.add_response(
        "list_members",
        {
            "Members": [
                {"AccountId": account(50), "Email": "x@example.com", "MemberStatus": "Created"}
            ]
        },
        {"OnlyAssociated": False, "MaxResults": 50, "NextToken": "t2"},
    )
    observation = adapter.observe()
    assert len(observation.members) == 51
    assert observation.members[account(0)].email is None
    assert observation.members[account(0)].status is MemberStatus.ENABLED
    assert observation.members[account(50)].status is MemberStatus.CREATED


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({}, []),
        ({"UnprocessedAccounts": []}, []),
        (
            {"UnprocessedAccounts": [{"AccountId": "200000000001", "ProcessingResult": "Nope"}]},
            [("200000000001", "Nope")],
        ),
        (
            {"UnprocessedAccounts": [{"AccountId": "200000000001"}]},
            [("200000000001", "no reason given")],
        ),
    ],
)
def test_create_members_should_handle_every_unprocessed_form(
    securityhub: tuple[MemberAdapter, Stubber],
    response: dict[str, object],
    expected: list[tuple[str, str]],
) -> None:
    adapter, stubber = securityhub
    stubber.add_response(
        "create_members",
        response,
        {
            "AccountDetails": [
                {"AccountId": account(1)},
                {"AccountId": account(2), "Email": "b@x.io"},
            ]
        },
    )
    unprocessed = adapter.create_members(
        [DesiredMember(account(1), None), DesiredMember(account(2), "b@x.io")]
    )
    assert [(u.account_id, u.reason) for u in unprocessed] == expected


def test_invite_members_should_send_no_guardduty_only_options(
    securityhub: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = securityhub
    stubber.add_response("invite_members", {}, {"AccountIds": [account(1)]})
    settings = InvitationSettings(
        message="ignored by Security Hub", disable_email_notification=True
    )
    assert adapter.invite_members([account(1)], settings) == []
