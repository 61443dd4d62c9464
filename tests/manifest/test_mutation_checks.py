"""The cross-field rules: what mutation testing showed test_rules.py left unstated.

Aspects under test:
- each rule of checks.py is reported as one whole line: file, line, field, the value where the
  rule names one (and no value where it does not), and the whole reason, with the place of the
  first occurrence for duplicates (a root email given twice too, with the first spelling
  when the case differs);
- the quota is checked in every region of every service, not only up to the first under it;
  only members of that service in that region count, and the member pointed at is the first
  one over the quota;
- each service's settings are built for that service, with the defaults of the options its
  manifest model does not have.
"""

from __future__ import annotations

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest import load_manifest
from reconciler.manifest.checks import Problem
from reconciler.model import InvitationSettings, Mode, RegionCatalog, Service
from tests.manifest.conftest import BASE, WriteManifest


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def member(*lines: str) -> str:
    """BASE with one more member (lines 15 onwards) made of ``lines``."""
    return BASE + "".join(f"{line}\n" for line in lines)


def refusal(text: str, write: WriteManifest, catalog: RegionCatalog) -> str:
    """The refusal's line without the manifest's path (which the test_rules cases check)."""
    path = write(text)
    with pytest.raises(ManifestError) as info:
        load_manifest(path, catalog=catalog)
    message = str(info.value)
    assert message.startswith(str(path))
    return message[len(str(path)) :]


ADMIN_ROLE = '"111111111111"\n'
NEW_MEMBER = ('  - accountId: "444444444444"', "    email: a+4@example.com")

