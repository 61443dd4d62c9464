"""Invitations and the member side, end to end (issue 13, points 12, 13 and 18).

- Point 12: with ``invitation.accept``, an account whose member side cannot accept (no GuardDuty
  detector and ``createMemberDetector: false``; a role that cannot be assumed) is not invited:
  the run reports it as blocking drift with the fix, and invites it on the run after the fix.
  A dry run reads no member account (it never assumes a member role); a saved plan that would
  invite such an account is refused.
- Point 13: a member whose email fails verification after InviteMembers is reported as
  ``EmailVerificationFailed``, with the fix, by the run that invited it (not as "no pending
  invitation" when accepting, nor as converged).
- Point 18: with the sandbox's invitations passing through ``EmailVerificationInProgress`` for a
  few reads, the run waits for the outcome: the accept finds its invitation, and a failed
  verification is named in the same run.

The real ``reconcile`` entry point against a running sandbox, over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

from tests.cli.conftest import ADMIN, Bed, manifest, root_email, world
from tests.pure.test_drift_kinds_schema import SCHEMA as SCHEMA_PATH

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

REGION = "us-east-1"
ROLE = "OrganizationAccountAccessRole"
READY, NO_DETECTOR, NO_ROLE = "500000000001", "500000000002", "500000000003"
JSON = ("--output", "json", "--no-progress")


def accepting(members: list[str], **emails: str) -> dict[str, Any]:
    data = manifest(
        members,
        regions=[REGION],
        guardduty="invitation",
        securityhub="invitation",
        emails={account: email for account, email in emails.items()},
    )
    data["services"]["guardduty"]["invitation"] = {"accept": {"roleName": ROLE}}
    data["services"]["securityhub"]["invitation"] = {"accept": {"roleName": ROLE}}
    return data


def member_world() -> dict[str, Any]:
    state = world(org_accounts=0, regions=(REGION,), external=(READY, NO_DETECTOR, NO_ROLE))
    state["accounts"][NO_DETECTOR]["regions"] = {"*": {"securityhub": {"enabled": True}}}
    state["accounts"][NO_ROLE]["roles"] = ["SomeOtherRole"]
    return state


def status(bed: Bed, service: str, account: str) -> str | None:
    record = bed.sandbox.state.member(ADMIN, REGION, service, account)
    return None if record is None else str(record["status"])


def drift(result: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["service"], d["account_id"]): d for d in result.json()["drift"]}


def test_a_member_that_cannot_accept_is_not_invited_until_it_can(
    make_bed: Callable[..., Bed],
) -> None:
    bed = make_bed(member_world(), rate=0)
    path = bed.write_manifest(accepting([READY, NO_DETECTOR, NO_ROLE]))

    preview = bed.run("--manifest", path, "--dry-run", *JSON)
    assert preview.code == 0, preview.stderr
    # A dry run never assumes a member role: it plans every invitation.
    assert {c["account"] for c in preview.calls} == {ADMIN}
    assert preview.count("AssumeRole") == 0
    invited = {
        (a["service"], account)
        for a in preview.json()["actions"]
        if a["step"] == "invite"
        for account in a["account_ids"]
    }
    assert ("guardduty", NO_DETECTOR) in invited

    first = bed.run("--manifest", path, *JSON)
    assert first.code == 1, first.stdout
    jsonschema.validate(first.json(), SCHEMA)
    assert status(bed, "guardduty", READY) == "Enabled"
    assert status(bed, "securityhub", READY) == "Enabled"
    # Security Hub needs no detector: that side of NO_DETECTOR is invited and accepted.
    assert status(bed, "securityhub", NO_DETECTOR) == "Enabled"
    # Never created, never invited, never emailed.
    assert status(bed, "guardduty", NO_DETECTOR) is None
    assert status(bed, "guardduty", NO_ROLE) is None
    assert status(bed, "securityhub", NO_ROLE) is None
    found = drift(first)
    for key in (("guardduty", NO_DETECTOR), ("guardduty", NO_ROLE), ("securityhub", NO_ROLE)):
        assert found[key]["kind"] == "member-cannot-accept"
        assert found[key]["blocking"] is True
        assert "the first run after the fix" in found[key]["detail"]
    assert (
        "set invitation.accept.createMemberDetector: true"
        in (found["guardduty", NO_DETECTOR]["detail"])
    )
    role = f"arn:aws:iam::{NO_ROLE}:role/{ROLE}"
    assert (
        f"the role {role} cannot be assumed (AccessDenied" in found["guardduty", NO_ROLE]["detail"]
    )
    # The refused role was tried once for both services.
    assert first.json()["summary"]["aws_calls"]["calls"]["sts.AssumeRole"] == 3

    # The fixes: a detector in NO_DETECTOR, the role in NO_ROLE. The next run invites them.
    bed.sandbox.state.set_detector(NO_DETECTOR, REGION, "ENABLED")
    with bed.sandbox.state.lock:
        bed.sandbox.state.account(NO_ROLE).roles = (ROLE,)
    second = bed.run("--manifest", path, *JSON)
    assert second.code == 0, second.stdout
    for service in ("guardduty", "securityhub"):
        for account in (READY, NO_DETECTOR, NO_ROLE):
            assert status(bed, service, account) == "Enabled", (service, account)


def test_a_saved_plan_that_would_invite_a_member_that_cannot_accept_is_refused(
    make_bed: Callable[..., Bed], tmp_path: Path
) -> None:
    bed = make_bed(member_world(), rate=0)
    path = bed.write_manifest(accepting([READY, NO_DETECTOR]))
    saved = tmp_path / "plan.json"
    made = bed.run("--manifest", path, "--dry-run", "--out", saved, *JSON)
    assert made.code == 0, made.stderr

    applied = bed.run("--plan", saved, *JSON)
    assert applied.code == 1
    assert "saved plan refused, nothing applied" in applied.stderr
    assert f"guardduty/{REGION} {NO_DETECTOR}: not invited" in applied.stderr
    assert applied.count(mutating=True) == applied.count("AssumeRole")
    assert status(bed, "guardduty", READY) is None


def test_a_failed_email_verification_is_named_by_the_run_that_invited(
    make_bed: Callable[..., Bed],
) -> None:
    bed = make_bed(member_world(), rate=0)
    data = accepting([READY], **{READY: "someone.else@example.com"})
    del data["services"]["securityhub"]
    path = bed.write_manifest(data)

    result = bed.run("--manifest", path, *JSON)
    assert result.code == 1
    (outcome,) = result.json()["results"]
    assert outcome["outcome"] == "failed"
    assert outcome["status"] == "EmailVerificationFailed"
    assert outcome["reason"].startswith("status EmailVerificationFailed")
    assert "fix the email in the manifest" in outcome["reason"]
    assert "no pending" not in outcome["reason"]
    # Nothing was accepted (there was nothing to accept) and nothing was emailed.
    assert result.count("AcceptAdministratorInvitation") == 0
    assert bed.sandbox.state.invitations_for(READY, REGION, "guardduty") == []


def in_progress_world(reads: int) -> dict[str, Any]:
    state = member_world()
    state["emailVerificationReads"] = reads
    return state


def test_invitations_in_email_verification_are_waited_for_then_accepted(
    make_bed: Callable[..., Bed],
) -> None:
    bed = make_bed(in_progress_world(2), rate=0)
    data = accepting([READY])
    del data["services"]["securityhub"]
    path = bed.write_manifest(data)

    result = bed.run("--manifest", path, *JSON)
    assert result.code == 0, result.stdout
    assert status(bed, "guardduty", READY) == "Enabled"
    # Read while in progress (twice), then once more to see it settled.
    assert result.count("GetMembers") >= 3


def test_a_failed_verification_after_a_wait_is_named_in_the_same_run(
    make_bed: Callable[..., Bed],
) -> None:
    other = "500000000009"
    state_data = in_progress_world(3)
    state_data["accounts"][other] = {"email": root_email(other), "regions": {}}
    bed = make_bed(state_data, rate=0)
    # Invitation without accept: Invited is the goal, EmailVerificationInProgress is not an
    # outcome, and a failed verification is this run's failure.
    data = manifest(
        [READY, other],
        regions=[REGION],
        guardduty="invitation",
        securityhub=None,
        emails={other: "wrong@example.com"},
    )
    path = bed.write_manifest(data)

    result = bed.run("--manifest", path, *JSON)
    assert result.code == 1, result.stdout
    outcomes = {r["account_id"]: r for r in result.json()["results"]}
    assert outcomes[READY]["outcome"] == "converged"
    assert outcomes[READY]["status"] == "Invited"
    assert outcomes[other]["outcome"] == "failed"
    assert outcomes[other]["status"] == "EmailVerificationFailed"
    assert "fix the email in the manifest" in outcomes[other]["reason"]
