"""GuardDuty invitations pass through EmailVerificationInProgress (issue 13, point 18).

As AWS does, InviteMembers first checks the invitee's root email: the member reads
``EmailVerificationInProgress`` (and its account has no invitation yet) for the configured
number of reads of its record (``emailVerificationReads`` in the state file, ``--email-
verification-reads``, ``state.email_verification_reads``), then ``Invited`` with the invitation
sent, or ``EmailVerificationFailed`` with nothing sent. Security Hub verifies no email. The
default, 0, settles at once, as the sandbox did before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler_sandbox import SandboxState, SandboxStateError
from reconciler_sandbox.cli import build_parser
from tests.sandbox.conftest import (
    ADMIN,
    EXTERNAL,
    QUICKSTART_STATE,
    Assume,
    ClientFactory,
    detector,
    quickstart_state,
)

REGION = "eu-west-1"
UNKNOWN = "123456789012"


@pytest.fixture
def state() -> SandboxState:
    found = quickstart_state()
    found.email_verification_reads = 2
    return found


def statuses(gd: Any, detector_id: str) -> dict[str, str]:
    got = gd.get_members(DetectorId=detector_id, AccountIds=[EXTERNAL, UNKNOWN])
    return {m["AccountId"]: m["RelationshipStatus"] for m in got["Members"]}


def test_an_invitation_is_in_verification_for_the_configured_reads_then_settles(
    client: ClientFactory, assume: Assume, state: SandboxState
) -> None:
    gd = client("guardduty")
    detector_id = detector(client)
    gd.create_members(
        DetectorId=detector_id,
        AccountDetails=[
            {"AccountId": EXTERNAL, "Email": "aws+888@example.com"},  # the root email
            {"AccountId": UNKNOWN, "Email": "nobody@example.com"},
        ],
    )
    gd.invite_members(DetectorId=detector_id, AccountIds=[EXTERNAL, UNKNOWN])
    member = client("guardduty", credentials=assume(EXTERNAL))

    in_progress = {EXTERNAL: "EmailVerificationInProgress", UNKNOWN: "EmailVerificationInProgress"}
    assert statuses(gd, detector_id) == in_progress
    # Nothing is sent while the email is being verified.
    assert member.list_invitations()["Invitations"] == []
    again = gd.invite_members(DetectorId=detector_id, AccountIds=[EXTERNAL])
    assert [u["AccountId"] for u in again["UnprocessedAccounts"]] == [EXTERNAL]
    # ListMembers reads count too.
    listed = gd.list_members(DetectorId=detector_id, OnlyAssociated="false")["Members"]
    assert {m["RelationshipStatus"] for m in listed} == {"EmailVerificationInProgress"}

    assert statuses(gd, detector_id) == {
        EXTERNAL: "Invited",
        UNKNOWN: "EmailVerificationFailed",
    }
    invitations = member.list_invitations()["Invitations"]
    assert [i["AccountId"] for i in invitations] == [ADMIN]
    record = state.member(ADMIN, REGION, "guardduty", EXTERNAL)
    assert record is not None
    assert record["invitationsSent"] == 1
    assert state.event_count("invite", ADMIN, REGION, "guardduty", EXTERNAL) == 1
    assert state.event_count("invite", ADMIN, REGION, "guardduty", UNKNOWN) == 0


def test_security_hub_invitations_verify_no_email(client: ClientFactory) -> None:
    sh = client("securityhub")
    sh.create_members(AccountDetails=[{"AccountId": EXTERNAL}])
    sh.invite_members(AccountIds=[EXTERNAL])
    got = sh.get_members(AccountIds=[EXTERNAL])["Members"]
    assert [m["MemberStatus"] for m in got] == ["Invited"]


def test_a_verification_in_progress_survives_a_save_and_a_load(
    client: ClientFactory, state: SandboxState, tmp_path: Path
) -> None:
    gd = client("guardduty")
    detector_id = detector(client)
    gd.create_members(
        DetectorId=detector_id,
        AccountDetails=[{"AccountId": EXTERNAL, "Email": "aws+888@example.com"}],
    )
    gd.invite_members(DetectorId=detector_id, AccountIds=[EXTERNAL])
    gd.get_members(DetectorId=detector_id, AccountIds=[EXTERNAL])
    saved = tmp_path / "state.yaml"
    state.save(saved)
    loaded = SandboxState.load(saved)
    assert loaded.email_verification_reads == 2
    record = loaded.member(ADMIN, REGION, "guardduty", EXTERNAL)
    assert record is not None
    assert (record["status"], record["verificationReadsLeft"]) == ("EmailVerificationInProgress", 1)


def test_the_default_settles_at_once() -> None:
    assert SandboxState.load(QUICKSTART_STATE).email_verification_reads == 0


def test_the_setting_is_checked_where_it_is_given() -> None:
    data = quickstart_state().to_dict()
    with pytest.raises(SandboxStateError, match="emailVerificationReads: expected a non-neg"):
        SandboxState.from_dict({**data, "emailVerificationReads": -1})
    assert (
        SandboxState.from_dict({**data, "emailVerificationReads": 3}).email_verification_reads == 3
    )
    args = build_parser().parse_args(["--state", "s.yaml", "--email-verification-reads", "4"])
    assert args.email_verification_reads == 4