# name → (manifest text, the refusal after the path)
WHOLE_LINES: dict[str, tuple[str, str]] = {
    "region twice": (
        edit(
            "regions: [us-east-1, eu-west-1]",
            "regions:\n  - us-east-1\n  - eu-west-1\n  - us-east-1",
        ),
        ":7, field regions[2], value 'us-east-1': region us-east-1 is listed twice (first at "
        "regions[0], line 5)",
    ),
    "unknown region in another case": (
        edit("eu-west-1]", "EU-WEST-1]"),
        ":4, field regions[1], value 'EU-WEST-1': unknown region 'EU-WEST-1' (not in botocore's "
        "endpoint data); did you mean eu-west-1?",
    ),
    "unknown region like no other": (
        edit("eu-west-1]", "zz-nowhere-9]"),
        ":4, field regions[1], value 'zz-nowhere-9': unknown region 'zz-nowhere-9' (not in "
        "botocore's endpoint data)",
    ),
    "mixed partitions": (
        edit("eu-west-1]", "us-gov-west-1]"),
        ":4, field regions[1], value 'us-gov-west-1': us-gov-west-1 is in partition aws-us-gov "
        "but us-east-1 is in aws: one manifest manages one partition (use one manifest per "
        "partition)",
    ),
    "administrator role in another partition": (
        edit(ADMIN_ROLE, ADMIN_ROLE + "  roleArn: arn:aws-cn:iam::111111111111:role/x\n"),
        ":4, field administrator.roleArn, value 'arn:aws-cn:iam::111111111111:role/x': the role "
        "is in partition aws-cn but the regions are in aws",
    ),
    "administrator role of another account": (
        edit(ADMIN_ROLE, ADMIN_ROLE + "  roleArn: arn:aws:iam::222222222222:role/x\n"),
        ":4, field administrator.roleArn, value 'arn:aws:iam::222222222222:role/x': the role "
        "belongs to account 222222222222, not to the administrator account 111111111111",
    ),
    "organization reader role in another partition": (
        BASE + "membersFrom: {organization: {roleArn: 'arn:aws-cn:iam::999999999999:role/R'}}\n",
        ":15, field membersFrom.organization.roleArn, value "
        "'arn:aws-cn:iam::999999999999:role/R': the role is in partition aws-cn but the regions "
        "are in aws",
    ),
    "service not in a region": (
        edit("[us-east-1, eu-west-1]", "[us-isob-west-1]").replace(
            "  securityhub:\n    mode: organization\n", ""
        ),
        ":4, field regions[0], value 'us-isob-west-1': GuardDuty is not available in "
        "us-isob-west-1 (botocore's endpoint data)",
    ),
    "invitation settings in organization mode": (
        edit(
            "    mode: organization\n  securityhub",
            "    mode: organization\n    invitation: {reinvite: true}\n  securityhub",
        ),
        ":8, field services.guardduty.invitation: invitation settings apply only in invitation "
        "mode, and services.guardduty.mode is organization",
    ),
    "no service": (
        edit(
            "services:\n  guardduty:\n    mode: organization\n  securityhub:\n    mode: organization\n",
            "services: {}\n",
        ),
        ":5, field services: at least one service is required (guardduty, securityhub, detective)",
    ),
    "the administrator as a member": (
        member('  - accountId: "111111111111"', "    email: a@example.com"),
        ":15, field members[2].accountId, value '111111111111': this is the administrator "
        "account (administrator.accountId); an administrator cannot be its own member",
    ),
    "a member twice": (
        member('  - accountId: "333333333333"', "    email: aws+333@example.com"),
        ":15, field members[2].accountId, value '333333333333': account 333333333333 is listed "
        "twice (first at members[1].accountId, line 13); list each member once",
    ),
    "a GuardDuty member without email": (
        member('  - accountId: "444444444444"'),
        ":15, field members[2]: an email is required for a GuardDuty member (GuardDuty's "
        "CreateMembers needs the account's root email); add email:, or set services: "
        "[securityhub]",
    ),
    "a member service twice": (
        member(*NEW_MEMBER, "    services: [securityhub, securityhub]"),
        ":17, field members[2].services[1], value 'securityhub': service securityhub is listed "
        "twice",
    ),
    "a member service not at the top": (
        edit("  securityhub:\n    mode: organization\n", "")
        + "\n".join(NEW_MEMBER)
        + "\n    services: [securityhub]\n",
        ":15, field members[2].services[0], value 'securityhub': securityhub is not under the "
        "top-level services (guardduty); add it there first",
    ),
    "a member region twice": (
        member(*NEW_MEMBER, "    regions: [eu-west-1, eu-west-1]"),
        ":17, field members[2].regions[1], value 'eu-west-1': region eu-west-1 is listed twice",
    ),
    "a member region not at the top": (
        member(*NEW_MEMBER, "    regions: [ap-south-1]"),
        ":17, field members[2].regions[0], value 'ap-south-1': ap-south-1 is not one of the "
        "top-level regions; add it there first",
    ),
    "a protected account twice": (
        BASE + 'prune:\n  protectedAccounts:\n    - "999999999999"\n    - "888888888888"\n'
        '    - "999999999999"\n',
        ":19, field prune.protectedAccounts[2], value '999999999999': account 999999999999 is "
        "listed twice in prune.protectedAccounts (first at prune.protectedAccounts[0], line 17)",
    ),
    "an organizational unit twice": (
        BASE + "membersFrom:\n  organization:\n    ous:\n      - ou-ab12-22222222\n"
        "      - ou-ab12-22222222\n",
        ":19, field membersFrom.organization.ous[1], value 'ou-ab12-22222222': organizational "
        "unit ou-ab12-22222222 is listed twice in membersFrom.organization.ous (first at "
        "membersFrom.organization.ous[0], line 18)",
    ),
    "an excluded account twice": (
        BASE + 'membersFrom:\n  organization:\n    exclude:\n      - "777777777777"\n'
        '      - "777777777777"\n',
        ":19, field membersFrom.organization.exclude[1], value '777777777777': account "
        "777777777777 is listed twice in membersFrom.organization.exclude (first at "
        "membersFrom.organization.exclude[0], line 18)",
    ),
    "a root email twice": (
        edit("aws+333@example.com", "aws+222@example.com"),
        ":14, field members[1].email, value 'aws+222@example.com': account 333333333333 has the "
        "same root email as account 222222222222 (at members[0].email, line 12; AWS compares "
        "emails ignoring case): every AWS account has its own root email, so one of them is a "
        "copy error (GuardDuty or Detective would end it in EmailVerificationFailed)",
    ),
    "a root email twice, in another case": (
        edit("aws+333@example.com", "AWS+222@Example.com"),
        ":14, field members[1].email, value 'AWS+222@Example.com': account 333333333333 has the "
        "same root email as account 222222222222 (at members[0].email, line 12, written "
        "aws+222@example.com there; AWS compares emails ignoring case): every AWS account has "
        "its own root email, so one of them is a copy error (GuardDuty or Detective would end "
        "it in EmailVerificationFailed)",
    ),
}


@pytest.mark.parametrize("name", list(WHOLE_LINES))
def test_each_rule_is_refused_in_one_whole_line(
    name: str, write: WriteManifest, catalog: RegionCatalog
) -> None:
    text, expected = WHOLE_LINES[name]
    assert refusal(text, write, catalog) == expected


def test_a_problem_reads_as_its_reason_and_shows_no_value_unless_given() -> None:
    problem = Problem("the reason", ("services",))
    assert str(problem) == "the reason"
    assert (problem.value, problem.has_value, problem.related) == (None, False, None)


# --- quotas -------------------------------------------------------------------------------------


def _quota_manifest(members: list[str]) -> str:
    """GuardDuty (organization) and Security Hub (invitation: 1,000) in two regions."""
    return (
        'version: 1\nadministrator: {accountId: "111111111111"}\nregions: [us-east-1, eu-west-1]\n'
        "services:\n  guardduty:\n    mode: organization\n  securityhub:\n    mode: invitation\n"
        "members:\n" + "".join(members)
    )


