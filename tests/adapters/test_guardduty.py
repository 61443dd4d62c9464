"""The GuardDuty adapter on a stubbed real client.

Aspects under test:
- no detector, or a DISABLED one, blocks the shard (and lists no member);
- ListMembers sends OnlyAssociated as the *string* "false" and MaxResults 50, and follows
  every page;
- statuses are normalised, emails kept, volatile fields dropped;
- CreateMembers and InviteMembers send the model's shapes and return every unprocessed entry.
"""

from __future__ import annotations

from botocore.stub import Stubber

from reconciler.aws.base import MemberAdapter
from reconciler.model import DesiredMember, InvitationSettings, MemberStatus
from tests.adapters.conftest import DETECTOR, gd_member, stub_detector
from tests.factories import account


def test_observe_should_block_when_there_is_no_detector(
    guardduty: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = guardduty
    stubber.add_response("list_detectors", {"DetectorIds": []}, {"MaxResults": 50})
    observation = adapter.observe()
    assert observation.ready is False
    assert (
        observation.reason == "GuardDuty is not enabled in us-east-1 for 111111111111 (no detector)"
    )


def test_observe_should_block_when_the_detector_is_disabled(
    guardduty: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = guardduty
    stub_detector(stubber, status="DISABLED")
    observation = adapter.observe()
    assert observation.ready is False
    assert "DISABLED" in (observation.reason or "")


def test_observe_should_read_every_page_of_all_members(
    guardduty: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = guardduty
    stub_detector(stubber)
    first = [gd_member(account(i), "Enabled") for i in range(50)]
    second = [gd_member(account(50), "CREATED"), gd_member(account(51), "EmailVerificationFailed")]
    base = {"DetectorId": DETECTOR, "OnlyAssociated": "false", "MaxResults": 50}
    stubber.add_response("list_members", {"Members": first, "NextToken": "page-2"}, base)
    stubber.add_response("list_members", {"Members": second}, {**base, "NextToken": "page-2"})
    observation = adapter.observe()
    assert observation.ready is True
    assert len(observation.members) == 52
    assert observation.members[account(50)].status is MemberStatus.CREATED
    assert observation.members[account(50)].raw_status == "CREATED"
    assert observation.members[account(51)].status is MemberStatus.EMAIL_VERIFICATION_FAILED
    assert observation.members[account(0)].email == f"aws+{account(0)}@example.com"


def test_create_and_invite_should_send_model_shapes_and_return_unprocessed(
    guardduty: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = guardduty
    stub_detector(stubber)
    stubber.add_response(
        "list_members",
        {"Members": []},
        {"DetectorId": DETECTOR, "OnlyAssociated": "false", "MaxResults": 50},
    )
    one, two = account(1), account(2)
    stubber.add_response(
        "create_members",
        {"UnprocessedAccounts": [{"AccountId": two, "Result": "Some failure"}]},
        {
            "DetectorId": DETECTOR,
            "AccountDetails": [
                {"AccountId": one, "Email": "a@example.com"},
                {"AccountId": two, "Email": "b@example.com"},
            ],
        },
    )
    stubber.add_response(
        "invite_members",
        {"UnprocessedAccounts": []},
        {
            "DetectorId": DETECTOR,
            "AccountIds": [one],
            "DisableEmailNotification": True,
            "Message": "Welcome",
        },
    )
    adapter.observe()
    unprocessed = adapter.create_members(
        [DesiredMember(one, "a@example.com"), DesiredMember(two, "b@example.com")]
    )
    assert [(u.account_id, u.reason) for u in unprocessed] == [(two, "Some failure")]
    assert (
        adapter.invite_members(
            [one], InvitationSettings(message="Welcome", disable_email_notification=True)
        )
        == []
    )


def test_removal_and_restart_calls_send_model_shapes(
    guardduty: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = guardduty
    stub_detector(stubber)
    stubber.add_response(
        "list_members",
        {"Members": []},
        {"DetectorId": DETECTOR, "OnlyAssociated": "false", "MaxResults": 50},
    )
    one = account(1)
    not_member = "The request is rejected because the given account ID is not an associated member of account the current account."
    for method in ("disassociate_members", "delete_members", "start_monitoring_members"):
        stubber.add_response(
            method,
            {"UnprocessedAccounts": [{"AccountId": one, "Result": not_member}]},
            {"DetectorId": DETECTOR, "AccountIds": [one]},
        )
    stubber.add_response(
        "describe_organization_configuration",
        {"AutoEnableOrganizationMembers": "ALL", "MemberAccountLimitReached": False},
        {"DetectorId": DETECTOR},
    )
    adapter.observe()
    assert [u.reason for u in adapter.disassociate_members([one])] == [not_member]
    assert [u.account_id for u in adapter.delete_members([one])] == [one]
    assert len(adapter.start_monitoring_members([one])) == 1
    assert adapter.organization_auto_enable() == "ALL"
