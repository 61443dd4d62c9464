"""``services.detective`` in the manifest, its quota, and the IAM policy it makes.

Aspects under test:
- both modes load, with the invitation settings (message, disableEmailNotification, accept,
  reinvite) carried into the service's settings;
- refused: a key Detective does not take (createMemberDetector), invitation settings in
  organization mode, an empty message, a Detective member without an email;
- the 1,200-member graph limit is refused at load time in one line, pointing at the first
  member over it;
- the IAM policy has Detective's actions only when the manifest has Detective, and DeleteMembers
  only when prune or invitation mode can call it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler import cli
from reconciler.errors import ManifestError
from reconciler.manifest import load_manifest
from reconciler.model import Mode, RegionCatalog, Service
from tests.manifest.conftest import BASE, WriteManifest

DT = Service("detective")
HEAD = 'version: 1\nadministrator: {accountId: "111111111111"}\nregions: [us-east-1]\nservices:\n'
MEMBER = '  - accountId: "222222222222"\n    email: aws+222@example.com\n'


def detective(settings: str, members: str = MEMBER) -> str:
    return f"{HEAD}  detective:\n{settings}members:\n{members}"


def test_both_modes_load_with_their_settings(write: WriteManifest, catalog: RegionCatalog) -> None:
    organization = load_manifest(write(detective("    mode: organization\n")), catalog=catalog)
    assert organization.services[DT].mode is Mode.ORGANIZATION
    invitation = load_manifest(
        write(
            detective(
                "    mode: invitation\n    invitation:\n      message: Join our graph\n"
                "      disableEmailNotification: true\n      accept: {roleName: Accept}\n"
                "      reinvite: true\n"
            )
        ),
        catalog=catalog,
    )
    settings = invitation.services[DT]
    assert settings.mode is Mode.INVITATION
    assert settings.invitation.message == "Join our graph"
    assert settings.invitation.disable_email_notification is True
    assert settings.accept is not None
    assert settings.accept.role_name == "Accept"
    assert settings.reinvite is True
    assert invitation.members[0].services == frozenset({DT})


@pytest.mark.parametrize(
    ("settings", "members", "expected"),
    [
        (
            "    mode: invitation\n    invitation:\n      accept: {createMemberDetector: true}\n",
            MEMBER,
            "createMemberDetector is GuardDuty-only (Detective has no detector to create)",
        ),
        (
            "    mode: organization\n    invitation: {reinvite: true}\n",
            MEMBER,
            "invitation settings apply only in invitation mode, and services.detective.mode is "
            "organization",
        ),
        ("    mode: invitation\n    invitation: {message: ''}\n", MEMBER, "must not be empty"),
        (
            "    mode: organization\n",
            '  - accountId: "222222222222"\n',
            "an email is required for a Detective member (Detective's CreateMembers needs the "
            "account's root email); add email:",
        ),
        ("    mode: federation\n", MEMBER, "expected 'organization' or 'invitation'"),
    ],
)
def test_refused_settings(
    settings: str, members: str, expected: str, write: WriteManifest, catalog: RegionCatalog
) -> None:
    with pytest.raises(ManifestError) as raised:
        load_manifest(write(detective(settings, members)), catalog=catalog)
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_email_suggests_only_services_of_the_manifest(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    # Alone, Detective leaves no service to narrow the member to: set services: [securityhub]
    # would be refused in turn (securityhub is not under the top-level services).
    alone = detective("    mode: organization\n", '  - accountId: "222222222222"\n')
    with pytest.raises(ManifestError) as raised:
        load_manifest(write(alone), catalog=catalog)
    assert str(raised.value).endswith("add email:")
    with_hub = alone.replace("services:\n", "services:\n  securityhub: {mode: organization}\n")
    with pytest.raises(ManifestError) as raised:
        load_manifest(write(with_hub), catalog=catalog)
    assert str(raised.value).endswith("add email:, or set services: [securityhub]")


def test_the_graph_limit_is_refused_in_one_line(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    members = "".join(
        f'  - accountId: "{200000000000 + n:012d}"\n    email: aws+{n}@example.com\n'
        for n in range(1_201)
    )
    with pytest.raises(ManifestError) as raised:
        load_manifest(write(detective("    mode: organization\n", members)), catalog=catalog)
    message = str(raised.value)
    assert "\n" not in message
    assert message.endswith(
        f":{8 + 2 * 1200}, field members[1200].accountId, value '200000001200': 1,201 Detective "
        "members in us-east-1 exceed its quota of 1,200 organization members per administrator "
        "per region; this is the first one over it"
    )
    # 1,200 fit.
    fits = members[: members.index('  - accountId: "200000001200"')]
    fitting = load_manifest(write(detective("    mode: organization\n", fits)), catalog=catalog)
    assert len(fitting.members) == 1_200


def _policy(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> set[str]:
    code = cli.main(["--iam-policy", *args, "--manifest", str(path)])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    return {action for statement in document["Statement"] for action in statement["Action"]}


def test_the_policy_has_detective_only_when_the_manifest_has_it(
    write: WriteManifest, capsys: pytest.CaptureFixture[str]
) -> None:
    without = _policy(write(BASE), capsys)
    assert not {a for a in without if a.startswith("detective:")}
    organization = _policy(write(detective("    mode: organization\n"), "dt.yaml"), capsys)
    assert {a for a in organization if a.startswith("detective:")} == {
        "detective:CreateMembers",
        "detective:GetMembers",
        "detective:ListGraphs",
        "detective:ListMembers",
    }
    assert not {a for a in organization if not a.startswith(("detective:", "sts:"))}
    pruned = _policy(
        write(detective("    mode: organization\n") + "prune: {enabled: true}\n", "p.yaml"), capsys
    )
    assert "detective:DeleteMembers" in pruned
    accepting = detective(
        "    mode: invitation\n    invitation:\n      accept: {roleName: Accept}\n"
    )
    invited = _policy(write(accepting, "i.yaml"), capsys)
    assert "detective:DeleteMembers" in invited  # re-creating a member whose email failed
    member = _policy(write(accepting, "m.yaml"), capsys, "member")
    assert member == {"detective:AcceptInvitation", "detective:ListInvitations"}