def _members(count: int, *, start: int = 0, extra: str = "") -> list[str]:
    return [
        f'  - accountId: "{200000000000 + n:012d}"\n    email: aws+{n}@example.com\n{extra}'
        for n in range(start, start + count)
    ]


def test_the_quota_is_checked_in_every_region_not_only_up_to_one_under_it(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    # us-east-1, checked first, has 1,000 Security Hub members; eu-west-1 has 1,001.
    members = _members(1, extra="    regions: [eu-west-1]\n") + _members(1000, start=1)
    message = refusal(_quota_manifest(members), write, catalog)
    assert message == (
        f":{13 + 2 * 999}, field members[1000].accountId, value '{200000000000 + 1000:012d}': "
        "1,001 Security Hub members in eu-west-1 exceed its quota of 1,000 invitation members "
        "per administrator per region; this is the first one over it"
    )


def test_only_the_service_members_of_the_region_count_towards_its_quota(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    # Members of GuardDuty only, in every region, take no Security Hub place: 1,000 do.
    guardduty_only = _members(5, extra="    services: [guardduty]\n")
    manifest = load_manifest(
        write(_quota_manifest(guardduty_only + _members(1000, start=5))), catalog=catalog
    )
    assert len(manifest.members) == 1005
    # One more Security Hub member is over it; the one pointed at is the 1,001st of the
    # service, past the GuardDuty-only ones.
    over = guardduty_only + _members(1001, start=5)
    message = refusal(_quota_manifest(over), write, catalog)
    assert message.startswith(
        f":{10 + 3 * 5 + 2 * 1000}, field members[1005].accountId, value "
        f"'{200000000000 + 1005:012d}': 1,001 Security Hub members in us-east-1 exceed"
    )


# --- service settings ---------------------------------------------------------------------------


def test_each_service_settings_are_built_for_that_service(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    plain = load_manifest(write(BASE), catalog=catalog)
    invited = load_manifest(
        write(
            edit(
                "  guardduty:\n    mode: organization\n  securityhub:\n    mode: organization\n",
                "  guardduty:\n    mode: invitation\n    invitation: {}\n"
                "  securityhub:\n    mode: invitation\n    invitation: {accept: {}}\n",
            )
        ),
        catalog=catalog,
    )
    for manifest in (plain, invited):
        assert {s: settings.service for s, settings in manifest.services.items()} == {
            Service("guardduty"): Service("guardduty"),
            Service("securityhub"): Service("securityhub"),
        }
    guardduty = invited.services[Service("guardduty")]
    assert (guardduty.mode, guardduty.accept, guardduty.invitation) == (
        Mode.INVITATION,
        None,
        InvitationSettings(),
    )
    securityhub = invited.services[Service("securityhub")]
    # Security Hub's manifest model has no message, email switch or member detector.
    assert securityhub.invitation == InvitationSettings(None, False)
    assert securityhub.invitation.disable_email_notification is False
    assert securityhub.accept is not None
    assert securityhub.accept.create_member_detector is False


def test_the_manifest_keeps_the_administrator_role_and_a_digest_of_its_bytes(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    arn = "arn:aws:iam::111111111111:role/Reconciler"
    text = edit(ADMIN_ROLE, ADMIN_ROLE + f"  roleArn: {arn}\n")
    manifest = load_manifest(write(text), catalog=catalog)
    assert manifest.administrator_role_arn == arn
    # The same bytes under the same name elsewhere have the same digest; other bytes another.
    elsewhere = load_manifest(write(text, "copy/manifest.yaml"), catalog=catalog)
    other = load_manifest(write(text + "# a comment\n"), catalog=catalog)
    assert len(manifest.digest) == 64
    assert elsewhere.digest == manifest.digest
    assert other.digest != manifest.digest


def test_a_mode_the_service_does_not_have_is_refused_naming_it(
    write: WriteManifest, catalog: RegionCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every service registered today has both modes; a plug-in may declare only one, and the
    # manifest is then refused at the mode's own line, naming the service and the mode.
    from dataclasses import replace

    from reconciler.services import registry

    real = registry.spec_of
    only_organization = replace(real(Service("guardduty")), modes=frozenset({Mode.ORGANIZATION}))
    monkeypatch.setattr(
        registry,
        "spec_of",
        lambda service: only_organization if service == "guardduty" else real(service),
    )
    text = edit("  guardduty:\n    mode: organization\n", "  guardduty:\n    mode: invitation\n")
    assert refusal(text, write, catalog) == (
        ":7, field services.guardduty.mode, value 'invitation': GuardDuty has no invitation mode"
    )
    assert load_manifest(write(BASE), catalog=catalog).services[Service("guardduty")].mode is (
        Mode.ORGANIZATION
    )
