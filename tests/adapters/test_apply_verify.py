"""Apply and verify through real adapters on stubbed clients.

Aspects under test:
- "already a member" / "already invited" in UnprocessedAccounts counts as converged;
- any other UnprocessedAccounts text fails that account only, with AWS's words;
- an account whose creation failed is not invited;
- Security Hub's 409 is verified with GetMembers, and only the absent accounts are created
  again, once;
- verification fails an account in EmailVerificationFailed and names the cause;
- a call-level AWS error fails the batch's accounts without raising.
"""

from __future__ import annotations

from botocore.stub import Stubber

from reconciler.apply import apply_shard
from reconciler.aws.base import MemberAdapter
from reconciler.model import DesiredMember, Mode, Service, ServiceSettings, ShardKey
from reconciler.plan import Action, Step
from reconciler.verify import Outcome, verify_shard
from tests.adapters.conftest import DETECTOR, gd_member, stub_detector
from tests.factories import account

GD = ShardKey(Service("guardduty"), "us-east-1")
SH = ShardKey(Service("securityhub"), "us-east-1")
ALREADY_MEMBER = (
    "The request is rejected because the given account ID is already a member or associated "
    "member of the current account."
)
ALREADY_INVITED = (
    "The request is rejected because the current account has already invited or is already the "
    "GuardDuty master of the given member account ID."
)


def members(*ids: str) -> tuple[DesiredMember, ...]:
    return tuple(DesiredMember(i, f"aws+{i}@example.com") for i in ids)


def observe_empty(stubber: Stubber, adapter: MemberAdapter) -> None:
    stub_detector(stubber)
    stubber.add_response(
        "list_members",
        {"Members": []},
        {"DetectorId": DETECTOR, "OnlyAssociated": "false", "MaxResults": 50},
    )
    adapter.observe()


def test_guardduty_invitation_apply_and_verify(
    guardduty: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = guardduty
    observe_empty(stubber, adapter)
    new, existing, rejected, wrong_email = account(1), account(2), account(3), account(4)
    batch = members(new, existing, rejected, wrong_email)
    stubber.add_response(
        "create_members",
        {
            "UnprocessedAccounts": [
                {"AccountId": existing, "Result": ALREADY_MEMBER},
                {"AccountId": rejected, "Result": "The account is suspended."},
            ]
        },
        {
            "DetectorId": DETECTOR,
            "AccountDetails": [{"AccountId": m.account_id, "Email": m.email} for m in batch],
        },
    )
    stubber.add_response(
        "invite_members",
        {"UnprocessedAccounts": [{"AccountId": existing, "Result": ALREADY_INVITED}]},
        {
            "DetectorId": DETECTOR,
            "AccountIds": [new, existing, wrong_email],
            "DisableEmailNotification": False,
        },
    )
    stubber.add_response(
        "get_members",
        {
            "Members": [
                gd_member(new, "Invited"),
                gd_member(existing, "Enabled"),
                gd_member(wrong_email, "EmailVerificationFailed"),
            ],
            "UnprocessedAccounts": [],
        },
        {"DetectorId": DETECTOR, "AccountIds": [new, existing, wrong_email]},
    )
    actions = [
        Action(GD, Step.CREATE, batch),
        Action(GD, Step.INVITE, batch),
    ]
    settings = ServiceSettings(Service("guardduty"), Mode.INVITATION)
    application = apply_shard(adapter, actions, settings)
    results, calls = verify_shard(adapter, application)
    by_account = {r.account_id: r for r in results}

    assert calls == 1
    assert by_account[new].outcome is Outcome.CONVERGED
    assert by_account[new].reason == "created, invited"
    assert by_account[existing].outcome is Outcome.CONVERGED
    assert by_account[existing].reason == "already created, already invited"
    assert by_account[rejected].outcome is Outcome.FAILED
    assert by_account[rejected].reason == "CreateMembers: The account is suspended."
    assert by_account[wrong_email].outcome is Outcome.FAILED
    assert "EmailVerificationFailed" in by_account[wrong_email].reason
    assert "root email" in by_account[wrong_email].reason


def test_securityhub_409_is_verified_and_the_rest_created_once(
    securityhub: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = securityhub
    present, absent = account(1), account(2)
    stubber.add_client_error(
        "create_members",
        service_error_code="ResourceConflictException",
        http_status_code=409,
        expected_params={"AccountDetails": [{"AccountId": present}, {"AccountId": absent}]},
    )
    stubber.add_response(
        "get_members",
        {"Members": [{"AccountId": present, "MemberStatus": "Enabled"}], "UnprocessedAccounts": []},
        {"AccountIds": [present, absent]},
    )
    stubber.add_response("create_members", {}, {"AccountDetails": [{"AccountId": absent}]})
    stubber.add_response(
        "get_members",
        {
            "Members": [
                {"AccountId": present, "MemberStatus": "Enabled"},
                {"AccountId": absent, "MemberStatus": "Enabled"},
            ]
        },
        {"AccountIds": [present, absent]},
    )
    batch = (DesiredMember(present), DesiredMember(absent))
    settings = ServiceSettings(Service("securityhub"), Mode.ORGANIZATION)
    application = apply_shard(adapter, [Action(SH, Step.CREATE, batch)], settings)
    results, _ = verify_shard(adapter, application)
    assert [(r.account_id, r.outcome, r.reason) for r in results] == [
        (present, Outcome.CONVERGED, "already created"),
        (absent, Outcome.CONVERGED, "created"),
    ]


def test_call_level_error_fails_the_batch_and_skips_the_invite(
    securityhub: tuple[MemberAdapter, Stubber],
) -> None:
    adapter, stubber = securityhub
    one = account(1)
    stubber.add_client_error(
        "create_members",
        service_error_code="InvalidInputException",
        service_message="bad input",
        http_status_code=400,
    )
    batch = (DesiredMember(one),)
    settings = ServiceSettings(Service("securityhub"), Mode.INVITATION)
    application = apply_shard(
        adapter,
        [Action(SH, Step.CREATE, batch), Action(SH, Step.INVITE, batch)],
        settings,
    )
    results, calls = verify_shard(adapter, application)
    assert calls == 0  # nothing left to verify, and no InviteMembers was stubbed or sent
    assert len(results) == 1
    assert results[0].outcome is Outcome.FAILED
    assert "InvalidInputException: bad input" in results[0].reason
