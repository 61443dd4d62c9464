"""The validation rules as truth tables: what is refused (file, line, field, reason) and what
is accepted (so no rule refuses more than it should).

Each case edits the small valid manifest of conftest.BASE in one place. The hostile corpus
(test_corpus.py) covers the same rules again from files on disk, plus the parser-level attacks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest import load_manifest
from reconciler.model import Mode, RegionCatalog, Service
from tests.manifest.conftest import BASE, WriteManifest

MEMBERS_AT = BASE.index("members:\n")


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def member(*lines: str) -> str:
    """BASE with one more member (lines 15 onwards) made of ``lines``."""
    return BASE + "".join(f"{line}\n" for line in lines)


def extra(text: str) -> str:
    """BASE with top-level keys appended (from line 15)."""
    return BASE + text


# name, manifest text, expected reason fragment, line, field
REFUSED: list[tuple[str, str, str, int | None, str | None]] = [
    # account IDs
    (
        "id quoted 11 digits",
        member('  - accountId: "12345678901"', "    email: a+1@example.com"),
        "this one has 11",
        15,
        "members[2].accountId",
    ),
    (
        "id quoted 13 digits",
        member('  - accountId: "1234567890123"', "    email: a+1@example.com"),
        "this one has 13",
        15,
        "members[2].accountId",
    ),
    (
        "id non-digits",
        member('  - accountId: "12345678901x"', "    email: a+1@example.com"),
        "exactly 12 digits (0-9)",
        15,
        "members[2].accountId",
    ),
    (
        "id unquoted leading zero",
        member("  - accountId: 012345678901", "    email: a+1@example.com"),
        "YAML read 012345678901 as a number (12345678901) and drops its leading zero; "
        'write "012345678901"',
        15,
        "members[2].accountId",
    ),
    (
        "id unquoted",
        member("  - accountId: 123456789012", "    email: a+1@example.com"),
        "account IDs must be quoted strings",
        15,
        "members[2].accountId",
    ),
    (
        "id unquoted administrator",
        edit('"111111111111"', "111111111111"),
        "account IDs must be quoted strings",
        3,
        "administrator.accountId",
    ),
    (
        "id as float",
        member("  - accountId: 1.2e11", "    email: a+1@example.com"),
        "account IDs must be quoted strings",
        15,
        "members[2].accountId",
    ),
    (
        "id as boolean",
        member("  - accountId: true", "    email: a+1@example.com"),
        "expected a string, not true",
        15,
        "members[2].accountId",
    ),
    # duplicates and the administrator
    (
        "duplicate member",
        member('  - accountId: "222222222222"', "    email: aws+222@example.com"),
        "listed twice (first at members[0].accountId, line 11)",
        15,
        "members[2].accountId",
    ),
    (
        "administrator as member",
        member('  - accountId: "111111111111"', "    email: a@example.com"),
        "this is the administrator account",
        15,
        "members[2].accountId",
    ),
    (
        "duplicate region",
        edit("[us-east-1, eu-west-1]", "[us-east-1, eu-west-1, us-east-1]"),
        "region us-east-1 is listed twice",
        4,
        "regions[2]",
    ),
    (
        "duplicate key",
        edit("version: 1\n", "version: 1\nversion: 1\n"),
        "duplicate key 'version' (first set on line 1)",
        2,
        "version",
    ),
    # emails
    (
        "guardduty member without email",
        member('  - accountId: "444444444444"'),
        "an email is required for a GuardDuty member",
        15,
        "members[2]",
    ),
    (
        "invalid email",
        member('  - accountId: "444444444444"', "    email: nope"),
        "an email must be 6 to 64 characters long, not 4",
        16,
        "members[2].email",
    ),
    (
        "invalid email, securityhub only",
        member(
            '  - accountId: "444444444444"', "    services: [securityhub]", "    email: a@b@c.de"
        ),
        "exactly one @",
        17,
        "members[2].email",
    ),
    # services
    (
        "unknown service",
        edit("  securityhub:\n", "  macie:\n"),
        "unknown service 'macie'",
        8,
        "services.macie",
    ),
    (
        "member service not top-level",
        edit("  securityhub:\n    mode: organization\n", "")
        + '  - accountId: "444444444444"\n    email: a+4@example.com\n    services: [securityhub]\n',
        "securityhub is not under the top-level services (guardduty)",
        15,
        "members[2].services[0]",
    ),
    (
        "empty services",
        edit(
            "services:\n  guardduty:\n    mode: organization\n  securityhub:\n    mode: organization\n",
            "services: {}\n",
        ),
        "at least one service is required",
        5,
        "services",
    ),
    (
        "mode unknown",
        edit("    mode: organization\n  securityhub", "    mode: org\n  securityhub"),
        "expected 'organization' or 'invitation', not 'org'",
        7,
        "services.guardduty.mode",
    ),
    (
        "invitation in organization mode",
        edit(
            "    mode: organization\n  securityhub",
            "    mode: organization\n    invitation: {reinvite: true}\n  securityhub",
        ),
        "invitation settings apply only in invitation mode",
        8,
        "services.guardduty.invitation",
    ),
    (
        "securityhub message",
        edit(
            "  securityhub:\n    mode: organization\n",
            "  securityhub:\n    mode: invitation\n    invitation:\n      message: hi\n",
        ),
        "message is GuardDuty/Detective-only",
        11,
        "services.securityhub.invitation.message",
    ),
    (
        "securityhub disableEmailNotification",
        edit(
            "  securityhub:\n    mode: organization\n",
            "  securityhub:\n    mode: invitation\n    invitation: {disableEmailNotification: true}\n",
        ),
        "disableEmailNotification is GuardDuty/Detective-only",
        10,
        "services.securityhub.invitation.disableEmailNotification",
    ),
    # regions
    (
        "unknown region",
        edit("eu-west-1]", "eu-west-7]"),
        "unknown region 'eu-west-7'",
        4,
        "regions[1]",
    ),
    ("empty regions", edit("[us-east-1, eu-west-1]", "[]"), "must not be empty", 4, "regions"),
    (
        "mixed partitions",
        edit("eu-west-1]", "us-gov-west-1]"),
        "us-gov-west-1 is in partition aws-us-gov but us-east-1 is in aws",
        4,
        "regions[1]",
    ),
    (
        "region without the service",
        edit("[us-east-1, eu-west-1]", "[us-isob-west-1]").replace(
            "  securityhub:\n    mode: organization\n", ""
        ),
        "GuardDuty is not available in us-isob-west-1",
        4,
        "regions[0]",
    ),
    (
        "member region not top-level",
        member(
            '  - accountId: "444444444444"',
            "    email: a+4@example.com",
            "    regions: [ap-south-1]",
        ),
        "ap-south-1 is not one of the top-level regions",
        17,
        "members[2].regions[0]",
    ),
    # role ARNs
    (
        "role ARN not a role",
        edit('"111111111111"\n', '"111111111111"\n  roleArn: arn:aws:iam::111111111111:policy/x\n'),
        "expected an IAM role ARN",
        4,
        "administrator.roleArn",
    ),
    (
        "role ARN other account",
        edit('"111111111111"\n', '"111111111111"\n  roleArn: arn:aws:iam::222222222222:role/x\n'),
        "belongs to account 222222222222, not to the administrator account",
        4,
        "administrator.roleArn",
    ),
    (
        "role ARN other partition",
        edit(
            '"111111111111"\n', '"111111111111"\n  roleArn: arn:aws-cn:iam::111111111111:role/x\n'
        ),
        "the role is in partition aws-cn but the regions are in aws",
        4,
        "administrator.roleArn",
    ),
    # version and top level
    ("version 2", edit("version: 1", "version: 2"), "unsupported manifest version 2", 1, "version"),
    ("version missing", edit("version: 1\n", ""), "version is missing", 1, "version"),
    (
        "unknown top-level key",
        extra("dryRun: true\n"),
        "unknown key 'dryRun'; allowed here: version, administrator",
        15,
        "dryRun",
    ),
    (
        "unknown member key",
        member('  - accountId: "444444444444"', "    mail: a@example.com"),
        "unknown key 'mail' (did you mean email?)",
        16,
        "members[2].mail",
    ),
    # prune and membersFrom
    (
        "maxDeletions negative",
        extra("prune: {maxDeletions: -5}\n"),
        "must be 0 or more",
        15,
        "prune.maxDeletions",
    ),
    (
        "protected account bad",
        extra('prune: {protectedAccounts: ["12"]}\n'),
        "this one has 2",
        15,
        "prune.protectedAccounts[0]",
    ),
    (
        "ou bad",
        extra("membersFrom: {organization: {ous: [ou-1234-5678]}}\n"),
        "expected an organizational unit ID",
        15,
        "membersFrom.organization.ous[0]",
    ),
    (
        "exclude bad",
        extra('membersFrom: {organization: {exclude: ["x"]}}\n'),
        "exactly 12 digits",
        15,
        "membersFrom.organization.exclude[0]",
    ),
    (
        "wrong type",
        extra("prune: {enabled: 1}\n"),
        "expected true or false, not the number 1",
        15,
        "prune.enabled",
    ),
]


@pytest.mark.parametrize(
    ("text", "reason", "line", "field"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused(
    text: str,
    reason: str,
    line: int | None,
    field: str | None,
    write: WriteManifest,
    catalog: RegionCatalog,
) -> None:
    path = write(text)
    with pytest.raises(ManifestError) as info:
        load_manifest(path, catalog=catalog)
    error = info.value
    message = str(error)
    assert reason in message
    assert error.path == str(path)
    assert error.line == line
    assert error.field == field
    where = f"{path}:{line}" if line is not None else str(path)
    assert message.startswith(where + ("," if field else ":"))
    if field:
        assert f"field {field}" in message
    assert "\n" not in message


ACCEPTED: list[tuple[str, str]] = [
    ("the base manifest", BASE),
    (
        "an ID with a leading zero, quoted",
        member('  - accountId: "012345678901"', "    email: a+0@example.com"),
    ),
    (
        "an ID quoted with single quotes",
        member("  - accountId: '012345678901'", "    email: a+0@example.com"),
    ),
    (
        "an ID tagged !!str",
        member("  - accountId: !!str 012345678901", "    email: a+0@example.com"),
    ),
    (
        "a Security Hub-only member needs no email",
        member('  - accountId: "444444444444"', "    services: [securityhub]"),
    ),
    (
        "a member in one region",
        member(
            '  - accountId: "444444444444"',
            "    email: a+4@example.com",
            "    regions: [eu-west-1]",
        ),
    ),
    ("an email of 6 characters", member('  - accountId: "444444444444"', "    email: a@b.cd")),
    (
        "an email of 64 characters",
        member('  - accountId: "444444444444"', f"    email: {'a' * 52}@example.com"),
    ),
    (
        "an email with every allowed symbol",
        member(
            '  - accountId: "444444444444"', '    email: "a!#$*+-/=?^_`{}~;.z@sub-1.example.com"'
        ),
    ),
    (
        "invitation mode with every option",
        edit(
            "  guardduty:\n    mode: organization\n",
            "  guardduty:\n    mode: invitation\n    invitation:\n      message: Hello\n"
            "      disableEmailNotification: true\n      reinvite: true\n      accept:\n"
            "        roleName: team/Accept\n        createMemberDetector: true\n",
        ),
    ),
    (
        "an empty invitation block",
        edit(
            "  guardduty:\n    mode: organization\n",
            "  guardduty:\n    mode: invitation\n    invitation: {}\n",
        ),
    ),
    (
        "a role ARN with a path",
        edit(
            '"111111111111"\n', '"111111111111"\n  roleArn: arn:aws:iam::111111111111:role/a/b/R\n'
        ),
    ),
    (
        "GovCloud regions with a GovCloud role",
        edit(
            '"111111111111"\n',
            '"111111111111"\n  roleArn: arn:aws-us-gov:iam::111111111111:role/R\n',
        ).replace("[us-east-1, eu-west-1]", "[us-gov-west-1, us-gov-east-1]"),
    ),
    ("China regions", edit("[us-east-1, eu-west-1]", "[cn-north-1, cn-northwest-1]")),
    ("an empty members list", edit(BASE[MEMBERS_AT:], "members: []\n")),
    ("no members at all", edit(BASE[MEMBERS_AT:], "")),
    (
        "prune and membersFrom",
        extra(
            'prune:\n  enabled: true\n  maxDeletions: 0\n  protectedAccounts: ["999999999999"]\n'
            "membersFrom:\n  organization:\n    ous: [ou-ab12-22222222, ou-ab12-33333333]\n"
            '    recursive: false\n    exclude: ["777777777777"]\n'
            "    roleArn: arn:aws:iam::999999999999:role/OrgReader\n"
        ),
    ),
    ("membersFrom for the whole organization", extra("membersFrom: {organization: {}}\n")),
    ("a YAML document marker and end marker", "---\n" + BASE + "...\n"),
    ("a byte-order mark", "\ufeff" + BASE),
    ("Windows line ends", BASE.replace("\n", "\r\n")),
    (
        "JSON, which is YAML",
        '{"version": 1, "administrator": {"accountId": "111111111111"},'
        ' "regions": ["us-east-1"], "services": {"securityhub": {"mode": "organization"}}}',
    ),
]


@pytest.mark.parametrize("text", [case[1] for case in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted(text: str, write: WriteManifest, catalog: RegionCatalog) -> None:
    manifest = load_manifest(write(text), catalog=catalog)
    assert manifest.administrator_account_id == "111111111111"


def test_the_manifest_holds_every_setting(write: WriteManifest, catalog: RegionCatalog) -> None:
    text = edit(
        "  guardduty:\n    mode: organization\n",
        "  guardduty:\n    mode: invitation\n    invitation:\n      message: Hello\n"
        "      disableEmailNotification: true\n      reinvite: true\n      accept:\n"
        "        roleName: Accept\n        createMemberDetector: true\n",
    ) + (
        'prune: {enabled: true, maxDeletions: 3, protectedAccounts: ["999999999999"]}\n'
        "membersFrom:\n  organization:\n    ous: [ou-ab12-22222222]\n    recursive: false\n"
        '    exclude: ["777777777777"]\n    roleArn: arn:aws:iam::999999999999:role/R\n'
    )
    manifest = load_manifest(write(text), catalog=catalog)
    guardduty = manifest.services[Service("guardduty")]
    assert guardduty.mode is Mode.INVITATION
    assert guardduty.invitation.message == "Hello"
    assert guardduty.invitation.disable_email_notification is True
    assert guardduty.reinvite is True
    assert guardduty.accept is not None
    assert (guardduty.accept.role_name, guardduty.accept.create_member_detector) == ("Accept", True)
    securityhub = manifest.services[Service("securityhub")]
    assert (securityhub.mode, securityhub.accept, securityhub.reinvite) == (
        Mode.ORGANIZATION,
        None,
        False,
    )
    assert manifest.prune.enabled is True
    assert manifest.prune.max_deletions == 3
    assert manifest.prune.protected_accounts == frozenset({"999999999999"})
    org = manifest.members_from
    assert org is not None
    assert org.ous == ("ou-ab12-22222222",)
    assert org.recursive is False
    assert org.exclude == frozenset({"777777777777"})
    assert org.role_arn == "arn:aws:iam::999999999999:role/R"
    assert manifest.partition == "aws"
    assert manifest.regions == ("us-east-1", "eu-west-1")
    assert [m.account_id for m in manifest.members] == ["222222222222", "333333333333"]


def test_defaults(write: WriteManifest, catalog: RegionCatalog) -> None:
    manifest = load_manifest(write(BASE), catalog=catalog)
    assert manifest.members_from is None
    assert manifest.prune.enabled is False
    assert manifest.prune.max_deletions == 10
    assert manifest.prune.protected_accounts == frozenset()
    assert manifest.administrator_role_arn is None
    first = manifest.members[0]
    assert first.services == frozenset({Service("guardduty"), Service("securityhub")})
    assert first.regions == frozenset({"us-east-1", "eu-west-1"})
    accept_default = edit(
        "  guardduty:\n    mode: organization\n",
        "  guardduty:\n    mode: invitation\n    invitation: {accept: {}}\n",
    )
    accept = load_manifest(write(accept_default), catalog=catalog).services[Service("guardduty")]
    assert accept.accept is not None
    assert accept.accept.role_name == "OrganizationAccountAccessRole"
    assert accept.accept.create_member_detector is False


def _many_members(count: int, service: str) -> str:
    lines = [f'  - accountId: "{200000000000 + n:012d}"' for n in range(count)]
    return (
        'version: 1\nadministrator: {accountId: "111111111111"}\nregions: [us-east-1]\n'
        f"services:\n  {service}:\n    mode: invitation\nmembers:\n"
        + "".join(f"{line}\n    email: aws+{n}@example.com\n" for n, line in enumerate(lines))
    )


def test_security_hub_invitation_quota(write: WriteManifest, catalog: RegionCatalog) -> None:
    load_manifest(write(_many_members(1000, "securityhub")), catalog=catalog)
    with pytest.raises(ManifestError) as info:
        load_manifest(write(_many_members(1001, "securityhub")), catalog=catalog)
    error = info.value
    assert "1,001 Security Hub members in us-east-1 exceed its quota of 1,000 invitation" in str(
        error
    )
    assert error.field == "members[1000].accountId"
    assert error.line == 8 + 2 * 1000


def test_guardduty_takes_more_invitation_members(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    manifest = load_manifest(write(_many_members(1001, "guardduty")), catalog=catalog)
    assert len(manifest.members) == 1001


def test_missing_path(tmp_path: Path, catalog: RegionCatalog) -> None:
    with pytest.raises(ManifestError, match="no such manifest file or directory"):
        load_manifest(tmp_path / "nope.yaml", catalog=catalog)


def test_path_is_kept_as_given(write: WriteManifest, catalog: RegionCatalog) -> None:
    path = write(BASE)
    assert load_manifest(str(path), catalog=catalog).source == str(path)
    assert load_manifest(path, catalog=catalog).files == (str(path),)
